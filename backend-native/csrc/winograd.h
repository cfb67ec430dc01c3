// winograd.h: Winograd F(2x2, 3x3) convolutions for the 3x3, stride-1, pad-1 layers that make up
// most of ResNet-18 and `small`: the forward pass (and so the stride-1 input gradient, which is a
// forward convolution), and the filter gradient. Part of the unity build: conv.h includes it, so
// it shares the Conv geometry, the tile macros and the GEMM micro-kernels.
//
// Each 2x2 block of output pixels ("tile") is computed from its 4x4 input window d and a filter
// g as Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A (Lavin & Gray 2015): 16 products per tile and channel pair
// instead of 36. Summed over input channels, the 16 elementwise products are 16 GEMMs
// M[pos] = V[pos] · U[pos] ([tiles x cin] · [cin x cout]), so 2.25x fewer FLOPs go through the
// micro-kernel; the transforms are additions (and halvings in G) done once per tile and channel.
// The filter gradient is the same bilinear form transposed: dW = Gᵀ[Σ_tiles (Bᵀ d B) ⊙
// (A dy Aᵀ)]G, 16 GEMMs whose reduction axis is the tiles.
//
// Numerics: the transforms' coefficients are 0, ±1 and ±1/2, so rounding stays at a few ulps of
// the inputs' magnitude (F(4x4, 3x3) and larger tiles lose digits; they are not used). Products
// accumulate in float inside the micro-kernel, as in the direct path; the filter gradient sums
// 128-tile (512-pixel) float partials in double, as the other filter-gradient paths do.

/** Input channels per GEMM K-block at most (a B strip of 256 x NR stays in L1). */
#define WINO_CMAX 256

/** Zeros that window pixels outside the image point at (channels at most WINO_ZEROS). */
#define WINO_ZEROS 4096
alignas(64) static const float g_wino_zeros[WINO_ZEROS] = {};

/** Whether the Winograd path computes this convolution: 3x3, stride 1, "same" padding. */
static inline bool winograd_ok(const Conv& g) {
  return g.kH == 3 && g.kW == 3 && g.stride == 1 && g.padH == 1 && g.padW == 1 &&
         g.outH == g.inH && g.outW == g.inW && g.inC >= 16 && g.outC >= 16 &&
         g.inC <= WINO_ZEROS && g.outC <= WINO_ZEROS;
}

/** One vector of floats or a single float, so that the transforms serve the channel tails too. */
template <class V>
static inline V wino_load(const float* p) {
  V v;
  memcpy(&v, p, sizeof v);
  return v;
}
template <class V>
static inline void wino_store(float* p, const V& v) {
  memcpy(p, &v, sizeof v);
}

/**
 * v = Bᵀ d B (B of the points 0, 1, -1 and ∞) for channels [c, c + |V|) of a 4x4 window whose
 * pixel k (row-major) is src[k]; v[k] is stored at dst + k·kstride + c. One row of Bᵀd at a time
 * (8 live vectors): computing all 16 at once spilled registers and took a third of the time.
 */
template <class V>
static inline __attribute__((always_inline)) void wino_input_transform(const float* const* src,
                                                                       int c, float* dst,
                                                                       i64 kstride) {
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) {
    // Row i of Bᵀ d: d0 - d2, d1 + d2, d2 - d1, d1 - d3.
    const int ra = i == 0 ? 0 : i == 2 ? 2 : 1, rb = i == 0 ? 2 : i == 2 ? 1 : i == 1 ? 2 : 3;
    V t[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
      const V a = wino_load<V>(src[4 * ra + j] + c), b = wino_load<V>(src[4 * rb + j] + c);
      t[j] = i == 1 ? a + b : a - b;
    }
    float* o = dst + (i64)(4 * i) * kstride + c;
    wino_store(o, t[0] - t[2]);
    wino_store(o + kstride, t[1] + t[2]);
    wino_store(o + 2 * kstride, t[2] - t[1]);
    wino_store(o + 3 * kstride, t[1] - t[3]);
  }
}

/**
 * y = Aᵀ m A for channels [c, c + |V|): m[k] at m + k·kstride + c, the 2x2 output tile's pixel i
 * (row-major) stored at out[i] + c.
 */
