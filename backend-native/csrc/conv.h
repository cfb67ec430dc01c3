// conv.h: convolutions as GEMMs: the Conv geometry, im2col packing (with the AVX-512/AVX2
// transposes), the direct path (conv_direct.h: the micro-kernel reads its A operand from the NHWC
// input in place), and nb_conv2d, nb_conv2d_grad_filter, nb_conv2d_grad_input.
// Part of the unity build: kernels.cpp includes every family in order, so this file is one
// translation unit with the others (static helpers are shared, the compile command is one file).
#pragma once
#include "gemm.h"

// ---------------------------------------------------------------------------------------------
// Convolutions. Output pixel p = (b, oy, ox) row-major; K index k = (ky, kx, ci) row-major, so
// the im2col matrix [P, K] times the HWIO filter viewed as [K, cout] is the NHWC output.

struct Conv {
  int batch, inH, inW, inC, kH, kW, outC, outH, outW, stride, padH, padW;
};

static Conv conv_from(const int* d) {
  return Conv{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11]};
}

/**
 * Calls `fn(k, src, len)` for consecutive pieces of output pixel `pix`'s im2col row restricted
 * to k in [k0, k1): `src` points at the `len` input values for k..k+len-1, or is null where the
 * window hangs over the zero padding. A filter row lying wholly inside the image is one piece
 * (kW·cin contiguous NHWC values).
 */
template <class Fn>
static inline void im2col_runs(const float* x, const Conv& g, int pix, int k0, int k1, Fn&& fn) {
  const int C = g.inC, rowLen = g.kW * C;
  const int ox = pix % g.outW, t = pix / g.outW;
  const int oy = t % g.outH, b = t / g.outH;
  const int iy0 = oy * g.stride - g.padH, ix0 = ox * g.stride - g.padW;
  const float* img = x + (i64)b * g.inH * g.inW * C;
  const bool rowInside = ix0 >= 0 && ix0 + g.kW <= g.inW;
  int ky = k0 / rowLen;
  for (int rs = ky * rowLen; rs < k1; rs += rowLen, ky++) {
    const int a = std::max(k0, rs), e = std::min(k1, rs + rowLen);
    const int iy = iy0 + ky;
    if (iy < 0 || iy >= g.inH) {
      fn(a, nullptr, e - a);
      continue;
    }
    // img + rowOff + k is x[iy, ix0 + kx, ci] for k = rs + kx*C + ci.
    const i64 rowOff = ((i64)iy * g.inW + ix0) * C - rs;
    if (rowInside) {
      fn(a, img + rowOff + a, e - a);
      continue;
    }
    int kx = (a - rs) / C;
    for (int ts = rs + kx * C; ts < e; ts += C, kx++) {
      const int ta = std::max(a, ts), te = std::min(e, ts + C);
      const int ix = ix0 + kx;
      fn(ta, ix < 0 || ix >= g.inW ? nullptr : img + rowOff + ta, te - ta);
    }
  }
}

#if defined(__AVX512F__) && MR <= 16
/**
 * dst[c * MR + i] = rows[i][c] for i < MR, c < 16: one 16 x 16 transpose in registers (rows
 * MR..15 are zero and dropped), stored as 16 masked MR-float rows.
 */
static inline void transpose_rows16(const float* rows, i64 ld, float* dst) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; i++) r[i] = i < MR ? _mm512_loadu_ps(rows + i * ld) : _mm512_setzero_ps();
  // Interleave 1, 2, 4 and 8 lanes in turn; every r[k] then holds one column (see col below).
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4)
    for (int j = 0; j < 2; j++) {
      r[i + j] = _mm512_castpd_ps(
          _mm512_unpacklo_pd(_mm512_castps_pd(t[i + j]), _mm512_castps_pd(t[i + j + 2])));
      r[i + j + 2] = _mm512_castpd_ps(
          _mm512_unpackhi_pd(_mm512_castps_pd(t[i + j]), _mm512_castps_pd(t[i + j + 2])));
    }
  for (int i = 0; i < 16; i += 8)
    for (int j = 0; j < 4; j++) {
      t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
      t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xdd);
    }
  for (int j = 0; j < 8; j++) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
  }
  // r[k] now holds column col[k]: the pd round swaps the middle pair of each group of four.
  static const int col[16] = {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15};
  for (int k = 0; k < 16; k++) _mm512_mask_storeu_ps(dst + col[k] * MR, (1u << MR) - 1, r[k]);
}
#endif

