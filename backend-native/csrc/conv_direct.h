// conv_direct.h: the direct 3x3 convolution path of MR = 6 builds (AVX2 and SSE), used by
// conv_forward in conv.h. Part of the unity build: conv.h includes it after the im2col packing,
// so it shares the Conv geometry and the micro-kernel macros.

#if MR == 6
// ---------------------------------------------------------------------------------------------
// Direct convolution (MR = 6 builds: AVX2 and SSE): the GEMM micro-kernel with its A operand
// read straight from the NHWC input instead of a packed im2col panel. A tile of 6 output pixels
// and one filter tap needs, per input channel c, the 6 values x[pixel i's tap position][c]: six
// pointers into the input, each walked along its channels. Packing those values into an A
// micro-panel is costly because each packed value is used by only 2·outC FLOPs: without it the
// 3x3 forward convolutions (and the stride-1 input gradients, which are forward convolutions)
// ran 8-15% faster on an AVX2 EPYC. The pointers cost a few instructions per tile and tap.
// Taps that fall in the zero padding point at a zero row. (A direct filter gradient in the same
// style, B read from dy in place, was slower: pixel rows N floats apart share a few L1 sets.)

/** Input channels per K-block at most (a tap's channels are split above this). */
#define DIRECT_CMAX 256
alignas(64) static const float g_zero_row[DIRECT_CMAX] = {};

/**
 * C[6 x NR] (+)= Σ_t Σ_c a_t,i[c] · B[t*clen + c][:] for t < ntaps: `a` holds 6 pointers per tap.
 */
static inline __attribute__((always_inline)) void direct_kernel(int ntaps, int clen,
                                                                const float* const* a,
                                                                const float* __restrict B,
                                                                float* __restrict C, i64 ldc,
                                                                bool acc) {
  vf c0[MR], c1[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; i++) {
    c0[i] = (vf){};
    c1[i] = (vf){};
  }
  for (int t = 0; t < ntaps; t++, a += MR) {
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
#pragma GCC unroll 4
    for (int c = 0; c < clen; c++) {
      const vf b0 = ((const vf*)B)[0];
      const vf b1 = ((const vf*)B)[1];
      c0[0] += a0[c] * b0;
      c1[0] += a0[c] * b1;
      c0[1] += a1[c] * b0;
      c1[1] += a1[c] * b1;
      c0[2] += a2[c] * b0;
      c1[2] += a2[c] * b1;
      c0[3] += a3[c] * b0;
      c1[3] += a3[c] * b1;
      c0[4] += a4[c] * b0;
      c1[4] += a4[c] * b1;
      c0[5] += a5[c] * b0;
      c1[5] += a5[c] * b1;
      B += NR;
    }
  }
  store_tile(c0, c1, C, ldc, acc);
}

static __attribute__((noinline)) void direct_kernel_full(int ntaps, int clen,
                                                         const float* const* a, const float* B,
                                                         float* C, i64 ldc, bool acc) {
  direct_kernel(ntaps, clen, a, B, C, ldc, acc);
}

static __attribute__((noinline)) void direct_kernel_edge(int ntaps, int clen,
                                                         const float* const* a, const float* B,
                                                         float* C, i64 ldc, bool acc, int mr,
                                                         int nr) {
  alignas(64) float t[MR * NR];
  direct_kernel(ntaps, clen, a, B, t, NR, false);
  for (int i = 0; i < mr; i++) {
    float* c = C + i * ldc;
    const float* s = t + i * NR;
    if (acc)
      for (int j = 0; j < nr; j++) c[j] += s[j];
    else
      for (int j = 0; j < nr; j++) c[j] = s[j];
  }
}

/**
 * The K-blocks of a direct convolution: taps [t0, t0 + ntaps) x channels [c0, c0 + clen), each
 * about KC long, so that a B strip (kc x NR) stays in L1.
 */
struct DirectBlocks {
  int tapsPer, nTapBlocks, clen, nChanBlocks;
};

static DirectBlocks direct_blocks(const Conv& g) {
  const int taps = g.kH * g.kW, C = g.inC;
  DirectBlocks d;
  d.nChanBlocks = (C + DIRECT_CMAX - 1) / DIRECT_CMAX;
  d.clen = (C + d.nChanBlocks - 1) / d.nChanBlocks;
  const int maxTaps = std::max(1, KC / std::max(1, d.clen));
  d.nTapBlocks = (taps + maxTaps - 1) / maxTaps;
  d.tapsPer = (taps + d.nTapBlocks - 1) / d.nTapBlocks;
  d.nTapBlocks = (taps + d.tapsPer - 1) / d.tapsPer;
  return d;
}