template <class V>
static inline __attribute__((always_inline)) void wino_output_transform(const float* m, i64 kstride,
                                                                        int c, float* const* out) {
  V t0[4], t1[4];  // rows of Aᵀ m: m0 + m1 + m2, m1 - m2 - m3
#pragma GCC unroll 4
  for (int j = 0; j < 4; j++) {
    const V m0 = wino_load<V>(m + (i64)j * kstride + c);
    const V m1 = wino_load<V>(m + (i64)(4 + j) * kstride + c);
    const V m2 = wino_load<V>(m + (i64)(8 + j) * kstride + c);
    const V m3 = wino_load<V>(m + (i64)(12 + j) * kstride + c);
    t0[j] = m0 + m1 + m2;
    t1[j] = m1 - m2 - m3;
  }
  wino_store(out[0] + c, t0[0] + t0[1] + t0[2]);
  wino_store(out[1] + c, t0[1] - t0[2] - t0[3]);
  wino_store(out[2] + c, t1[0] + t1[1] + t1[2]);
  wino_store(out[3] + c, t1[1] - t1[2] - t1[3]);
}

/**
 * w = A e Aᵀ for channels [c, c + |V|) of a 2x2 output-gradient tile whose pixel i is src[i];
 * w[k] stored at dst + k·kstride (+ c where the caller's layout wants it).
 */
template <class V>
static inline __attribute__((always_inline)) void wino_grad_transform(const float* const* src,
                                                                      int c, float* dst,
                                                                      i64 kstride) {
  const V e0 = wino_load<V>(src[0] + c), e1 = wino_load<V>(src[1] + c);
  const V e2 = wino_load<V>(src[2] + c), e3 = wino_load<V>(src[3] + c);
  // Rows of A e (4 x 2): e_top, e_top + e_bottom, e_top - e_bottom, -e_bottom.
  const V r[8] = {e0, e1, e0 + e2, e1 + e3, e0 - e2, e1 - e3, -e2, -e3};
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) {
    const V a = r[2 * i], b = r[2 * i + 1];
    float* o = dst + (i64)(4 * i) * kstride;
    wino_store(o, a);
    wino_store(o + kstride, a + b);
    wino_store(o + 2 * kstride, a - b);
    wino_store(o + 3 * kstride, -b);
  }
}

/**
 * The distance in floats between the 16 positions' planes of a buffer of n floats each: n
 * rounded up to a cache line, plus one. Planes exactly 32 KiB apart (the filter gradient's W at
 * 64 output channels) put the 16 store streams of a transform in one L1 set; the transforms then
 * took 40% of that layer's filter gradient.
 */
static inline i64 wino_plane(i64 n) { return (n + 15) / 16 * 16 + 16; }

/** The 2x2 output tiles of a convolution: tile t = (b, ty, tx) row-major. */
struct WinoTiles {
  int th, tw, perImage, total;
};

static inline WinoTiles wino_tiles(const Conv& g) {
  WinoTiles t;
  t.th = (g.outH + 1) / 2;
  t.tw = (g.outW + 1) / 2;
  t.perImage = t.th * t.tw;
  t.total = g.batch * t.perImage;
  return t;
}

/**
 * The 16 pixel pointers (row-major) of tile t's 4x4 input window of NHWC x, which starts one
 * pixel above and left of the tile; pixels outside the image point at zeros.
 */
static inline void wino_window(const float* x, const Conv& g, const WinoTiles& tl, int t,
                               const float** src) {
  const int b = t / tl.perImage, r = t % tl.perImage;
  const int iy0 = 2 * (r / tl.tw) - 1, ix0 = 2 * (r % tl.tw) - 1;
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
      const int iy = iy0 + i, ix = ix0 + j;
      src[4 * i + j] = ((unsigned)iy < (unsigned)g.inH && (unsigned)ix < (unsigned)g.inW)
                           ? x + (((i64)b * g.inH + iy) * g.inW + ix) * g.inC
                           : g_wino_zeros;
    }
}

/**
 * The 4 pixel pointers (row-major) of tile t's 2x2 block of an NHWC tensor of `ch` channels with
 * the output's height and width; pixels beyond the image (odd sizes) point at `outside`.
 */
template <class P>
static inline void wino_block(P* base, const Conv& g, const WinoTiles& tl, int t, int ch,
                              P* outside, P** px) {
  const int b = t / tl.perImage, r = t % tl.perImage;
  const int oy = 2 * (r / tl.tw), ox = 2 * (r % tl.tw);
  for (int i = 0; i < 4; i++) {
    const int yy = oy + i / 2, xx = ox + i % 2;
    px[i] = yy < g.outH && xx < g.outW ? base + (((i64)b * g.outH + yy) * g.outW + xx) * ch
                                       : outside;
  }
}

