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
  if (acc) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
      vfu* row = (vfu*)(C + i * ldc);
      row[0] += c0[i];
      row[1] += c1[i];
    }
  } else {
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
      vfu* row = (vfu*)(C + i * ldc);
      row[0] = c0[i];
      row[1] = c1[i];
    }
  }
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
#endif