/** An output pixel's image offset (floats) and top-left input position. */
struct PixelAt {
  i64 img;
  int iy0, ix0;
};

/** Whether the direct path suits this convolution: enough channels per tap to hide pointers. */
static inline bool direct_conv_ok(const Conv& g) { return g.inC >= 16 && g.kH * g.kW > 1; }

/**
 * y = conv(x, w), w a strided [K, outC] view: output pixels in chunks over the threads, for each
 * K-block (taps x channels) and NR-strip of output channels the 6-pixel tiles of the chunk.
 */
static void conv_forward_direct(const float* x, const float* w, i64 wrs, i64 wcs, float* y,
                                const Conv& g) {
  const int K = g.kH * g.kW * g.inC, N = g.outC, C = g.inC, taps = g.kH * g.kW;
  const int P = g.batch * g.outH * g.outW;
  if (P == 0 || N == 0) return;
  const DirectBlocks db = direct_blocks(g);
  const int nblocks = db.nTapBlocks * db.nChanBlocks;
  const int Npad = round_up(N, NR), nstrips = Npad / NR;
  // Packed B: block b = (tap block tb, channel block cb) at offset K-rows-before-it * Npad; its
  // strip s at s * kc * NR, row (t - t0) * clen + (c - c0) of a strip = filter row t*C + c.
  float* Bp = shared_buf(0, packed_B_size(K, N));
  std::vector<i64> boff(nblocks);
  std::vector<int> bkc(nblocks);
  {
    i64 off = 0;
    for (int tb = 0; tb < db.nTapBlocks; tb++)
      for (int cb = 0; cb < db.nChanBlocks; cb++) {
        const int nt = std::min(db.tapsPer, taps - tb * db.tapsPer);
        const int cl = std::min(db.clen, C - cb * db.clen);
        boff[tb * db.nChanBlocks + cb] = off;
        bkc[tb * db.nChanBlocks + cb] = nt * cl;
        off += (i64)nt * cl * Npad;
      }
  }
  int nt = threads_for(2.0 * P * N * K, 4e6);
  const int chunk = balanced_chunk(P, MR, MC * 2, nt);
  const int nchunks = (P + chunk - 1) / chunk;
#pragma omp parallel num_threads(nt)
  {
    // Pack B: one (block, strip, tap) piece per iteration.
#pragma omp for schedule(static)
    for (int q = 0; q < nblocks * nstrips; q++) {
      const int b = q / nstrips, s = q % nstrips;
      const int tb = b / db.nChanBlocks, cb = b % db.nChanBlocks;
      const int t0 = tb * db.tapsPer, ntp = std::min(db.tapsPer, taps - t0);
      const int c0 = cb * db.clen, cl = std::min(db.clen, C - c0);
      const int kc = bkc[b], j0 = s * NR, nr = std::min(NR, N - j0);
      float* d = Bp + boff[b] + (i64)s * kc * NR;
      for (int t = 0; t < ntp; t++) {
        const float* src = w + ((i64)(t0 + t) * C + c0) * wrs + (i64)j0 * wcs;
        for (int c = 0; c < cl; c++) {
          float* dd = d + ((i64)t * cl + c) * NR;
          const float* sr = src + (i64)c * wrs;
          int j = 0;
          if (wcs == 1)
            for (; j < nr; j++) dd[j] = sr[j];
          else
            for (; j < nr; j++) dd[j] = sr[(i64)j * wcs];
          for (; j < NR; j++) dd[j] = 0.0f;
        }
      }
    }
    const int tilesMax = (chunk + MR - 1) / MR;
    const float** ptrs = (const float**)scratch(4, (size_t)tilesMax * db.tapsPer * MR * 2);
    PixelAt* pix = (PixelAt*)scratch(3, (size_t)tilesMax * MR * 4);
#pragma omp for schedule(dynamic)
    for (int ch = 0; ch < nchunks; ch++) {
      const int r0 = ch * chunk, r1 = std::min(P, r0 + chunk);
      const int ntiles = (r1 - r0 + MR - 1) / MR;
      // Where each output pixel of the chunk reads: its image and top-left input position.
      for (int u = 0, ox = r0 % g.outW, oy = r0 / g.outW % g.outH, bi = r0 / g.outW / g.outH;
           u < r1 - r0; u++) {
        pix[u] = {(i64)bi * g.inH * g.inW * C, oy * g.stride - g.padH, ox * g.stride - g.padW};
        if (++ox == g.outW) {
          ox = 0;
          if (++oy == g.outH) {
            oy = 0;
            bi++;
          }
        }
      }
      for (int tb = 0; tb < db.nTapBlocks; tb++) {
        const int t0 = tb * db.tapsPer, ntp = std::min(db.tapsPer, taps - t0);
        for (int cb = 0; cb < db.nChanBlocks; cb++) {
          const int b = tb * db.nChanBlocks + cb;
          const int c0 = cb * db.clen, cl = std::min(db.clen, C - c0);
          const bool acc = b > 0;
          // The 6 input pointers of every tile and tap of this block.
          for (int ti = 0; ti < ntiles; ti++) {
            const float** pt = ptrs + (i64)ti * ntp * MR;
            for (int i = 0; i < MR; i++) {
              const int u = ti * MR + i;
              if (r0 + u >= r1) {
                for (int t = 0; t < ntp; t++) pt[t * MR + i] = g_zero_row;
                continue;
              }
              const float* img = x + pix[u].img + c0;
              const int iy0 = pix[u].iy0, ix0 = pix[u].ix0;
              for (int t = 0, ky = t0 / g.kW, kx = t0 % g.kW; t < ntp; t++) {
                const int iy = iy0 + ky, ix = ix0 + kx;
                pt[t * MR + i] = ((unsigned)iy >= (unsigned)g.inH || (unsigned)ix >= (unsigned)g.inW)
                                     ? g_zero_row
                                     : img + ((i64)iy * g.inW + ix) * C;
                if (++kx == g.kW) {
                  kx = 0;
                  ky++;
                }
              }
            }
          }
          const float* Bb = Bp + boff[b];
          const int kc = bkc[b];
          for (int s = 0; s < nstrips; s++) {
            const int j = s * NR, nr = std::min(NR, N - j);
            const float* Bs = Bb + (i64)s * kc * NR;
            for (int ti = 0; ti < ntiles; ti++) {
              const int ir = r0 + ti * MR, mr = std::min(MR, r1 - ir);
              float* Cij = y + (i64)ir * N + j;
              const float* const* pt = ptrs + (i64)ti * ntp * MR;
              if (mr == MR && nr == NR)
                direct_kernel_full(ntp, cl, pt, Bs, Cij, N, acc);
              else
                direct_kernel_edge(ntp, cl, pt, Bs, Cij, N, acc, mr, nr);
            }
          }
        }
      }
    }
  }
}
// ---------------------------------------------------------------------------------------------
// Few input channels (the first layer: RGB, K = 27): the im2col path packed every pixel's
// 27-float row from three 9-float pieces (a memcpy each, plus edge checks) for only 2·K·outC
// FLOPs, and ran at a quarter of the speed of the deeper layers. Here the input is first copied
// once into a zero-padded image (7 MiB for a batch of 512 RGB images), so that every filter row
// of every window lies inside it as kW·C contiguous floats: the forward convolution is the direct
// kernel above with one "tap" per filter row, and the filter gradient reads its im2col values
// straight from the padded image at fixed offsets.