#if !(defined(__AVX512F__) && MR <= 16) && defined(__AVX2__) && MR == 6
/**
 * dst[c * 6 + i] = rows[i][c] for i < 6, c < 8: one 8 x 8 transpose in registers (rows 6 and 7
 * are zero and dropped). Columns are stored 8 floats wide in increasing order, each overlapping
 * the next column's first two floats, which that column's store then overwrites; the last one is
 * stored as 4 + 2 so that nothing is written past the 48 floats of the block.
 */
static inline void transpose_rows6x8(const float* rows, i64 ld, float* dst) {
  const __m256 z = _mm256_setzero_ps();
  const __m256 r0 = _mm256_loadu_ps(rows), r1 = _mm256_loadu_ps(rows + ld);
  const __m256 r2 = _mm256_loadu_ps(rows + 2 * ld), r3 = _mm256_loadu_ps(rows + 3 * ld);
  const __m256 r4 = _mm256_loadu_ps(rows + 4 * ld), r5 = _mm256_loadu_ps(rows + 5 * ld);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  const __m256 u4 = _mm256_shuffle_ps(t4, z, 0x44), u5 = _mm256_shuffle_ps(t4, z, 0xee);
  const __m256 u6 = _mm256_shuffle_ps(t5, z, 0x44), u7 = _mm256_shuffle_ps(t5, z, 0xee);
  _mm256_storeu_ps(dst + 0, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + 6, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 12, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 18, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 24, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 30, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 36, _mm256_permute2f128_ps(u2, u6, 0x31));
  const __m256 c7 = _mm256_permute2f128_ps(u3, u7, 0x31);
  _mm_storeu_ps(dst + 42, _mm256_castps256_ps128(c7));
  _mm_storel_pi((__m64*)(dst + 46), _mm256_extractf128_ps(c7, 1));
}
#define NB_AVX2_IM2COL_TRANSPOSE 1
#endif

/**
 * Packs im2col rows [ic, ic+mc) x k [pc, pc+kc) of input x into A-strips. With AVX-512 (and
 * AVX2) each strip's MR pixel rows are first copied contiguously (long runs of NHWC input), then
 * transposed 16 (8) columns at a time in registers: the element-by-element strided stores this
 * replaces took a quarter of the first layers' convolution time.
 */
