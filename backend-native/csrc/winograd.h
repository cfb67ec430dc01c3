// winograd.h: Winograd convolutions F(2x2, 3x3) and F(4x4, 3x3) for the 3x3, stride-1, pad-1
// layers that make up most of ResNet-18 and `small`: the forward pass (and so the stride-1 input
// gradient, which is a forward convolution), and the filter gradient. Part of the unity build:
// conv.h includes it, so it shares the Conv geometry, the tile macros and the GEMM micro-kernels.
//
// Each m x m block of output pixels ("tile") is computed from its (m+2) x (m+2) input window d
// and a filter g as Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A (Lavin & Gray 2015): (m+2)² products per tile
// and channel pair instead of 9m², 2.25x fewer for m = 2 and 4x fewer for m = 4. Summed over
// input channels, the elementwise products at each of the P = (m+2)² positions are one GEMM
// M[pos] = V[pos] · U[pos] ([tiles x cin] · [cin x cout]); the transforms are a few additions
// and multiplications by constants per tile and channel. The filter gradient is the same
// bilinear form transposed: dW = Gᵀ[Σ_tiles (Bᵀ d B) ⊙ (A dy Aᵀ)]G, P GEMMs whose reduction axis
// is the tiles.
//
// Numerics: F(2x2, 3x3)'s coefficients are 0, ±1 and ±1/2, so rounding stays at a few ulps of the
// inputs' magnitude. F(4x4, 3x3)'s reach 8 (Aᵀ) and 1/24 (G), which costs about a decimal digit:
// against the float64 reference, 0.7-3.7e-6 relative for 16-512 channels, where m = 2 gives
// 1.6-3e-7 (the kernel tolerance is 1e-5).
// Products accumulate in float inside the micro-kernel, as in the direct path; the filter
// gradient sums 128-tile float partials in double, as the other filter-gradient paths do.

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