/** Whether the small-channel path suits: few channels, one K-block, short filter rows. */
static inline bool rows_conv_ok(const Conv& g) {
  return g.inC < 16 && g.kW * g.inC <= DIRECT_CMAX && g.kH * g.kW * g.inC <= KC;
}

/** x copied into a zero border of padH/padW (shared scratch slot 2): [batch, Hp, Wp, C]. */
static const float* pad_input(const float* x, const Conv& g, int& Hp, int& Wp) {
  Hp = g.inH + 2 * g.padH;
  Wp = g.inW + 2 * g.padW;
  const int C = g.inC;
  float* xp = shared_buf(2, (size_t)g.batch * Hp * Wp * C);
  const i64 rowIn = (i64)g.inW * C, rowOut = (i64)Wp * C;
  const int nt = threads_for((double)g.batch * Hp * rowOut, 1 << 17);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (i64 r = 0; r < (i64)g.batch * Hp; r++) {
    const int b = (int)(r / Hp), iy = (int)(r % Hp) - g.padH;
    float* o = xp + r * rowOut;
    if (iy < 0 || iy >= g.inH) {
      memset(o, 0, rowOut * sizeof(float));
      continue;
    }
    memset(o, 0, (size_t)g.padW * C * sizeof(float));
    memcpy(o + (i64)g.padW * C, x + ((i64)b * g.inH + iy) * rowIn, rowIn * sizeof(float));
    memset(o + (i64)g.padW * C + rowIn, 0, (size_t)(Wp - g.inW - g.padW) * C * sizeof(float));
  }
  return xp;
}