static void pack_A_im2col(const float* x, const Conv& g, int ic, int mc, int pc, int kc,
                          float* dst) {
#if (defined(__AVX512F__) && MR <= 16) || defined(NB_AVX2_IM2COL_TRANSPOSE)
#if defined(NB_AVX2_IM2COL_TRANSPOSE)
  // The AVX2 path (MR = 6): the same gather, then 8-column register transposes.
  constexpr int TW = 8;
#else
  constexpr int TW = 16;
#endif
  const int kv = kc / TW * TW;
  float* rows = scratch(4, (size_t)MR * kc);
  for (int s = 0; s < mc; s += MR) {
    const int mr = std::min(MR, mc - s);
    float* d = dst + (i64)s * kc;
    for (int i = 0; i < MR; i++) {
      float* row = rows + (i64)i * kc;
      if (i >= mr) {
        memset(row, 0, kc * sizeof(float));
        continue;
      }
      im2col_runs(x, g, ic + s + i, pc, pc + kc, [&](int k, const float* src, int len) {
        if (src)
          memcpy(row + (k - pc), src, len * sizeof(float));
        else
          memset(row + (k - pc), 0, len * sizeof(float));
      });
    }
#if defined(NB_AVX2_IM2COL_TRANSPOSE)
    for (int c = 0; c < kv; c += TW) transpose_rows6x8(rows + c, kc, d + (i64)c * MR);
#else
    for (int c = 0; c < kv; c += TW) transpose_rows16(rows + c, kc, d + (i64)c * MR);
#endif
    for (int c = kv; c < kc; c++)
      for (int i = 0; i < MR; i++) d[(i64)c * MR + i] = rows[(i64)i * kc + c];
  }
#else
  for (int s = 0; s < mc; s += MR) {
    const int mr = std::min(MR, mc - s);
    float* d = dst + (i64)s * kc;
    for (int i = 0; i < MR; i++) {
      if (i >= mr) {
        for (int p = 0; p < kc; p++) d[p * MR + i] = 0.0f;
        continue;
      }
      im2col_runs(x, g, ic + s + i, pc, pc + kc, [&](int k, const float* src, int len) {
        float* dd = d + (k - pc) * MR + i;
        if (src)
          for (int r = 0; r < len; r++) dd[r * MR] = src[r];
        else
          for (int r = 0; r < len; r++) dd[r * MR] = 0.0f;
      });
    }
  }
#endif
}

/**
 * Packs im2col rows (pixels) [pc, pc+kc) x all K columns as a B panel: NR-column strips,
 * zero-padded to a multiple of NR.
 */
static void pack_B_im2col(const float* x, const Conv& g, int pc, int kc, int K, float* dst) {
  const int Kpad = round_up(K, NR);
  for (int p = 0; p < kc; p++) {
    float* row = dst + (i64)p * NR;  // strip s of this row is at row + s*kc*NR
    im2col_runs(x, g, pc + p, 0, K, [&](int k, const float* src, int len) {
      while (len > 0) {
        const int s = k / NR, j = k % NR, l = std::min(NR - j, len);
        float* dd = row + (i64)s * kc * NR + j;
        if (src) {
          for (int r = 0; r < l; r++) dd[r] = src[r];
          src += l;
        } else {
          for (int r = 0; r < l; r++) dd[r] = 0.0f;
        }
        k += l;
        len -= l;
      }
    });
    if (Kpad > K) {
      float* dd = row + (i64)(K / NR) * kc * NR;
      for (int j = K % NR; j < NR; j++) dd[j] = 0.0f;
    }
  }
}

/**
 * Packs the transposed im2col block, columns k [k0, k0+klen) x pixels [pc, pc+kc), as W-wide
 * strips: element (pixel pc+p, column k0+s*W+j) goes to dst[s*kc*W + p*W + j], zero-padded to a
 * multiple of W (W = MR: A-strips of im2colᵀ). Each pixel's row is first gathered contiguously
 * (a few long copies of NHWC input runs), then cut into strips with fixed-size copies: copying
 * piece by piece straight into the strips cost twice as much.
 */
template <int W>
static void pack_im2col_T(const float* x, const Conv& g, int pc, int kc, int k0, int klen,
                          float* dst) {
  const int nstrips = (klen + W - 1) / W;
  float* row = scratch(4, (size_t)nstrips * W);
  for (int j = klen; j < nstrips * W; j++) row[j] = 0.0f;
  for (int p = 0; p < kc; p++) {
    im2col_runs(x, g, pc + p, k0, k0 + klen, [&](int k, const float* src, int len) {
      if (src)
        memcpy(row + (k - k0), src, len * sizeof(float));
      else
        memset(row + (k - k0), 0, len * sizeof(float));
    });
    float* d = dst + (i64)p * W;
    for (int s = 0; s < nstrips; s++) memcpy(d + (i64)s * kc * W, row + s * W, W * sizeof(float));
  }
}