/**
 * C[MR x NR] (+)= A · B over kc steps, B a packed NR-strip and A read in place: element (i, p)
 * at A[i·row + p·step]. The forward pass reads tiles x channels rows (step 1); the filter
 * gradient reads channels down tiles (row 1, step = the row length). The transformed tiles are
 * written once and read once per NR-strip, so packing them would only copy.
 */
static __attribute__((noinline)) void wino_kernel(int kc, const float* __restrict A, i64 row,
                                                  i64 step, const float* __restrict B,
                                                  float* __restrict C, i64 ldc, bool acc) {
  vf c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++) {
    c0[i] = (vf){};
    c1[i] = (vf){};
  }
  for (int p = 0; p < kc; p++) {
    const vf b0 = ((const vf*)B)[0];
    const vf b1 = ((const vf*)B)[1];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const float a = A[i * row];
      c0[i] += a * b0;
      c1[i] += a * b1;
    }
    A += step;
    B += NR;
  }
  store_tile(c0, c1, C, ldc, acc);
}

/**
 * y = conv(x, w) for winograd_ok convolutions; w a strided [9·inC, outC] view (HWIO when wrs =
 * outC, wcs = 1). U = G g Gᵀ is packed once as 16 [inC x outC] B panels (NR-strips, channel
 * blocks of at most WINO_CMAX rows). Threads take chunks of tiles: transform the chunk's input
 * (V: 16 x tiles x inC, row-major), run the 16 GEMMs into M (16 x tiles x a block of output
 * channels), and transform M back into output pixels.
 */