/** y = conv(x, w) for few input channels (rows_conv_ok); w a strided [K, outC] view. */
static void conv_forward_rows(const float* x, const float* w, i64 wrs, i64 wcs, float* y,
                              const Conv& g) {
  const int K = g.kH * g.kW * g.inC, N = g.outC, C = g.inC, rowLen = g.kW * g.inC;
  const int P = g.batch * g.outH * g.outW;
  if (P == 0 || N == 0) return;
  int Hp, Wp;
  const float* xp = pad_input(x, g, Hp, Wp);
  const int Npad = round_up(N, NR), nstrips = Npad / NR;
  float* Bp = shared_buf(0, packed_B_size(K, N));  // strip s at s * K * NR, rows = filter rows
  int nt = threads_for(2.0 * P * N * K, 4e6);
  const int chunk = balanced_chunk(P, MR, MC * 2, nt);
  const int nchunks = (P + chunk - 1) / chunk;
#pragma omp parallel num_threads(nt)
  {
#pragma omp for schedule(static)
    for (int s = 0; s < nstrips; s++) {
      const int j0 = s * NR, nr = std::min(NR, N - j0);
      for (int k = 0; k < K; k++) {
        float* dd = Bp + ((i64)s * K + k) * NR;
        const float* sr = w + (i64)k * wrs + (i64)j0 * wcs;
        int j = 0;
        for (; j < nr; j++) dd[j] = sr[(i64)j * wcs];
        for (; j < NR; j++) dd[j] = 0.0f;
      }
    }
    std::vector<const float*> ptv((size_t)MR * g.kH);  // the 6 row pointers of each filter row
    const float** ptrs = ptv.data();
#pragma omp for schedule(dynamic)
    for (int ch = 0; ch < nchunks; ch++) {
      const int r0 = ch * chunk, r1 = std::min(P, r0 + chunk);
      int ox = r0 % g.outW, oy = r0 / g.outW % g.outH, bi = r0 / g.outW / g.outH;
      for (int ir = r0; ir < r1; ir += MR) {
        const int mr = std::min(MR, r1 - ir);
        for (int i = 0; i < MR; i++) {
          if (i >= mr) {
            for (int t = 0; t < g.kH; t++) ptrs[t * MR + i] = g_zero_row;
            continue;
          }
          const float* p = xp + (((i64)bi * Hp + (i64)oy * g.stride) * Wp + (i64)ox * g.stride) * C;
          for (int t = 0; t < g.kH; t++) ptrs[t * MR + i] = p + (i64)t * Wp * C;
          if (++ox == g.outW) {
            ox = 0;
            if (++oy == g.outH) {
              oy = 0;
              bi++;
            }
          }
        }
        for (int s = 0; s < nstrips; s++) {
          const int j = s * NR, nr = std::min(NR, N - j);
          const float* Bs = Bp + (i64)s * K * NR;
          float* Cij = y + (i64)ir * N + j;
          if (mr == MR && nr == NR)
            direct_kernel_full(g.kH, rowLen, ptrs, Bs, Cij, N, false);
          else
            direct_kernel_edge(g.kH, rowLen, ptrs, Bs, Cij, N, false, mr, nr);
        }
      }
    }
  }
}

/**
 * dw[k][j0 + :NR] for k = koff's 6 rows, summed over output pixels of rows [r0, r1) (r = b·outH
 * + oy): acc[i] += xp[pixel base + koff[i]] · dy[pixel][j0 + :NR], in registers.
 */