#include "conv_direct.h"  // conv_forward_direct and its micro-kernels (MR = 6 builds)
#include "winograd.h"     // F(2x2, 3x3) forward and filter gradient of 3x3 stride-1 layers

/** The algorithms a convolution entry point can take (nb_conv_algorithm's codes). */
enum ConvAlgorithm {
  ALGO_IM2COL = 0,    // GEMM on im2col panels packed on the fly
  ALGO_DIRECT = 1,    // conv_direct.h: the micro-kernel reads the NHWC input in place
  ALGO_ROWS = 2,      // conv_direct.h: few input channels, a zero-padded copy of the input
  ALGO_WINOGRAD = 3,  // winograd.h: F(2x2, 3x3)
  ALGO_COL2IM = 4,    // input gradient of strided convolutions: dy·wᵀ, then a col2im scatter
};

/** The forward convolution's algorithm (also the stride-1 input gradient's, on the flipped conv). */
static ConvAlgorithm forward_algorithm(const Conv& g) {
  if (winograd_ok(g)) return ALGO_WINOGRAD;
#if MR == 6
  if (rows_conv_ok(g)) return ALGO_ROWS;
  if (direct_conv_ok(g)) return ALGO_DIRECT;
#endif
  return ALGO_IM2COL;
}

/** The filter gradient's algorithm. */
static ConvAlgorithm grad_filter_algorithm(const Conv& g) {
  if (winograd_ok(g)) return ALGO_WINOGRAD;
#if MR == 6
  if (rows_conv_ok(g) && g.outC % NR == 0) return ALGO_ROWS;
#endif
  return ALGO_IM2COL;
}

/** y = conv(x, w) with w viewed as a strided [K, outC] matrix (row stride wrs, col stride wcs). */
static void conv_forward(const float* x, const float* w, i64 wrs, i64 wcs, float* y,
                         const Conv& g) {
  switch (forward_algorithm(g)) {
    case ALGO_WINOGRAD:
      conv_forward_winograd(x, w, wrs, wcs, y, g);
      return;
#if MR == 6
    case ALGO_ROWS:
      conv_forward_rows(x, w, wrs, wcs, y, g);
      return;
    case ALGO_DIRECT:
      conv_forward_direct(x, w, wrs, wcs, y, g);
      return;
#endif
    default:
      break;
  }
  int K = g.kH * g.kW * g.inC, N = g.outC;
  int P = g.batch * g.outH * g.outW;
  if (P == 0 || N == 0) return;
  float* Bp = shared_buf(0, packed_B_size(K, N));
  int nt = threads_for(2.0 * P * N * K, 4e6);
  int nstrips = (N + NR - 1) / NR;
  int chunk = balanced_chunk(P, MR, MC * 2, nt);
  int nchunks = (P + chunk - 1) / chunk;
#pragma omp parallel num_threads(nt)
  {
    pack_B_full_par(w, wrs, wcs, K, N, Bp);
    auto packA = [&](int ic, int mc, int pc, int kc, float* dst) {
      pack_A_im2col(x, g, ic, mc, pc, kc, dst);
    };
#pragma omp for schedule(dynamic)
    for (int c = 0; c < nchunks; c++) {
      int r0 = c * chunk, r1 = std::min(P, r0 + chunk);
      gemm_rows(packA, r0, r1, 0, nstrips, N, K, Bp, y, N, false);
    }
  }
}

/**
 * Whether the input gradient is a forward convolution of dy (stride 1, pad < kernel), namely
 * of flipped(g): dy as the input, the filter's taps reversed and its channels swapped.
 */
static inline bool grad_input_is_forward(const Conv& g) {
  return g.stride == 1 && g.padH <= g.kH - 1 && g.padW <= g.kW - 1;
}

static inline Conv flipped(const Conv& g) {
  return Conv{g.batch, g.outH, g.outW, g.outC, g.kH, g.kW, g.inC, g.inH, g.inW, 1,
              g.kH - 1 - g.padH, g.kW - 1 - g.padW};
}