/** The transform matrices of F(m x m, 3x3) (points 0, ±1 for m = 2; 0, ±1, ±2 for m = 4; ∞). */
template <int m>
struct Wino;
template <>
struct Wino<2> {
  static constexpr int A = 4;  // window side m + 2
  static constexpr float BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static constexpr float AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
};
template <>
struct Wino<4> {
  static constexpr int A = 6;
  static constexpr float BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0},
                                     {0, 4, -4, -1, 1, 0}, {0, -2, -1, 2, 1, 0},
                                     {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static constexpr double G[6][3] = {{1.0 / 4, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};
  static constexpr float AT[4][6] = {
      {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};

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
 * Σ_j c(j)·x(j) for j < J, where the coefficients c(j) are constants once the caller's loops are
 * unrolled: zero terms vanish (x(j), a load, is not even made) and ±1 become additions, so
 * F(2x2)'s transforms are additions only. Every transform below is rows and columns of these.
 */
template <int J, class V, class Coef, class Value>
static inline __attribute__((always_inline)) V wino_dot(Coef&& c, Value&& x) {
  V s{};
  bool set = false;
#pragma GCC unroll 8
  for (int j = 0; j < J; j++) {
    const float cj = c(j);
    if (cj == 0.0f) continue;
    const V xj = x(j);
    const V t = cj == 1.0f ? xj : cj == -1.0f ? -xj : cj * xj;
    s = set ? s + t : t;
    set = true;
  }
  return s;
}

/**
 * v = Bᵀ d B for channels [c, c + |V|) of an A x A window whose pixel k (row-major) is src[k];
 * v[k] is stored at dst + k·kstride + c. One row of Bᵀd at a time (2A live vectors): computing
 * all of them at once spilled registers and took a third of the time.
 */
template <int m, class V>
static inline __attribute__((always_inline)) void wino_input_transform(const float* const* src,
                                                                       int c, float* dst,
                                                                       i64 kstride) {
  constexpr int A = Wino<m>::A;
  constexpr auto& BT = Wino<m>::BT;
#pragma GCC unroll 8
  for (int i = 0; i < A; i++) {
    V t[A];  // row i of Bᵀ d
#pragma GCC unroll 8
    for (int j = 0; j < A; j++)
      t[j] = wino_dot<A, V>([&](int r) { return BT[i][r]; },
                            [&](int r) { return wino_load<V>(src[A * r + j] + c); });
#pragma GCC unroll 8
    for (int k = 0; k < A; k++)
      wino_store(dst + (i64)(A * i + k) * kstride + c,
                 wino_dot<A, V>([&](int j) { return BT[k][j]; }, [&](int j) { return t[j]; }));
  }
}

/**
 * y = Aᵀ M A for channels [c, c + |V|): M[k] at mm + k·kstride + c, the m x m output tile's
 * pixel i (row-major) stored at out[i] + c.
 */
template <int m, class V>
static inline __attribute__((always_inline)) void wino_output_transform(const float* mm,
                                                                        i64 kstride, int c,
                                                                        float* const* out) {
  constexpr int A = Wino<m>::A;
  constexpr auto& AT = Wino<m>::AT;
#pragma GCC unroll 4
  for (int a = 0; a < m; a++) {
    V t[A];  // row a of Aᵀ M
#pragma GCC unroll 8
    for (int j = 0; j < A; j++)
      t[j] = wino_dot<A, V>([&](int r) { return AT[a][r]; }, [&](int r) {
        return wino_load<V>(mm + (i64)(A * r + j) * kstride + c);
      });
#pragma GCC unroll 4
    for (int b = 0; b < m; b++)
      wino_store(out[m * a + b] + c,
                 wino_dot<A, V>([&](int j) { return AT[b][j]; }, [&](int j) { return t[j]; }));
  }
}

/**
 * u = G g Gᵀ for output channels [co, co + |V|) of a 3x3 filter whose tap k (row-major) holds
 * them at src + k·tap; u[k] stored at dst + k·kstride. Vectors of output channels (contiguous in
 * HWIO), because the P scattered stores per filter element dominated ResNet's last stage (512 x
 * 512 x 36 floats for F(4x4)). In float: G's rounding (1/6, 1/12, 1/24) stays near 1e-7.
 */
template <int m, class V>
static inline __attribute__((always_inline)) void wino_filter_transform(const float* src,
                                                                        i64 tap, float* dst,
                                                                        i64 kstride) {
  constexpr int A = Wino<m>::A;
  constexpr auto& G = Wino<m>::G;
  V gg[9], t[A * 3];
#pragma GCC unroll 9
  for (int k = 0; k < 9; k++) gg[k] = wino_load<V>(src + k * tap);
#pragma GCC unroll 8
  for (int i = 0; i < A; i++)  // rows: G g (A x 3)
#pragma GCC unroll 3
    for (int j = 0; j < 3; j++)
      t[3 * i + j] = wino_dot<3, V>([&](int r) { return (float)G[i][r]; },
                                    [&](int r) { return gg[3 * r + j]; });
#pragma GCC unroll 8
  for (int i = 0; i < A; i++)  // columns: (G g) Gᵀ
#pragma GCC unroll 8
    for (int k = 0; k < A; k++)
      wino_store(dst + (i64)(A * i + k) * kstride,
                 wino_dot<3, V>([&](int r) { return (float)G[k][r]; },
                                [&](int r) { return t[3 * i + r]; }));
}

/**
 * w = A e Aᵀ for channels [c, c + |V|) of an m x m output-gradient tile whose pixel i is
 * src[i]; w[k] stored at dst + k·kstride.
 */
template <int m, class V>
static inline __attribute__((always_inline)) void wino_grad_transform(const float* const* src,
                                                                      int c, float* dst,
                                                                      i64 kstride) {
  constexpr int A = Wino<m>::A;
  constexpr auto& AT = Wino<m>::AT;
  V e[m * m];
#pragma GCC unroll 16
  for (int i = 0; i < m * m; i++) e[i] = wino_load<V>(src[i] + c);
#pragma GCC unroll 8
  for (int i = 0; i < A; i++) {
    V r[m];  // row i of A e: Σ_s A[i][s] e[s][j] = Σ_s AT[s][i] e[s][j]
#pragma GCC unroll 4
    for (int j = 0; j < m; j++)
      r[j] = wino_dot<m, V>([&](int s) { return AT[s][i]; }, [&](int s) { return e[m * s + j]; });
#pragma GCC unroll 8
    for (int k = 0; k < A; k++)
      wino_store(dst + (i64)(A * i + k) * kstride,
                 wino_dot<m, V>([&](int j) { return AT[j][k]; }, [&](int j) { return r[j]; }));
  }
}

/**
 * The distance in floats between the P positions' planes of a buffer of n floats each: n
 * rounded up to a cache line, plus one. Planes exactly 32 KiB apart (the F(2x2) filter gradient's
 * W at 64 output channels) put the 16 store streams of a transform in one L1 set; the transforms
 * then took 40% of that layer's filter gradient.
 */
static inline i64 wino_plane(i64 n) { return (n + 15) / 16 * 16 + 16; }

/** The m x m output tiles of a convolution: tile t = (b, ty, tx) row-major. */
struct WinoTiles {
  int m, th, tw, perImage, total;
};

static inline WinoTiles wino_tiles(const Conv& g, int m) {
  WinoTiles t;
  t.m = m;
  t.th = (g.outH + m - 1) / m;
  t.tw = (g.outW + m - 1) / m;
  t.perImage = t.th * t.tw;
  t.total = g.batch * t.perImage;
  return t;
}

/**
 * The A x A pixel pointers (row-major) of tile t's input window of NHWC x, which starts one pixel
 * above and left of the tile; pixels outside the image point at zeros.
 */
template <int m>
static inline void wino_window(const float* x, const Conv& g, const WinoTiles& tl, int t,
                               const float** src) {
  constexpr int A = Wino<m>::A;
  const int b = t / tl.perImage, r = t % tl.perImage;
  const int iy0 = m * (r / tl.tw) - 1, ix0 = m * (r % tl.tw) - 1;
  for (int i = 0; i < A; i++)
    for (int j = 0; j < A; j++) {
      const int iy = iy0 + i, ix = ix0 + j;
      src[A * i + j] = ((unsigned)iy < (unsigned)g.inH && (unsigned)ix < (unsigned)g.inW)
                           ? x + (((i64)b * g.inH + iy) * g.inW + ix) * g.inC
                           : g_wino_zeros;
    }
}

/**
 * The m x m pixel pointers (row-major) of tile t's block of an NHWC tensor of `ch` channels with
 * the output's height and width; pixels beyond the image point at `outside`.
 */
template <int m, class P>
static inline void wino_block(P* base, const Conv& g, const WinoTiles& tl, int t, int ch,
                              P* outside, P** px) {
  const int b = t / tl.perImage, r = t % tl.perImage;
  const int oy = m * (r / tl.tw), ox = m * (r % tl.tw);
  for (int i = 0; i < m * m; i++) {
    const int yy = oy + i / m, xx = ox + i % m;
    px[i] = yy < g.outH && xx < g.outW ? base + (((i64)b * g.outH + yy) * g.outW + xx) * ch
                                       : outside;
  }
}

/**
 * gemm.h's strided_kernel, not inlined: the forward pass reads its transformed tiles as tiles x
 * channels rows (step 1), the filter gradient channels down tiles (row 1, step = the row
 * length). They are written once and read once per NR-strip, so packing them would only copy.
 */
static __attribute__((noinline)) void wino_kernel(int kc, const float* A, i64 row, i64 step,
                                                  const float* B, float* C, i64 ldc, bool acc) {
  strided_kernel(kc, A, row, step, B, C, ldc, acc);
}

/**
 * y = conv(x, w) with F(m x m, 3x3) for winograd_ok convolutions; w a strided [9·inC, outC] view
 * (HWIO when wrs = outC, wcs = 1). U = G g Gᵀ is packed once as P [inC x outC] B panels
 * (NR-strips, channel blocks of at most WINO_CMAX rows). Threads take chunks of tiles: transform
 * the chunk's input (V: P x tiles x inC, row-major), run the P GEMMs into M (P x tiles x a block
 * of output channels), and transform M back into output pixels.
 */
template <int m>
static void conv_forward_winograd(const float* x, const float* w, i64 wrs, i64 wcs, float* y,
                                  const Conv& g) {
  constexpr int A = Wino<m>::A, P = A * A;
  const int C = g.inC, N = g.outC;
  const WinoTiles tl = wino_tiles(g, m);
  if (tl.total == 0 || N == 0) return;
  const int Npad = round_up(N, NR);
  const int ncb = (C + WINO_CMAX - 1) / WINO_CMAX, clen = (C + ncb - 1) / ncb;
  // Output-channel block NB and tiles per chunk T: V (P x T x C) and M (P x T x NB) together
  // about a quarter of L2, unless U is too large to stay in L3 (P x 512 x 512 floats, ResNet's
  // last stage), where each chunk reads all of U once and so needs more tiles to reuse it.
  // Measured with F(2x2) on the Zen 3 EPYC, one thread, batch 128: 32x32x64 runs best at 12-24
  // tiles (57 ms; 64 ms at 48-96), 4x4x512 at 72-96 (73 ms; 94-125 ms at 6).
  const int NB = std::min(Npad, 8 * NR);
  const bool bigU = 4.0 * P * C * Npad > (8 << 20);
  const int T = bigU ? 12 * MR
                     : std::max(MR, std::min(16 * MR, (128 << 10) / (4 * P * (C + NB)) / MR * MR));
  const int nchunks = (tl.total + T - 1) / T;
  float* Up = shared_buf(0, (size_t)P * C * Npad);
  const int nt = std::min(threads_for(8.0 * tl.total * (double)C * N, 4e6), nchunks);
#pragma omp parallel num_threads(nt)
  {
    // U[pos] for (input channel, output strip) pairs: block cb's strip s at c0·Npad + s·cl·NR.
#pragma omp for schedule(static)
    for (int q = 0; q < C * (Npad / NR); q++) {
      const int c = q / (Npad / NR), s = q % (Npad / NR), cb = c / clen;
      const int c0 = cb * clen, cl = std::min(clen, C - c0);
      float* d = Up + (i64)c0 * Npad + ((i64)s * cl + (c - c0)) * NR;  // + k·C·Npad + j
      const i64 kstride = (i64)C * Npad;
      for (int j = 0; j < NR;) {
        const int co = s * NR + j;
        const float* src = w + (i64)c * wrs + (i64)co * wcs;  // tap k at src + k·C·wrs
        if (wcs == 1 && j % VL == 0 && co + VL <= N) {
          wino_filter_transform<m, vf>(src, (i64)C * wrs, d + j, kstride);
          j += VL;
        } else {
          if (co < N) {
            wino_filter_transform<m, float>(src, (i64)C * wrs, d + j, kstride);
          } else {
            for (int k = 0; k < P; k++) d[k * kstride + j] = 0.0f;
          }
          j++;
        }
      }
    }
    const i64 vplane = wino_plane((i64)T * C), mplane = wino_plane((i64)T * NB);
    float* V = scratch(0, (size_t)(P * vplane));
    float* M = scratch(1, (size_t)(P * mplane));
    float* sink = scratch(2, NB);  // where the pixels beyond the image's edge go
#pragma omp for schedule(dynamic)
    for (int ch = 0; ch < nchunks; ch++) {
      const int t0 = ch * T, nT = std::min(T, tl.total - t0), nTpad = round_up(nT, MR);
      for (int ti = 0; ti < nT; ti++) {
        const float* src[P];
        wino_window<m>(x, g, tl, t0 + ti, src);
        float* dst = V + (i64)ti * C;
        int c = 0;
        for (; c + VL <= C; c += VL) wino_input_transform<m, vf>(src, c, dst, vplane);
        for (; c < C; c++) wino_input_transform<m, float>(src, c, dst, vplane);
      }
      for (int k = 0; k < P; k++)
        for (int ti = nT; ti < nTpad; ti++) memset(V + k * vplane + (i64)ti * C, 0, C * 4);
      for (int n0 = 0; n0 < Npad; n0 += NB) {
        const int nb = std::min(NB, Npad - n0);
        for (int cb = 0; cb < ncb; cb++) {
          const int c0 = cb * clen, cl = std::min(clen, C - c0);
          for (int k = 0; k < P; k++) {
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
          float* out[m * m];
          wino_block<m>(y + n0, g, tl, t0 + ti, N, sink, out);
          const float* mm = M + (i64)ti * NB;
          int j = 0;
          for (; j + VL <= ncols; j += VL) wino_output_transform<m, vf>(mm, mplane, j, out);
          for (; j < ncols; j++) wino_output_transform<m, float>(mm, mplane, j, out);
        }
      }
    }
  }
}

/**
 * dw = ∂conv/∂w with F(m x m, 3x3) for winograd_ok convolutions: dw = Gᵀ[Σ_tiles V ⊙ W]G with
 * V = Bᵀ d B of the input windows and W = A e Aᵀ of the output-gradient tiles. Tiles go in
 * chunks of 128: all threads transform a chunk (V row-major, read in place as the A side; W as
 * NR-wide packed B strips), then each thread runs the GEMMs of the (position, input-channel
 * strip) pairs it owns and adds the chunk's float sums to its double totals. The totals are
 * transformed back at the end.
 */
template <int m>
static void conv_grad_filter_winograd(const float* x, const float* dy, float* dw, const Conv& g) {
  constexpr int A = Wino<m>::A, P = A * A;
  const int C = g.inC, N = g.outC;
  const WinoTiles tl = wino_tiles(g, m);
  const int Cpad = round_up(C, MR), Npad = round_up(N, NR);
  const int mstrips = Cpad / MR, nstrips = Npad / NR;
  // Tiles per chunk. 128 against 256 with F(2x2) on the Zen 3 EPYC, one thread, batch 128:
  // 16x16x128 64 vs 77 ms, 8x8x256 63 vs 77, 4x4x512 73 vs 81; 32x32x64 even.
  constexpr int TC = 128;
  const int nchunks = (tl.total + TC - 1) / TC;
  // V: P planes [TC][Cpad] (row-major); Wb: P planes [nstrips][TC][NR]; totals: [P][Cpad][Npad].
  const i64 vplane = wino_plane((i64)TC * Cpad), wplane = wino_plane((i64)TC * Npad);
  float* V = shared_buf(0, (size_t)(P * vplane));
  float* Wb = shared_buf(1, (size_t)(P * wplane));
  double* total = (double*)shared_buf(2, (size_t)P * Cpad * Npad * 2);
  const int tasks = P * mstrips;
  const int nt = std::min(threads_for(8.0 * tl.total * (double)C * N, 4e6), tasks);
#pragma omp parallel num_threads(nt)
  {
    float* tile = scratch(2, (size_t)MR * NR);
    for (int ch = 0; ch < nchunks; ch++) {
      const int t0 = ch * TC, nT = std::min(TC, tl.total - t0);
#pragma omp for schedule(static)
      for (int ti = 0; ti < nT; ti++) {
        const int t = t0 + ti;
        const float* src[P];
        wino_window<m>(x, g, tl, t, src);
        float* dv = V + (i64)ti * Cpad;
        int c = 0;
        for (; c + VL <= C; c += VL) wino_input_transform<m, vf>(src, c, dv, vplane);
        for (; c < C; c++) wino_input_transform<m, float>(src, c, dv, vplane);
        // Channels C..Cpad stay unwritten: they only feed rows of M that are never read.
        const float* e[m * m];
        wino_block<m>(dy, g, tl, t, N, (const float*)g_wino_zeros, e);
        int co = 0;
        for (; co + VL <= N; co += VL)
          wino_grad_transform<m, vf>(e, co, Wb + ((i64)(co / NR) * TC + ti) * NR + co % NR,
                                     wplane);
        for (; co < Npad; co++) {
          const float* ez[m * m];
          for (int i = 0; i < m * m; i++) ez[i] = co < N ? e[i] : g_wino_zeros;
          wino_grad_transform<m, float>(ez, co < N ? co : 0,
                                        Wb + ((i64)(co / NR) * TC + ti) * NR + co % NR, wplane);
        }
      }
      // (implicit barrier) The GEMMs: task = (position k, input-channel strip ms), all of N.
#pragma omp for schedule(static)
      for (int q = 0; q < tasks; q++) {
        const int k = q / mstrips, ms = q % mstrips;
        const float* As = V + k * vplane + ms * MR;
        double* tot = total + ((i64)k * Cpad + (i64)ms * MR) * Npad;
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
        double mv[P], t[3 * A];
        for (int k = 0; k < P; k++) mv[k] = total[((i64)k * Cpad + c) * Npad + co];
        for (int r = 0; r < 3; r++)  // rows: Gᵀ M (3 x A)
          for (int j = 0; j < A; j++) {
            double v = 0;
            for (int i = 0; i < A; i++) v += Wino<m>::G[i][r] * mv[A * i + j];
            t[A * r + j] = v;
          }
        for (int r = 0; r < 3; r++)  // columns: (Gᵀ M) G
          for (int s = 0; s < 3; s++) {
            double v = 0;
            for (int j = 0; j < A; j++) v += t[A * r + j] * Wino<m>::G[j][s];
            dw[((i64)(3 * r + s) * C + c) * N + co] = (float)v;
          }
      }
  }
}

/**
 * The output tile size m of the Winograd path: 4 where the image's sides are multiples of 4
 * (no tile hangs over the edge), else 2. WINO_M forces one (benchmarks). F(4x4) against F(2x2)
 * on the Zen 3 EPYC, two threads, batch 128 (512 for `small`'s shapes), best of 3: forward
 * 32x32x64 22 vs 34 ms, 8x8x256 23 vs 27, 4x4x512 25 vs 32; filter gradient 32x32x64 33 vs 49,
 * 8x8x256 25 vs 43, 16x16x32->64 21 vs 30, 4x4x128->256 16 vs 19.
 */
static inline int wino_tile_size(const Conv& g) {
#ifdef WINO_M
  return WINO_M;
#else
  return g.outH % 4 == 0 && g.outW % 4 == 0 ? 4 : 2;
#endif
}

static void conv_forward_winograd(const float* x, const float* w, i64 wrs, i64 wcs, float* y,
                                  const Conv& g) {
  if (wino_tile_size(g) == 4)
    conv_forward_winograd<4>(x, w, wrs, wcs, y, g);
  else
    conv_forward_winograd<2>(x, w, wrs, wcs, y, g);
}

static void conv_grad_filter_winograd(const float* x, const float* dy, float* dw, const Conv& g) {
  if (wino_tile_size(g) == 4)
    conv_grad_filter_winograd<4>(x, dy, dw, g);
  else
    conv_grad_filter_winograd<2>(x, dy, dw, g);
}