static inline void rows_grad_filter_tile(const float* xp, const float* dy, const Conv& g, int Hp,
                                         int Wp, int r0, int r1, const int* koff, int j0,
                                         float* out, i64 ldo, int mr) {
  vf c0[MR], c1[MR];
  for (int i = 0; i < MR; i++) c0[i] = c1[i] = (vf){};
  const int o0 = koff[0], o1 = koff[1], o2 = koff[2], o3 = koff[3], o4 = koff[4], o5 = koff[5];
  const i64 step = (i64)g.stride * g.inC, N = g.outC;
  for (int r = r0; r < r1; r++) {
    const int b = r / g.outH, oy = r % g.outH;
    const float* a = xp + ((i64)b * Hp + (i64)oy * g.stride) * Wp * g.inC;
    const float* d = dy + (i64)r * g.outW * N + j0;
    for (int ox = 0; ox < g.outW; ox++, a += step, d += N) {
      vf d0, d1;
      memcpy(&d0, d, sizeof d0);
      memcpy(&d1, d + VL, sizeof d1);
      c0[0] += a[o0] * d0;
      c1[0] += a[o0] * d1;
      c0[1] += a[o1] * d0;
      c1[1] += a[o1] * d1;
      c0[2] += a[o2] * d0;
      c1[2] += a[o2] * d1;
      c0[3] += a[o3] * d0;
      c1[3] += a[o3] * d1;
      c0[4] += a[o4] * d0;
      c1[4] += a[o4] * d1;
      c0[5] += a[o5] * d0;
      c1[5] += a[o5] * d1;
    }
  }
  for (int i = 0; i < mr; i++) {
    memcpy(out + i * ldo, &c0[i], sizeof(vf));
    memcpy(out + i * ldo + VL, &c1[i], sizeof(vf));
  }
}

/**
 * dw = im2col(x)ᵀ · dy for few input channels (rows_conv_ok, outC a multiple of NR): threads
 * take chunks of output rows; each chunk's sums (float, ~1024 pixels) join a per-thread double
 * total, and the totals are added per element at the end.
 */
static void conv_grad_filter_rows(const float* x, const float* dy, float* dw, const Conv& g) {
  const int K = g.kH * g.kW * g.inC, N = g.outC, C = g.inC;
  const i64 KN = (i64)K * N;
  int Hp, Wp;
  const float* xp = pad_input(x, g, Hp, Wp);
  const int kblocks = (K + MR - 1) / MR, nstrips = N / NR;
  // Offsets of the K columns in the padded image, relative to a window's top-left corner; the
  // last block is filled up with its last column (computed, not stored).
  std::vector<int> koff((size_t)kblocks * MR);
  for (int k = 0; k < kblocks * MR; k++) {
    const int kk = std::min(k, K - 1);
    const int ky = kk / (g.kW * C), kx = kk / C % g.kW, c = kk % C;
    koff[k] = (ky * Wp + kx) * C + c;
  }
  const int rows = g.batch * g.outH;
  const int rowsPer = std::max(1, 1024 / std::max(1, g.outW));
  const int nchunks = (rows + rowsPer - 1) / rowsPer;
  int nt = threads_for(2.0 * rows * g.outW * KN, 4e6);
  nt = std::min(nt, nchunks);
  double* totals[MAX_THREADS];
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    double* total = scratch_d(1, KN);
    totals[t] = total;
    memset(total, 0, KN * sizeof(double));
    float* part = scratch(2, (size_t)kblocks * MR * N);
#pragma omp for schedule(dynamic)
    for (int c = 0; c < nchunks; c++) {
      const int r0 = c * rowsPer, r1 = std::min(rows, r0 + rowsPer);
      for (int kb = 0; kb < kblocks; kb++)
        for (int s = 0; s < nstrips; s++)
          rows_grad_filter_tile(xp, dy, g, Hp, Wp, r0, r1, &koff[(size_t)kb * MR], s * NR,
                                part + (i64)kb * MR * N + s * NR, N,
                                std::min(MR, K - kb * MR));
      for (i64 i = 0; i < KN; i++) total[i] += part[i];
    }
#pragma omp barrier
    const int T = omp_get_num_threads();
#pragma omp for schedule(static)
    for (i64 i = 0; i < KN; i++) {
      double s = 0;
      for (int u = 0; u < T; u++) s += totals[u][i];
      dw[i] = (float)s;
    }
  }
}
#endif