extern "C" {

/**
 * The algorithm (ConvAlgorithm code) that op 0 = nb_conv2d, 1 = nb_conv2d_grad_input or
 * 2 = nb_conv2d_grad_filter takes for the Conv fields d, so that benchmarks can say which path
 * a figure is of.
 */
int nb_conv_algorithm(int op, const int* d) {
  const Conv g = conv_from(d);
  if (op == 0) return forward_algorithm(g);
  if (op == 1) return grad_input_is_forward(g) ? forward_algorithm(flipped(g)) : ALGO_COL2IM;
  return grad_filter_algorithm(g);
}

/** y[n,oh,ow,cout] = conv(x[n,h,w,cin], w[kh,kw,cin,cout]); d holds the Conv fields. */
void nb_conv2d(const float* x, const float* w, float* y, const int* d) {
  Conv g = conv_from(d);
  conv_forward(x, w, g.outC, 1, y, g);
}

/**
 * dw[kh,kw,cin,cout] = Σ_pixels im2col(x)ᵀ · dy, a GEMM with the pixels as its reduction axis;
 * pixel chunks are summed in float, then in double.
 *
 * Large filters (K·N floats well beyond L2: the deep layers) are computed as dw = im2colᵀ · dy
 * (A-strips from the transposed im2col, B = dy, C = dw in its own layout) split by filter rows:
 * each thread owns blocks of dw rows outright and keeps their C block in cache while it runs
 * over all pixels, repacking the small dy panel per block. Splitting by pixels instead made
 * each thread write a whole K x N partial far beyond L2 every K-block and then add the
 * partials up with a transposing pass; that ran at half the speed of the forward convolution.
 *
 * Small filters (many pixels, e.g. the first layer) are split by pixels as dwᵀ = dyᵀ · im2col,
 * so the im2col rows become contiguous B-panel rows, each thread summing a whole dwᵀ.
 */
void nb_conv2d_grad_filter(const float* x, const float* dy, float* dw, const int* d) {
  Conv g = conv_from(d);
  const int K = g.kH * g.kW * g.inC, N = g.outC;
  const int P = g.batch * g.outH * g.outW;
  const i64 KN = (i64)K * N;
  if (KN == 0) return;
  if (P == 0) {
    memset(dw, 0, KN * sizeof(float));
    return;
  }
  switch (grad_filter_algorithm(g)) {
    case ALGO_WINOGRAD:
      conv_grad_filter_winograd(x, dy, dw, g);
      return;
#if MR == 6
    case ALGO_ROWS:
      conv_grad_filter_rows(x, dy, dw, g);
      return;
#endif
    default:
      break;
  }
  const int Npad = round_up(N, NR), nstrips = Npad / NR;
  const int mstrips = (K + MR - 1) / MR;
  const int chunk = 4 * KC;  // pixels summed in float before joining the double total
  const int nchunks = (P + chunk - 1) / chunk;
  int nt = threads_for(2.0 * P * KN, 4e6);
  if (KN * sizeof(float) > (1 << 20) && mstrips >= 8 * nt) {
    const int rows =
        balanced_chunk(K, MR, std::max(1, std::min(mstrips / (4 * nt), MC / MR)) * MR, nt);
    const int nblocks = (K + rows - 1) / rows;
    // dy packed once for all blocks (pixel block pc at pc * Npad, as gemm packs B): packing it
    // again for every block of rows took a quarter of the time of the deep layers.
    float* Bfull = shared_buf(0, packed_B_size(P, N));
#pragma omp parallel num_threads(nt)
    {
      pack_B_full_par(dy, N, 1, P, N, Bfull);  // ends with a barrier
      float* Ap = scratch(0, (size_t)MC * KC);
      float* part = scratch(2, (size_t)rows * N);
      double* total = scratch_d(1, (size_t)rows * N);
#pragma omp for schedule(dynamic)
      for (int b = 0; b < nblocks; b++) {
        const int k0 = b * rows, mc = std::min(rows, K - k0);
        const i64 n = (i64)mc * N;
        for (int p0 = 0; p0 < P; p0 += chunk) {
          // Float sums of pixels [p0, p1) into part (mc x N, row stride N).
          const int p1 = std::min(P, p0 + chunk);
          for (int pc = p0; pc < p1; pc += KC) {
            const int kc = std::min(KC, p1 - pc);
            const float* Bp = Bfull + (i64)pc * Npad;
            for (int ic = 0; ic < mc; ic += MC) {
              const int m = std::min(MC, mc - ic);
              pack_im2col_T<MR>(x, g, pc, kc, k0 + ic, m, Ap);
              block_kernels(m, kc, Ap, Bp, 0, nstrips, N, part + (i64)ic * N, N, pc > p0);
            }
          }
          if (p0 == 0)
            for (i64 i = 0; i < n; i++) total[i] = part[i];
          else
            for (i64 i = 0; i < n; i++) total[i] += part[i];
        }
        float* out = dw + (i64)k0 * N;
        for (i64 i = 0; i < n; i++) out[i] = (float)total[i];
      }
    }
    return;
  }
  nt = std::min(nt, nchunks);
  const int Kpad = round_up(K, NR), kstrips = Kpad / NR;
  double* totals[MAX_THREADS];
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    double* total = scratch_d(1, KN);  // dwᵀ [N, K]
    totals[t] = total;
    memset(total, 0, KN * sizeof(double));
    float* part = scratch(2, KN);
    float* Bp = scratch(3, (size_t)KC * Kpad);
    float* Ap = scratch(0, (size_t)MC * KC);
#pragma omp for schedule(dynamic)
    for (int c = 0; c < nchunks; c++) {
      const int p0 = c * chunk, p1 = std::min(P, p0 + chunk);
      for (int pc = p0; pc < p1; pc += KC) {
        const int kc = std::min(KC, p1 - pc);
        pack_B_im2col(x, g, pc, kc, K, Bp);
        for (int ic = 0; ic < N; ic += MC) {
          const int mc = std::min(MC, N - ic);
          // A(i = output channel, p = pixel) = dy[(pc + p) * N + ic + i]
          pack_A_view(dy + (i64)pc * N + ic, 1, N, mc, kc, Ap);
          block_kernels(mc, kc, Ap, Bp, 0, kstrips, K, part + (i64)ic * K, K, pc > p0);
        }
      }
      for (i64 i = 0; i < KN; i++) total[i] += part[i];
    }
#pragma omp barrier
    const int T = omp_get_num_threads();
#pragma omp for schedule(static)
    for (int k = 0; k < K; k++)
      for (int co = 0; co < N; co++) {
        double s = 0;
        for (int u = 0; u < T; u++) s += totals[u][(i64)co * K + k];
        dw[(i64)k * N + co] = (float)s;
      }
  }
}