static void conv_forward_winograd(const float* x, const float* w, i64 wrs, i64 wcs, float* y,
                                  const Conv& g) {
  const int C = g.inC, N = g.outC;
  const WinoTiles tl = wino_tiles(g);
  if (tl.total == 0 || N == 0) return;
  const int Npad = round_up(N, NR);
  const int ncb = (C + WINO_CMAX - 1) / WINO_CMAX, clen = (C + ncb - 1) / ncb;
  // Output-channel block NB and tiles per chunk T: V (16 x T x C) and M (16 x T x NB) together
  // about a quarter of L2, unless U is too large to stay in L3 (16 x 512 x 512 floats, ResNet's
  // last stage), where each chunk reads all of U once and so needs more tiles to reuse it.
  // Measured on the Zen 3 EPYC, one thread, batch 128: 32x32x64 runs best at 12-24 tiles
  // (57 ms; 64 ms at 48-96), 4x4x512 at 72-96 (73 ms; 94-125 ms at 6).
  const int NB = std::min(Npad, 8 * NR);
  const bool bigU = 64.0 * C * Npad > (8 << 20);
  const int T = bigU ? 12 * MR
                     : std::max(MR, std::min(16 * MR, (128 << 10) / (64 * (C + NB)) / MR * MR));
  const int nchunks = (tl.total + T - 1) / T;
  float* Up = shared_buf(0, (size_t)16 * C * Npad);
  const int nt = std::min(threads_for(8.0 * tl.total * (double)C * N, 4e6), nchunks);
#pragma omp parallel num_threads(nt)
  {
    // U[pos] for (input channel, output strip) pairs: block cb's strip s at c0·Npad + s·cl·NR.
#pragma omp for schedule(static)
    for (int q = 0; q < C * (Npad / NR); q++) {
      const int c = q / (Npad / NR), s = q % (Npad / NR), cb = c / clen;
      const int c0 = cb * clen, cl = std::min(clen, C - c0);
      for (int j = 0; j < NR; j++) {
        const int co = s * NR + j;
        float u[16];
        if (co >= N) {
          for (int k = 0; k < 16; k++) u[k] = 0.0f;
        } else {
          float gg[9], t[12];
          for (int k = 0; k < 9; k++) gg[k] = w[((i64)k * C + c) * wrs + (i64)co * wcs];
          for (int j2 = 0; j2 < 3; j2++) {  // rows: G g (4 x 3)
            t[j2] = gg[j2];
            t[3 + j2] = 0.5f * (gg[j2] + gg[3 + j2] + gg[6 + j2]);
            t[6 + j2] = 0.5f * (gg[j2] - gg[3 + j2] + gg[6 + j2]);
            t[9 + j2] = gg[6 + j2];
          }
          for (int i = 0; i < 4; i++) {  // columns: (G g) Gᵀ
            const float* r = t + 3 * i;
            u[4 * i + 0] = r[0];
            u[4 * i + 1] = 0.5f * (r[0] + r[1] + r[2]);
            u[4 * i + 2] = 0.5f * (r[0] - r[1] + r[2]);
            u[4 * i + 3] = r[2];
          }
        }
        for (int k = 0; k < 16; k++)
          Up[(i64)k * C * Npad + (i64)c0 * Npad + ((i64)s * cl + (c - c0)) * NR + j] = u[k];
      }
    }
    const i64 vplane = wino_plane((i64)T * C), mplane = wino_plane((i64)T * NB);
    float* V = scratch(0, (size_t)(16 * vplane));
    float* M = scratch(1, (size_t)(16 * mplane));
    float* sink = scratch(2, NB);  // where the pixels beyond an odd-sized image go
#pragma omp for schedule(dynamic)
    for (int ch = 0; ch < nchunks; ch++) {
      const int t0 = ch * T, nT = std::min(T, tl.total - t0), nTpad = round_up(nT, MR);
      for (int ti = 0; ti < nT; ti++) {
        const float* src[16];
        wino_window(x, g, tl, t0 + ti, src);
        float* dst = V + (i64)ti * C;
        int c = 0;
        for (; c + VL <= C; c += VL) wino_input_transform<vf>(src, c, dst, vplane);
        for (; c < C; c++) wino_input_transform<float>(src, c, dst, vplane);
      }
      for (int k = 0; k < 16; k++)
        for (int ti = nT; ti < nTpad; ti++) memset(V + k * vplane + (i64)ti * C, 0, C * 4);
      for (int n0 = 0; n0 < Npad; n0 += NB) {
        const int nb = std::min(NB, Npad - n0);
        for (int cb = 0; cb < ncb; cb++) {
          const int c0 = cb * clen, cl = std::min(clen, C - c0);
          for (int k = 0; k < 16; k++) {
            const float* Vk = V + k * vplane + c0;
            float* Mk = M + k * mplane;
            const float* Uk = Up + (i64)k * C * Npad + (i64)c0 * Npad;
            for (int s = 0; s < nb / NR; s++) {
              const float* Bs = Uk + (i64)(n0 / NR + s) * cl * NR;
              for (int ti = 0; ti < nTpad; ti += MR)
                wino_kernel(cl, Vk + (i64)ti * C, C, 1, Bs, Mk + (i64)ti * NB + s * NR, NB,
                            cb > 0);
            }
          }
        }
        // Output transform of channels [n0, n0 + ncols) of the chunk's tiles.
        const int ncols = std::min(nb, N - n0);
        for (int ti = 0; ti < nT; ti++) {
          float* out[4];
          wino_block(y + n0, g, tl, t0 + ti, N, sink, out);
          const float* m = M + (i64)ti * NB;
          int j = 0;
          for (; j + VL <= ncols; j += VL) wino_output_transform<vf>(m, mplane, j, out);
          for (; j < ncols; j++) wino_output_transform<float>(m, mplane, j, out);
        }
      }
    }
  }
}

/**
 * dw = ∂conv/∂w for winograd_ok convolutions: dw = Gᵀ[Σ_tiles V ⊙ W]G with V = Bᵀ d B of the
 * input windows and W = A e Aᵀ of the output-gradient tiles. Tiles go in chunks of 128: all
 * threads transform a chunk (V row-major, read in place as the A side; W as NR-wide packed B
 * strips), then each thread runs the GEMMs of the (position, input-channel strip) pairs it
 * owns and adds the chunk's float sums to its double totals. The totals are transformed back
 * at the end.
 */