/**
 * dx = conv2d gradient in its input. Stride 1 (with pad < kernel) is the forward convolution of
 * dy with the spatially flipped, in/out-swapped filter; other strides go through dcol = dy·wᵀ
 * and a col2im scatter, images split across threads so no two threads write one pixel.
 */
void nb_conv2d_grad_input(const float* dy, const float* w, float* dx, const int* d) {
  Conv g = conv_from(d);
  const int K = g.kH * g.kW * g.inC;
  const i64 xsize = (i64)g.batch * g.inH * g.inW * g.inC;
  if (xsize == 0) return;
  if (g.outC == 0 || K == 0) {
    memset(dx, 0, xsize * sizeof(float));
    return;
  }
  if (grad_input_is_forward(g)) {
    // w'[ky,kx,co,ci] = w[kh-1-ky, kw-1-kx, ci, co]: taps reversed, each tap transposed. The
    // transpose goes 16 input channels at a time (16 sequential read streams, contiguous
    // writes) on all threads: element by element on one thread it strode through memory and
    // took 5% of the last layer's input-gradient time.
    const int taps = g.kH * g.kW, CI = g.inC, CO = g.outC;
    float* wf = shared_buf(1, (i64)K * CO);
    const int cblocks = (CI + 15) / 16;
    const int tnt = threads_for((double)K * CO, 1 << 17);
#pragma omp parallel for num_threads(tnt) schedule(static)
    for (int t = 0; t < taps * cblocks; t++) {
      const int tap = t / cblocks, c0 = t % cblocks * 16, c1 = std::min(CI, c0 + 16);
      const float* src = w + (i64)(taps - 1 - tap) * CI * CO;
      float* dst = wf + (i64)tap * CO * CI;
      for (int co = 0; co < CO; co++)
        for (int ci = c0; ci < c1; ci++) dst[(i64)co * CI + ci] = src[(i64)ci * CO + co];
    }
    conv_forward(dy, wf, g.inC, 1, dx, flipped(g));
    return;
  }
  // dcol[P, K] = dy[P, outC] · wᵀ where w is [K, outC]: B(k=co, j=kk) = w[kk*outC + co].
  const int Nn = K, Kk = g.outC;
  float* Bp = shared_buf(0, packed_B_size(Kk, Nn));
  const int nstrips = (Nn + NR - 1) / NR;
  const int OHW = g.outH * g.outW;
  const i64 imgSize = (i64)g.inH * g.inW * g.inC;
  // Whole images per chunk (no two threads write one pixel), several when they are small: one
  // image of a deep layer is 16 pixels, and a GEMM of 16 rows reloads each B strip for 3 tiles.
  const int ipc = std::max(1, std::min((MC + OHW - 1) / OHW, g.batch / 8));
  const int nchunks = (g.batch + ipc - 1) / ipc;
  int nt = threads_for(2.0 * g.batch * OHW * (double)Nn * Kk, 4e6);
  nt = std::min(nt, nchunks);
#pragma omp parallel num_threads(nt)
  {
    pack_B_full_par(w, 1, g.outC, Kk, Nn, Bp);
    float* col = scratch(1, (size_t)MC * Nn);
#pragma omp for schedule(dynamic)
    for (int c = 0; c < nchunks; c++) {
      const int b0 = c * ipc, b1 = std::min(g.batch, b0 + ipc);
      memset(dx + b0 * imgSize, 0, (b1 - b0) * imgSize * sizeof(float));
      const int pend = b1 * OHW;
      for (int r0 = b0 * OHW; r0 < pend; r0 += MC) {
        const int r1 = std::min(pend, r0 + MC);
        // Row indices in gemm_rows are relative to `col`; A rows start at pixel r0.
        auto packA = [&](int ic, int mc, int pc, int kc, float* dst) {
          pack_A_view(dy + (i64)(r0 + ic) * g.outC + pc, g.outC, 1, mc, kc, dst);
        };
        gemm_rows(packA, 0, r1 - r0, 0, nstrips, Nn, Kk, Bp, col, Nn, false);
        for (int r = r0; r < r1; r++) {
          const int b = r / OHW, rr = r % OHW;
          const int oy = rr / g.outW, ox = rr % g.outW;
          float* img = dx + b * imgSize;
          const float* crow = col + (i64)(r - r0) * Nn;
          for (int ky = 0; ky < g.kH; ky++) {
            int iy = oy * g.stride - g.padH + ky;
            if (iy < 0 || iy >= g.inH) continue;
            for (int kx = 0; kx < g.kW; kx++) {
              int ix = ox * g.stride - g.padW + kx;
              if (ix < 0 || ix >= g.inW) continue;
              float* o = img + ((i64)iy * g.inW + ix) * g.inC;
              const float* s = crow + (ky * g.kW + kx) * g.inC;
              for (int ci = 0; ci < g.inC; ci++) o[ci] += s[ci];
            }
          }
        }
      }
    }
  }
}

}  // extern "C"