static void conv_grad_filter_winograd(const float* x, const float* dy, float* dw, const Conv& g) {
  const int C = g.inC, N = g.outC;
  const WinoTiles tl = wino_tiles(g);
  const int Cpad = round_up(C, MR), Npad = round_up(N, NR);
  const int mstrips = Cpad / MR, nstrips = Npad / NR;
  // Tiles per chunk: 512 pixels summed in float. 128 against 256 on the Zen 3 EPYC, one
  // thread, batch 128: 16x16x128 64 vs 77 ms, 8x8x256 63 vs 77, 4x4x512 73 vs 81; 32x32x64 even.
  constexpr int TC = 128;
  const int nchunks = (tl.total + TC - 1) / TC;
  // V: 16 planes [TC][Cpad] (row-major); Wb: 16 planes [nstrips][TC][NR]; totals:
  // [16][Cpad][Npad].
  const i64 vplane = wino_plane((i64)TC * Cpad), wplane = wino_plane((i64)TC * Npad);
  float* V = shared_buf(0, (size_t)(16 * vplane));
  float* Wb = shared_buf(1, (size_t)(16 * wplane));
  double* total = (double*)shared_buf(2, (size_t)16 * Cpad * Npad * 2);
  const int tasks = 16 * mstrips;
  const int nt = std::min(threads_for(8.0 * tl.total * (double)C * N, 4e6), tasks);
#pragma omp parallel num_threads(nt)
  {
    float* tile = scratch(2, (size_t)MR * NR);
    for (int ch = 0; ch < nchunks; ch++) {
      const int t0 = ch * TC, nT = std::min(TC, tl.total - t0);
#pragma omp for schedule(static)
      for (int ti = 0; ti < nT; ti++) {
        const int t = t0 + ti;
        const float* src[16];
        wino_window(x, g, tl, t, src);
        float* dv = V + (i64)ti * Cpad;
        int c = 0;
        for (; c + VL <= C; c += VL) wino_input_transform<vf>(src, c, dv, vplane);
        for (; c < C; c++) wino_input_transform<float>(src, c, dv, vplane);
        // Channels C..Cpad stay unwritten: they only feed rows of M that are never read.
        const float* e[4];
        wino_block(dy, g, tl, t, N, (const float*)g_wino_zeros, e);
        int co = 0;
        for (; co + VL <= N; co += VL)
          wino_grad_transform<vf>(e, co, Wb + ((i64)(co / NR) * TC + ti) * NR + co % NR,
                                  wplane);
        for (; co < Npad; co++) {
          const float* ez[4];
          for (int i = 0; i < 4; i++) ez[i] = co < N ? e[i] : g_wino_zeros;
          wino_grad_transform<float>(ez, co < N ? co : 0, Wb + ((i64)(co / NR) * TC + ti) * NR +
                                                              co % NR,
                                     wplane);
        }
      }
      // (implicit barrier) The GEMMs: task = (position k, input-channel strip m), all of N.
#pragma omp for schedule(static)
      for (int q = 0; q < tasks; q++) {
        const int k = q / mstrips, m = q % mstrips;
        const float* As = V + k * vplane + m * MR;
        double* tot = total + ((i64)k * Cpad + (i64)m * MR) * Npad;
        for (int s = 0; s < nstrips; s++) {
          wino_kernel(nT, As, 1, Cpad, Wb + k * wplane + (i64)s * TC * NR, tile, NR, false);
          for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) {
              double& d = tot[(i64)i * Npad + s * NR + j];
              d = ch == 0 ? tile[i * NR + j] : d + tile[i * NR + j];
            }
        }
      }
    }
    // dw[ky][kx][c][co] = (Gᵀ M G)[ky][kx], M the totals of (c, co).
#pragma omp for schedule(static)
    for (int c = 0; c < C; c++)
      for (int co = 0; co < N; co++) {
        double mv[16], t[12];
        for (int k = 0; k < 16; k++) mv[k] = total[((i64)k * Cpad + c) * Npad + co];
        for (int j = 0; j < 4; j++) {  // rows: Gᵀ M (3 x 4)
          t[j] = mv[j] + 0.5 * (mv[4 + j] + mv[8 + j]);
          t[4 + j] = 0.5 * (mv[4 + j] - mv[8 + j]);
          t[8 + j] = 0.5 * (mv[4 + j] + mv[8 + j]) + mv[12 + j];
        }
        for (int i = 0; i < 3; i++) {  // columns: (Gᵀ M) G
          const double* r = t + 4 * i;
          const double o[3] = {r[0] + 0.5 * (r[1] + r[2]), 0.5 * (r[1] - r[2]),
                               0.5 * (r[1] + r[2]) + r[3]};
          for (int j = 0; j < 3; j++) dw[((i64)(3 * i + j) * C + c) * N + co] = (float)o[j];
        }
      }
  }
}
