// Kernels of the native CPU backend: a blocked SGEMM (packed panels, register-tiled micro-kernel
// written with GCC vector extensions so -march=native picks AVX-512, AVX2 or SSE), convolutions
// as implicit-im2col GEMMs, max pooling, broadcasting elementwise ops, reductions, strided
// copies and fused batch norm. Parallel loops use OpenMP. Every entry point is `extern "C"` and
// called through Deno's FFI from native_backend.ts, which validates shapes before calling;
// nothing here allocates tensors (outputs are passed in), only scratch buffers that live for the
// process.
//
// Numerics: products accumulate in float32 inside the GEMM (in KC-long register runs); long
// reductions (reduce sum, convolution filter gradients, batch-norm sums) accumulate in double, so
// results stay within ~1e-6 relative of the float64 reference.

#include <omp.h>
#if defined(__SSE__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

typedef int64_t i64;

#if defined(__AVX512F__)
#define VL 16
#define MR 12
#elif defined(__AVX__)
#define VL 8
#define MR 6
#else
#define VL 4
#define MR 6
#endif
#define NR (2 * VL)
// K-block: a B micro-panel (KC x NR floats = 32 KiB with AVX-512) stays in L1 while the A
// block (MC x KC) streams from L2.
#define KC 256
#define MC (MR * 20)

typedef float vf __attribute__((vector_size(VL * 4)));
typedef float vfu __attribute__((vector_size(VL * 4), aligned(4)));

static int g_threads = 1;

// ---------------------------------------------------------------------------------------------
// Scratch memory: per thread and per purpose, grown on demand and kept for the process.

#define MAX_THREADS 64
#define SLOTS 5
struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
};
static Scratch g_scratch[MAX_THREADS][SLOTS];
static Scratch g_shared[SLOTS];

static void* grow(Scratch& s, size_t bytes) {
  if (s.bytes < bytes) {
    free(s.p);
    size_t b = (bytes + 4095) & ~size_t(4095);
    s.p = aligned_alloc(64, b);
    if (!s.p) {
      fprintf(stderr, "native backend: out of memory allocating %zu bytes of scratch\n", b);
      abort();
    }
    s.bytes = b;
  }
  return s.p;
}
static float* scratch(int slot, size_t floats) {
  int t = omp_get_thread_num();
  return (float*)grow(g_scratch[t][slot], floats * sizeof(float));
}
static double* scratch_d(int slot, size_t n) {
  int t = omp_get_thread_num();
  return (double*)grow(g_scratch[t][slot], n * sizeof(double));
}
static float* shared_buf(int slot, size_t floats) {
  return (float*)grow(g_shared[slot], floats * sizeof(float));
}

static inline int round_up(int v, int m) { return (v + m - 1) / m * m; }
/**
 * Chunk size (a multiple of `unit`, at most about `max_chunk`) for dynamically scheduled loops
 * over `total` items on `nt` threads, chosen so that the threads finish together: of a few
 * chunk counts (multiples of nt), the one whose busiest thread has the least work, fewest
 * chunks on ties. E.g. 2048 pixels in chunks of 480 left one thread a fifth chunk while the
 * other idled, and 192 strips in blocks of 20 left one thread 4% more than the other.
 */
static inline int balanced_chunk(int total, int unit, int max_chunk, int nt) {
  const int units = std::max(1, (total + unit - 1) / unit);
  const int max_units = std::max(1, max_chunk / unit);
  nt = std::max(1, nt);
  int n0 = (units + max_units - 1) / max_units;
  n0 = (n0 + nt - 1) / nt * nt;
  int best = 0;
  i64 best_load = 0;
  for (int n = n0; n <= n0 + 4 * nt; n += nt) {
    const int per = (units + n - 1) / n, chunks = (units + per - 1) / per;
    const i64 load = (i64)((chunks + nt - 1) / nt) * per;  // units on the busiest thread
    if (best == 0 || load < best_load) {
      best = per;
      best_load = load;
    }
  }
  return best * unit;
}

static inline int threads_for(double work, double per_thread_min) {
  if (g_threads <= 1 || work < per_thread_min) return 1;
  int t = (int)(work / per_thread_min);
  return std::max(1, std::min(g_threads, t));
}

extern "C" {

// ---------------------------------------------------------------------------------------------
// Memory and threads.

/**
 * Allocates `floats` floats, 64-byte aligned. (No huge-page advice: on the VMs this runs on,
 * faulting in a huge page costs more than the TLB misses it saves.)
 */
void* nb_alloc(int floats) {
  size_t b = std::max<size_t>((size_t)std::max(floats, 0) * sizeof(float), 64);
  b = (b + 63) & ~size_t(63);
  return aligned_alloc(64, b);
}

void nb_free(void* p) { free(p); }

void nb_set_threads(int n) {
  g_threads = std::max(1, std::min(n, MAX_THREADS));
  omp_set_num_threads(g_threads);
}

int nb_get_threads(void) { return g_threads; }

/** The SIMD width in floats the library was compiled for (16 means AVX-512). */
int nb_simd_width(void) { return VL; }

void nb_fill(float* dst, int n, float value) {
  int nt = threads_for((double)n, 1 << 18);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (i64 i = 0; i < n; i++) dst[i] = value;
}

void nb_copy(float* dst, const float* src, int n_) {
  i64 n = n_;
  int nt = threads_for((double)n, 1 << 19);
  if (nt == 1) {
    memcpy(dst, src, n * sizeof(float));
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads();
    i64 a = n * t / T, b = n * (t + 1) / T;
    memcpy(dst + a, src + a, (b - a) * sizeof(float));
  }
}

}  // extern "C"

// ---------------------------------------------------------------------------------------------
// GEMM building blocks. Packed A: strips of MR rows, each strip KC x MR (k-major). Packed B:
// for each K-block, strips of NR columns, each KC x NR (k-major), zero-padded at the edges.

/** C[MR x NR] (+)= A-strip · B-strip over kc steps. */
static inline __attribute__((always_inline)) void micro_kernel(int kc, const float* __restrict A,
                                                               const float* __restrict B,
                                                               float* __restrict C, i64 ldc,
                                                               bool acc) {
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
      c0[i] += A[i] * b0;
      c1[i] += A[i] * b1;
    }
    A += MR;
    B += NR;
  }
  if (acc) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      vfu* row = (vfu*)(C + i * ldc);
      row[0] += c0[i];
      row[1] += c1[i];
    }
  } else {
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      vfu* row = (vfu*)(C + i * ldc);
      row[0] = c0[i];
      row[1] = c1[i];
    }
  }
}

static __attribute__((noinline)) void micro_kernel_edge(int kc, const float* A, const float* B,
                                                        float* C, i64 ldc, bool acc, int mr,
                                                        int nr) {
  alignas(64) float t[MR * NR];
  micro_kernel(kc, A, B, t, NR, false);
  for (int i = 0; i < mr; i++) {
    float* c = C + i * ldc;
    const float* s = t + i * NR;
    if (acc)
      for (int j = 0; j < nr; j++) c[j] += s[j];
    else
      for (int j = 0; j < nr; j++) c[j] = s[j];
  }
}

static __attribute__((noinline)) void micro_kernel_full(int kc, const float* A, const float* B,
                                                        float* C, i64 ldc, bool acc) {
  micro_kernel(kc, A, B, C, ldc, acc);
}

/** Runs the micro-kernels of one packed A block (mc rows) against B strips [s0, s1). */
static void block_kernels(int mc, int kc, const float* Ap, const float* Bpanel, int s0, int s1,
                          int N, float* C, i64 ldc, bool acc) {
  for (int s = s0; s < s1; s++) {
    int j = s * NR;
    int nr = std::min(NR, N - j);
    const float* Bs = Bpanel + (i64)s * kc * NR;
    for (int ir = 0; ir < mc; ir += MR) {
      int mr = std::min(MR, mc - ir);
      float* Cij = C + (i64)ir * ldc + j;
      const float* As = Ap + (i64)ir * kc;
      if (mr == MR && nr == NR)
        micro_kernel_full(kc, As, Bs, Cij, ldc, acc);
      else
        micro_kernel_edge(kc, As, Bs, Cij, ldc, acc, mr, nr);
    }
  }
}

/** Packs rows [0, mc) x k [0, kc) of a strided view (element (i,p) at A[i*rs + p*cs]). */
static void pack_A_view(const float* A, i64 rs, i64 cs, int mc, int kc, float* dst) {
  for (int s = 0; s < mc; s += MR) {
    int mr = std::min(MR, mc - s);
    float* d = dst + (i64)s * kc;
    if (rs == 1) {
      for (int p = 0; p < kc; p++) {
        const float* col = A + p * cs + s;
        float* dd = d + p * MR;
        int i = 0;
        for (; i < mr; i++) dd[i] = col[i];
        for (; i < MR; i++) dd[i] = 0.0f;
      }
    } else {
      for (int i = 0; i < mr; i++) {
        const float* row = A + (i64)(s + i) * rs;
        if (cs == 1)
          for (int p = 0; p < kc; p++) d[p * MR + i] = row[p];
        else
          for (int p = 0; p < kc; p++) d[p * MR + i] = row[p * cs];
      }
      for (int i = mr; i < MR; i++)
        for (int p = 0; p < kc; p++) d[p * MR + i] = 0.0f;
    }
  }
}

/** Packs k [0, kc) x columns [0, ncols) of a strided view into NR-strips (zero-padded). */
static void pack_B_view(const float* B, i64 rs, i64 cs, int kc, int ncols, float* dst) {
  for (int j0 = 0; j0 < ncols; j0 += NR) {
    int nr = std::min(NR, ncols - j0);
    float* d = dst + (i64)(j0 / NR) * kc * NR;
    if (cs == 1) {
      for (int p = 0; p < kc; p++) {
        const float* src = B + p * rs + j0;
        float* dd = d + p * NR;
        int j = 0;
        for (; j < nr; j++) dd[j] = src[j];
        for (; j < NR; j++) dd[j] = 0.0f;
      }
    } else {
      for (int j = 0; j < nr; j++) {
        const float* col = B + (i64)(j0 + j) * cs;
        for (int p = 0; p < kc; p++) d[p * NR + j] = col[p * rs];
      }
      for (int j = nr; j < NR; j++)
        for (int p = 0; p < kc; p++) d[p * NR + j] = 0.0f;
    }
  }
}

/** Size in floats of a fully packed K x N matrix. */
static inline i64 packed_B_size(int K, int N) { return (i64)K * round_up(std::max(N, 1), NR); }

/**
 * Packs all of B (K x N view) for gemm_rows: K-block pc starts at pc * Npad, strip s of it at
 * s * kc * NR. Call inside a parallel region (work is shared with omp for).
 */
static void pack_B_full_par(const float* B, i64 rs, i64 cs, int K, int N, float* dst) {
  int Npad = round_up(std::max(N, 1), NR);
  int nblocks = (K + KC - 1) / KC, nstrips = Npad / NR;
#pragma omp for schedule(static)
  for (int t = 0; t < nblocks * nstrips; t++) {
    int pb = t / nstrips, s = t % nstrips;
    int pc = pb * KC, kc = std::min(KC, K - pc);
    int j0 = s * NR;
    pack_B_view(B + pc * rs + j0 * cs, rs, cs, kc, std::min(NR, N - j0),
                dst + (i64)pc * Npad + (i64)s * kc * NR);
  }
}

/**
 * C rows [r0, r1) x strips [s0, s1) of op(A)·B with B fully packed. `packA(ic, mc, pc, kc, dst)`
 * packs rows [ic, ic+mc) x k [pc, pc+kc) of A.
 */
template <class PackA>
static void gemm_rows(PackA&& packA, int r0, int r1, int s0, int s1, int N, int K,
                      const float* Bp, float* C, i64 ldc, bool accumulate) {
  if (r1 <= r0 || s1 <= s0) return;
  if (K == 0) {
    if (!accumulate)
      for (int i = r0; i < r1; i++)
        for (int j = s0 * NR; j < std::min(N, s1 * NR); j++) C[(i64)i * ldc + j] = 0.0f;
    return;
  }
  int Npad = round_up(N, NR);
  float* Ap = scratch(0, (size_t)MC * KC);
  for (int pc = 0; pc < K; pc += KC) {
    int kc = std::min(KC, K - pc);
    bool acc = accumulate || pc > 0;
    const float* Bpanel = Bp + (i64)pc * Npad;
    for (int ic = r0; ic < r1; ic += MC) {
      int mc = std::min(MC, r1 - ic);
      packA(ic, mc, pc, kc, Ap);
      block_kernels(mc, kc, Ap, Bpanel, s0, s1, N, C + (i64)ic * ldc, ldc, acc);
    }
  }
}

/** Splits `total` units into `parts` contiguous ranges; returns range `t`. */
static inline void split_range(int total, int parts, int t, int& a, int& b) {
  a = (int)((i64)total * t / parts);
  b = (int)((i64)total * (t + 1) / parts);
}

/** C[M,N] = op(A)[M,K] · op(B)[K,N] for strided views; parallel over rows or column strips. */
static void gemm(int M, int N, int K, const float* A, i64 ars, i64 acs, const float* B, i64 brs,
                 i64 bcs, float* C, i64 ldc) {
  if (M == 0 || N == 0) return;
  float* Bp = shared_buf(0, packed_B_size(K, N));
  int nt = threads_for(2.0 * M * N * K, 4e6);
  int mstrips = (M + MR - 1) / MR, nstrips = (N + NR - 1) / NR;
#pragma omp parallel num_threads(nt)
  {
    pack_B_full_par(B, brs, bcs, K, N, Bp);  // ends with a barrier
    int T = omp_get_num_threads(), t = omp_get_thread_num();
    auto packA = [&](int ic, int mc, int pc, int kc, float* dst) {
      pack_A_view(A + ic * ars + pc * acs, ars, acs, mc, kc, dst);
    };
    if (mstrips >= 4 * T || mstrips >= nstrips) {
      // Row chunks handed out dynamically so a core busy with other work takes fewer.
      int chunk = std::max(1, std::min(mstrips / (4 * T), MC / MR * 4)) * MR;
      chunk = balanced_chunk(M, MR, chunk, T);
      int nchunks = (M + chunk - 1) / chunk;
#pragma omp for schedule(dynamic)
      for (int c = 0; c < nchunks; c++) {
        int r0 = c * chunk, r1 = std::min(M, r0 + chunk);
        gemm_rows(packA, r0, r1, 0, nstrips, N, K, Bp, C, ldc, false);
      }
    } else {
      int s0, s1;
      split_range(nstrips, T, t, s0, s1);
      gemm_rows(packA, 0, M, s0, s1, N, K, Bp, C, ldc, false);
    }
  }
}

extern "C" {

/**
 * c[M,N] = op(a)·op(b): a is [M,K] (or [K,M] when ta), b is [K,N] (or [N,K] when tb), row-major.
 */
void nb_matmul(const float* a, const float* b, float* c, int M, int N, int K, int ta, int tb) {
  i64 ars = ta ? 1 : K, acs = ta ? M : 1;
  i64 brs = tb ? 1 : N, bcs = tb ? K : 1;
  gemm(M, N, K, a, ars, acs, b, brs, bcs, c, N);
}

}  // extern "C"

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

/** y = conv(x, w) with w viewed as a strided [K, outC] matrix (row stride wrs, col stride wcs). */
static void conv_forward(const float* x, const float* w, i64 wrs, i64 wcs, float* y,
                         const Conv& g) {
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

extern "C" {

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
  const int Npad = round_up(N, NR), nstrips = Npad / NR;
  const int mstrips = (K + MR - 1) / MR;
  const int chunk = 4 * KC;  // pixels summed in float before joining the double total
  const int nchunks = (P + chunk - 1) / chunk;
  int nt = threads_for(2.0 * P * KN, 4e6);
  /** Float sums of pixels [p0, p1) for dw rows [k0, k0+mc) into part (mc x N, row stride N). */
  auto chunk_sum = [&](int k0, int mc, int p0, int p1, float* part, float* Ap, float* Bp) {
    for (int pc = p0; pc < p1; pc += KC) {
      const int kc = std::min(KC, p1 - pc);
      pack_B_view(dy + (i64)pc * N, N, 1, kc, N, Bp);
      for (int ic = 0; ic < mc; ic += MC) {
        const int m = std::min(MC, mc - ic);
        pack_im2col_T<MR>(x, g, pc, kc, k0 + ic, m, Ap);
        block_kernels(m, kc, Ap, Bp, 0, nstrips, N, part + (i64)ic * N, N, pc > p0);
      }
    }
  };
  if (KN * sizeof(float) > (1 << 20) && mstrips >= 8 * nt) {
    const int rows =
        balanced_chunk(K, MR, std::max(1, std::min(mstrips / (4 * nt), MC / MR)) * MR, nt);
    const int nblocks = (K + rows - 1) / rows;
#pragma omp parallel num_threads(nt)
    {
      float* Ap = scratch(0, (size_t)MC * KC);
      float* Bp = scratch(3, (size_t)KC * Npad);
      float* part = scratch(2, (size_t)rows * N);
      double* total = scratch_d(1, (size_t)rows * N);
#pragma omp for schedule(dynamic)
      for (int b = 0; b < nblocks; b++) {
        const int k0 = b * rows, mc = std::min(rows, K - k0);
        const i64 n = (i64)mc * N;
        for (int p0 = 0; p0 < P; p0 += chunk) {
          chunk_sum(k0, mc, p0, std::min(P, p0 + chunk), part, Ap, Bp);
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
  if (g.stride == 1 && g.padH <= g.kH - 1 && g.padW <= g.kW - 1) {
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
    Conv f{g.batch, g.outH, g.outW, g.outC, g.kH, g.kW, g.inC, g.inH, g.inW, 1,
           g.kH - 1 - g.padH, g.kW - 1 - g.padW};
    conv_forward(dy, wf, g.inC, 1, dx, f);
    return;
  }
  // dcol[P, K] = dy[P, outC] · wᵀ where w is [K, outC]: B(k=co, j=kk) = w[kk*outC + co].
  const int Nn = K, Kk = g.outC;
  float* Bp = shared_buf(0, packed_B_size(Kk, Nn));
  const int nstrips = (Nn + NR - 1) / NR;
  const int OHW = g.outH * g.outW;
  const i64 imgSize = (i64)g.inH * g.inW * g.inC;
  int nt = threads_for(2.0 * g.batch * OHW * (double)Nn * Kk, 4e6);
  nt = std::min(nt, g.batch);
#pragma omp parallel num_threads(nt)
  {
    pack_B_full_par(w, 1, g.outC, Kk, Nn, Bp);
    float* col = scratch(1, (size_t)MC * Nn);
#pragma omp for schedule(dynamic)
    for (int b = 0; b < g.batch; b++) {
      float* img = dx + b * imgSize;
      memset(img, 0, imgSize * sizeof(float));
      for (int r0 = 0; r0 < OHW; r0 += MC) {
        int r1 = std::min(OHW, r0 + MC);
        int base = b * OHW;
        // Row indices in gemm_rows are relative to `col`; A rows start at pixel base + r0.
        auto packA = [&](int ic, int mc, int pc, int kc, float* dst) {
          pack_A_view(dy + (i64)(base + r0 + ic) * g.outC + pc, g.outC, 1, mc, kc, dst);
        };
        gemm_rows(packA, 0, r1 - r0, 0, nstrips, Nn, Kk, Bp, col, Nn, false);
        for (int r = r0; r < r1; r++) {
          int oy = r / g.outW, ox = r % g.outW;
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

// ---------------------------------------------------------------------------------------------
// Max pooling (VALID). d = {batch, inH, inW, C, outH, outW, size, stride}.

void nb_maxpool(const float* x, float* y, const int* d) {
  const int batch = d[0], inH = d[1], inW = d[2], C = d[3], outH = d[4], outW = d[5];
  const int size = d[6], stride = d[7];
  const i64 rows = (i64)batch * outH;
  int nt = threads_for((double)rows * outW * C * size * size, 1 << 17);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (i64 r = 0; r < rows; r++) {
    int b = (int)(r / outH), oy = (int)(r % outH);
    for (int ox = 0; ox < outW; ox++) {
      float* o = y + ((r * outW) + ox) * C;
      const float* corner = x + (((i64)b * inH + oy * stride) * inW + ox * stride) * C;
      for (int c = 0; c < C; c++) o[c] = corner[c];
      for (int ky = 0; ky < size; ky++)
        for (int kx = 0; kx < size; kx++) {
          if (ky == 0 && kx == 0) continue;
          const float* v = corner + ((i64)ky * inW + kx) * C;
          // Strictly greater, like the reference: the first maximum wins and a NaN in the
          // first position stays.
          for (int c = 0; c < C; c++) o[c] = v[c] > o[c] ? v[c] : o[c];
        }
    }
  }
}

void nb_maxpool_grad(const float* dy, const float* x, float* dx, const int* d) {
  const int batch = d[0], inH = d[1], inW = d[2], C = d[3], outH = d[4], outW = d[5];
  const int size = d[6], stride = d[7];
  const i64 img = (i64)inH * inW * C;
  // Windows that tile the image exactly own each pixel once: write instead of accumulate.
  const bool tiles = size == stride && outH * size == inH && outW * size == inW;
  int nt = threads_for((double)batch * img, 1 << 17);
  nt = std::min(nt, std::max(batch, 1));
#pragma omp parallel num_threads(nt)
  {
    float* best = scratch(0, (size_t)C);
    int* taken = (int*)scratch(1, (size_t)C);
#pragma omp for schedule(static)
    for (int b = 0; b < batch; b++) {
      float* dxi = dx + b * img;
      const float* xi = x + b * img;
      if (!tiles) memset(dxi, 0, img * sizeof(float));
      for (int oy = 0; oy < outH; oy++)
        for (int ox = 0; ox < outW; ox++) {
          const i64 cornerOff = ((i64)oy * stride * inW + ox * stride) * C;
          const float* corner = xi + cornerOff;
          const float* g = dy + (((i64)b * outH + oy) * outW + ox) * C;
          for (int c = 0; c < C; c++) best[c] = corner[c];
          for (int k = 1; k < size * size; k++) {
            const float* v = corner + ((i64)(k / size) * inW + (k % size)) * C;
            for (int c = 0; c < C; c++) best[c] = v[c] > best[c] ? v[c] : best[c];
          }
          // The winner is the first position holding the final maximum; a NaN maximum can only
          // come from position 0 (strict > never picks a later NaN), which then wins.
          for (int k = 0; k < size * size; k++) {
            const i64 off = ((i64)(k / size) * inW + (k % size)) * C;
            const float* v = corner + off;
            float* o = dxi + cornerOff + off;
            if (k == 0) {
              for (int c = 0; c < C; c++) {
                const int hit = (v[c] == best[c]) | (best[c] != best[c]);
                taken[c] = hit;
                const float share = hit ? g[c] : 0.0f;
                o[c] = tiles ? share : o[c] + share;
              }
            } else {
              for (int c = 0; c < C; c++) {
                const int hit = !taken[c] & (v[c] == best[c]);
                taken[c] |= hit;
                const float share = hit ? g[c] : 0.0f;
                o[c] = tiles ? share : o[c] + share;
              }
            }
          }
        }
    }
  }
}

}  // extern "C"

// ---------------------------------------------------------------------------------------------
// Elementwise kernels.

enum UnaryOp { U_NEG = 0, U_EXP, U_LOG, U_SQRT, U_RELU, U_STEP };
enum BinaryOp { B_ADD = 0, B_SUB, B_MUL, B_DIV, B_MAX };

/** Math.max semantics: NaN if either is NaN, +0 over -0. */
static inline float js_max(float a, float b) {
  if (a > b) return a;
  if (b > a) return b;
  if (a != a || b != b) return NAN;
  return std::signbit(a) ? b : a;
}

template <int OP>
static inline float unary_f(float v) {
  if (OP == U_NEG) return -v;
  if (OP == U_EXP) return (float)std::exp((double)v);
  if (OP == U_LOG) return (float)std::log((double)v);
  if (OP == U_SQRT) return std::sqrt(v);
  if (OP == U_RELU) return v < 0.0f ? 0.0f : v;
  return v > 0.0f ? 1.0f : (v <= 0.0f ? 0.0f : v);  // step; NaN stays NaN
}

// Streaming (non-temporal) stores for outputs larger than the caches: the next kernel reads
// them from memory anyway, and skipping the read-for-ownership of each output line makes these
// memory-bound kernels ~30% faster.
static const i64 STREAM_MIN_FLOATS = 1 << 21;  // 8 MiB

static inline vf loadu(const float* p) {
  vf v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline vf splat(float x) { return (vf){} + x; }
static inline void stream_store(float* p, vf v) {
#if defined(__AVX512F__)
  _mm512_stream_ps(p, (__m512)v);
#elif defined(__AVX__)
  _mm256_stream_ps(p, (__m256)v);
#elif defined(__SSE__)
  _mm_stream_ps(p, (__m128)v);
#else
  *(vf*)p = v;
#endif
}
static inline void stream_fence() {
#if defined(__SSE__)
  __builtin_ia32_sfence();
#endif
}
static inline bool vec_aligned(const float* p) { return ((uintptr_t)p & (sizeof(vf) - 1)) == 0; }

/** Whether a unary op has a vector form (exp, log and sqrt stay scalar: float64 libm). */
template <int OP>
static constexpr bool unary_has_vec() {
  return OP == U_NEG || OP == U_RELU || OP == U_STEP;
}
template <int OP>
static inline vf unary_vec(vf v) {
  if (OP == U_NEG) return -v;
  if (OP == U_RELU) return v < 0.0f ? splat(0.0f) : v;
  return v > 0.0f ? splat(1.0f) : (v <= 0.0f ? splat(0.0f) : v);
}

template <int OP>
static void unary_run(const float* __restrict x, float* __restrict y, i64 n) {
  int nt = threads_for((double)n, OP == U_EXP || OP == U_LOG ? 1 << 13 : 1 << 17);
  if (unary_has_vec<OP>() && n >= STREAM_MIN_FLOATS) {
#pragma omp parallel num_threads(nt)
    {
      int T = omp_get_num_threads(), t = omp_get_thread_num();
      i64 a = n * t / T, b = n * (t + 1) / T, i = a;
      for (; i < b && !vec_aligned(y + i); i++) y[i] = unary_f<OP>(x[i]);
      for (; i + VL <= b; i += VL) stream_store(y + i, unary_vec<OP>(loadu(x + i)));
      for (; i < b; i++) y[i] = unary_f<OP>(x[i]);
      stream_fence();
    }
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(static)
  for (i64 i = 0; i < n; i++) y[i] = unary_f<OP>(x[i]);
}

template <int OP>
static inline float binary_f(float a, float b) {
  if (OP == B_ADD) return a + b;
  if (OP == B_SUB) return a - b;
  if (OP == B_MUL) return a * b;
  if (OP == B_DIV) return a / b;
  return js_max(a, b);
}

template <int OP>
static constexpr bool binary_has_vec() {
  return OP != B_MAX;
}
template <int OP>
static inline vf binary_vec(vf a, vf b) {
  if (OP == B_ADD) return a + b;
  if (OP == B_SUB) return a - b;
  if (OP == B_MUL) return a * b;
  return a / b;
}

/** o[k] = a[k·SA] ⊕ b[k·SB] for k < len (SA, SB: 1 contiguous, 0 broadcast), streaming stores. */
template <int OP, int SA, int SB>
static inline void binary_stream(const float* __restrict pa, const float* __restrict pb,
                                 float* __restrict o, i64 len) {
  i64 k = 0;
  for (; k < len && !vec_aligned(o + k); k++) o[k] = binary_f<OP>(pa[k * SA], pb[k * SB]);
  const vf a0 = splat(pa[0]), b0 = splat(pb[0]);
  for (; k + VL <= len; k += VL)
    stream_store(o + k, binary_vec<OP>(SA ? loadu(pa + k) : a0, SB ? loadu(pb + k) : b0));
  for (; k < len; k++) o[k] = binary_f<OP>(pa[k * SA], pb[k * SB]);
}

#define MAX_RANK 16

/**
 * Merges adjacent axes that every operand walks contiguously (or broadcasts along both) and
 * drops size-1 axes. `strides` holds `nops` stride arrays of `rank` entries each.
 */
static int coalesce(int rank, i64* shape, i64 strides[][MAX_RANK], int nops) {
  int r = 0;
  for (int i = 0; i < rank; i++) {
    if (shape[i] == 1) continue;
    if (r > 0) {
      bool merge = true;
      for (int o = 0; o < nops; o++)
        if (strides[o][r - 1] != strides[o][i] * shape[i]) merge = false;
      if (merge) {
        shape[r - 1] *= shape[i];
        for (int o = 0; o < nops; o++) strides[o][r - 1] = strides[o][i];
        continue;
      }
    }
    shape[r] = shape[i];
    for (int o = 0; o < nops; o++) strides[o][r] = strides[o][i];
    r++;
  }
  if (r == 0) {
    shape[0] = 1;
    for (int o = 0; o < nops; o++) strides[o][0] = 0;
    r = 1;
  }
  return r;
}

/** Multi-index of flat position `e` over the outer axes [0, rank-1). */
static inline void unravel(i64 e, int rank, const i64* shape, i64* idx) {
  for (int a = rank - 2; a >= 0; a--) {
    idx[a] = e % shape[a];
    e /= shape[a];
  }
}

template <int OP>
static void binary_run(const float* a, const float* b, float* out, int rank, i64* shape,
                       i64 st[][MAX_RANK]) {
  rank = coalesce(rank, shape, st, 2);
  i64 inner = shape[rank - 1];
  i64 outer = 1;
  for (int i = 0; i < rank - 1; i++) outer *= shape[i];
  i64 total = outer * inner;
  const i64 sa = st[0][rank - 1], sb = st[1][rank - 1];
  const bool stream = binary_has_vec<OP>() && total >= STREAM_MIN_FLOATS && inner >= 4 * VL;
  int nt = threads_for((double)total, 1 << 17);
#pragma omp parallel num_threads(nt)
  {
    int T = omp_get_num_threads(), t = omp_get_thread_num();
    i64 e0 = total * t / T, e1 = total * (t + 1) / T;
    i64 idx[MAX_RANK];
    i64 row = e0 / inner, j = e0 % inner;
    unravel(row, rank, shape, idx);
    i64 ao = 0, bo = 0;
    for (int x = 0; x < rank - 1; x++) {
      ao += idx[x] * st[0][x];
      bo += idx[x] * st[1][x];
    }
    i64 e = e0;
    while (e < e1) {
      i64 len = std::min(inner - j, e1 - e);
      float* __restrict o = out + e;
      const float* __restrict pa = a + ao + j * sa;
      const float* __restrict pb = b + bo + j * sb;
      if (stream && sa == 1 && sb == 1)
        binary_stream<OP, 1, 1>(pa, pb, o, len);
      else if (stream && sa == 1 && sb == 0)
        binary_stream<OP, 1, 0>(pa, pb, o, len);
      else if (stream && sa == 0 && sb == 1)
        binary_stream<OP, 0, 1>(pa, pb, o, len);
      else if (sa == 1 && sb == 1)
        for (i64 k = 0; k < len; k++) o[k] = binary_f<OP>(pa[k], pb[k]);
      else if (sa == 1 && sb == 0) {
        const float bv = pb[0];
        for (i64 k = 0; k < len; k++) o[k] = binary_f<OP>(pa[k], bv);
      } else if (sa == 0 && sb == 1) {
        const float av = pa[0];
        for (i64 k = 0; k < len; k++) o[k] = binary_f<OP>(av, pb[k]);
      } else
        for (i64 k = 0; k < len; k++) o[k] = binary_f<OP>(pa[k * sa], pb[k * sb]);
      e += len;
      j = 0;
      // Odometer over the outer axes.
      for (int x = rank - 2; x >= 0; x--) {
        idx[x]++;
        ao += st[0][x];
        bo += st[1][x];
        if (idx[x] < shape[x]) break;
        ao -= st[0][x] * shape[x];
        bo -= st[1][x] * shape[x];
        idx[x] = 0;
      }
    }
    if (stream) stream_fence();
  }
}

/** Copies a strided source block to a strided destination (both given per axis). */
static void copy_run(float* dst, const float* src, int rank, i64* shape, i64 st[][MAX_RANK]) {
  rank = coalesce(rank, shape, st, 2);
  i64 inner = shape[rank - 1];
  i64 outer = 1;
  for (int i = 0; i < rank - 1; i++) outer *= shape[i];
  i64 total = outer * inner;
  const i64 sd = st[0][rank - 1], ss = st[1][rank - 1];
  const bool stream = total >= STREAM_MIN_FLOATS && inner >= 4 * VL;
  int nt = threads_for((double)total, 1 << 18);
#pragma omp parallel num_threads(nt)
  {
    int T = omp_get_num_threads(), t = omp_get_thread_num();
    i64 e0 = total * t / T, e1 = total * (t + 1) / T;
    i64 idx[MAX_RANK];
    i64 row = e0 / inner, j = e0 % inner;
    unravel(row, rank, shape, idx);
    i64 dof = 0, sof = 0;
    for (int x = 0; x < rank - 1; x++) {
      dof += idx[x] * st[0][x];
      sof += idx[x] * st[1][x];
    }
    i64 e = e0;
    while (e < e1) {
      i64 len = std::min(inner - j, e1 - e);
      float* __restrict d = dst + dof + j * sd;
      const float* __restrict s = src + sof + j * ss;
      if (stream && sd == 1 && (ss == 1 || ss == 0)) {
        i64 k = 0;
        for (; k < len && !vec_aligned(d + k); k++) d[k] = s[k * ss];
        const vf v0 = splat(s[0]);
        for (; k + VL <= len; k += VL) stream_store(d + k, ss ? loadu(s + k) : v0);
        for (; k < len; k++) d[k] = s[k * ss];
      } else if (sd == 1 && ss == 1) {
        if (len >= 256)
          memcpy(d, s, len * sizeof(float));
        else
          for (i64 k = 0; k < len; k++) d[k] = s[k];
      } else if (sd == 1 && ss == 0) {
        const float v = s[0];
        for (i64 k = 0; k < len; k++) d[k] = v;
      } else if (sd == 1)
        for (i64 k = 0; k < len; k++) d[k] = s[k * ss];
      else
        for (i64 k = 0; k < len; k++) d[k * sd] = s[k * ss];
      e += len;
      j = 0;
      for (int x = rank - 2; x >= 0; x--) {
        idx[x]++;
        dof += st[0][x];
        sof += st[1][x];
        if (idx[x] < shape[x]) break;
        dof -= st[0][x] * shape[x];
        sof -= st[1][x] * shape[x];
        idx[x] = 0;
      }
    }
    if (stream) stream_fence();
  }
}

extern "C" {

void nb_unary(int op, const float* x, float* y, int n) {
  switch (op) {
    case U_NEG: unary_run<U_NEG>(x, y, n); break;
    case U_EXP: unary_run<U_EXP>(x, y, n); break;
    case U_LOG: unary_run<U_LOG>(x, y, n); break;
    case U_SQRT: unary_run<U_SQRT>(x, y, n); break;
    case U_RELU: unary_run<U_RELU>(x, y, n); break;
    default: unary_run<U_STEP>(x, y, n); break;
  }
}

/**
 * out = a ⊕ b. `d` = {rank, shape[rank], aStrides[rank], bStrides[rank]} in the output's axes,
 * with stride 0 where an operand is broadcast.
 */
void nb_binary(int op, const float* a, const float* b, float* out, const int* d) {
  int rank = d[0];
  i64 shape[MAX_RANK], st[2][MAX_RANK];
  for (int i = 0; i < rank; i++) {
    shape[i] = d[1 + i];
    st[0][i] = d[1 + rank + i];
    st[1][i] = d[1 + 2 * rank + i];
  }
  if (rank == 0) {
    shape[0] = 1;
    st[0][0] = st[1][0] = 0;
    rank = 1;
  }
  switch (op) {
    case B_ADD: binary_run<B_ADD>(a, b, out, rank, shape, st); break;
    case B_SUB: binary_run<B_SUB>(a, b, out, rank, shape, st); break;
    case B_MUL: binary_run<B_MUL>(a, b, out, rank, shape, st); break;
    case B_DIV: binary_run<B_DIV>(a, b, out, rank, shape, st); break;
    default: binary_run<B_MAX>(a, b, out, rank, shape, st); break;
  }
}

/**
 * Strided copy: `d` = {rank, shape[rank], dstStrides[rank], srcStrides[rank]}; element offsets
 * dstOff/srcOff. Serves broadcastTo, transpose, slice, pad and concat.
 */
void nb_copy_strided(float* dst, int dstOff, const float* src, int srcOff, const int* d) {
  int rank = d[0];
  i64 shape[MAX_RANK], st[2][MAX_RANK];
  for (int i = 0; i < rank; i++) {
    shape[i] = d[1 + i];
    st[0][i] = d[1 + rank + i];
    st[1][i] = d[1 + 2 * rank + i];
    if (shape[i] == 0) return;
  }
  if (rank == 0) {
    shape[0] = 1;
    st[0][0] = st[1][0] = 0;
    rank = 1;
  }
  copy_run(dst + dstOff, src + srcOff, rank, shape, st);
}

/**
 * Sum (op 0, double accumulation) or max (op 1, Math.max semantics) over the axes flagged in
 * `d` = {rank, shape[rank], reduced[rank]}; the output holds the kept axes in order.
 */
void nb_reduce(int op, const float* x, float* out, const int* d) {
  int rank = d[0];
  // Group consecutive axes with the same flag: sizes alternate kept/reduced.
  i64 gsize[MAX_RANK];
  int gred[MAX_RANK], ng = 0;
  i64 total = 1, outN = 1;
  for (int i = 0; i < rank; i++) {
    i64 s = d[1 + i];
    int red = d[1 + rank + i];
    total *= s;
    if (!red) outN *= s;
    if (s == 1) continue;
    if (ng > 0 && gred[ng - 1] == red) {
      gsize[ng - 1] *= s;
    } else {
      gsize[ng] = s;
      gred[ng] = red;
      ng++;
    }
  }
  if (outN == 0) return;
  const float init = op == 0 ? 0.0f : -INFINITY;
  if (total == 0) {
    for (i64 i = 0; i < outN; i++) out[i] = init;
    return;
  }
  // Normalise to [K1, R, K2] when possible (K1 or K2 may be 1).
  i64 K1 = 1, R = 1, K2 = 1;
  bool simple = true;
  if (ng == 0) {
  } else if (ng == 1) {
    if (gred[0]) R = gsize[0];
    else K1 = gsize[0];
  } else if (ng == 2) {
    if (gred[0]) {
      R = gsize[0];
      K2 = gsize[1];
    } else {
      K1 = gsize[0];
      R = gsize[1];
    }
  } else if (ng == 3 && !gred[0]) {
    K1 = gsize[0];
    R = gsize[1];
    K2 = gsize[2];
  } else {
    simple = false;
  }
  if (simple) {
    if (K2 == 1) {
      // Contiguous runs: out[k] = reduce x[k*R .. k*R+R).
      int nt = threads_for((double)total, 1 << 16);
#pragma omp parallel for num_threads(nt) schedule(static)
      for (i64 k = 0; k < K1; k++) {
        const float* p = x + k * R;
        if (op == 0) {
          // Eight independent partial sums: one chain would wait on each add's latency.
          double s8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          i64 r = 0;
          for (; r + 8 <= R; r += 8)
            for (int u = 0; u < 8; u++) s8[u] += p[r + u];
          double s = 0;
          for (; r < R; r++) s += p[r];
          for (int u = 0; u < 8; u++) s += s8[u];
          out[k] = (float)s;
        } else {
          float m = -INFINITY;
          for (i64 r = 0; r < R; r++) m = js_max(m, p[r]);
          out[k] = m;
        }
      }
      return;
    }
    // Column reductions of [R, K2] blocks. With few blocks, split R across threads.
    int nt = threads_for((double)total, 1 << 16);
    if (K1 >= nt) {
#pragma omp parallel num_threads(nt)
      {
        double* acc = scratch_d(1, K2);
        float* m = scratch(2, K2);
#pragma omp for schedule(static)
        for (i64 k = 0; k < K1; k++) {
          const float* blk = x + k * R * K2;
          if (op == 0) {
            for (i64 c = 0; c < K2; c++) acc[c] = 0;
            for (i64 r = 0; r < R; r++) {
              const float* row = blk + r * K2;
              for (i64 c = 0; c < K2; c++) acc[c] += row[c];
            }
            for (i64 c = 0; c < K2; c++) out[k * K2 + c] = (float)acc[c];
          } else {
            for (i64 c = 0; c < K2; c++) m[c] = -INFINITY;
            for (i64 r = 0; r < R; r++) {
              const float* row = blk + r * K2;
              for (i64 c = 0; c < K2; c++) m[c] = js_max(m[c], row[c]);
            }
            for (i64 c = 0; c < K2; c++) out[k * K2 + c] = m[c];
          }
        }
      }
      return;
    }
    double* partial[MAX_THREADS];
    for (i64 k = 0; k < K1; k++) {
      const float* blk = x + k * R * K2;
#pragma omp parallel num_threads(nt)
      {
        int T = omp_get_num_threads(), t = omp_get_thread_num();
        i64 r0 = R * t / T, r1 = R * (t + 1) / T;
        double* acc = scratch_d(1, K2);
        partial[t] = acc;
        if (op == 0) {
          for (i64 c = 0; c < K2; c++) acc[c] = 0;
          for (i64 r = r0; r < r1; r++) {
            const float* row = blk + r * K2;
            for (i64 c = 0; c < K2; c++) acc[c] += row[c];
          }
        } else {
          for (i64 c = 0; c < K2; c++) acc[c] = -INFINITY;
          for (i64 r = r0; r < r1; r++) {
            const float* row = blk + r * K2;
            for (i64 c = 0; c < K2; c++) acc[c] = js_max((float)acc[c], row[c]);
          }
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (i64 c = 0; c < K2; c++) {
          double v = op == 0 ? 0.0 : -INFINITY;
          for (int u = 0; u < T; u++)
            v = op == 0 ? v + partial[u][c] : js_max((float)v, (float)partial[u][c]);
          out[k * K2 + c] = (float)v;
        }
      }
    }
    return;
  }
  // General case: walk the input with an odometer carrying the output offset.
  i64 shape[MAX_RANK], ostep[MAX_RANK], idx[MAX_RANK];
  i64 stride = 1;
  for (int i = rank - 1; i >= 0; i--) {
    shape[i] = d[1 + i];
    ostep[i] = d[1 + rank + i] ? 0 : stride;
    if (!d[1 + rank + i]) stride *= shape[i];
    idx[i] = 0;
  }
  double* acc = (double*)malloc(outN * sizeof(double));
  for (i64 i = 0; i < outN; i++) acc[i] = op == 0 ? 0.0 : -INFINITY;
  i64 o = 0;
  for (i64 i = 0; i < total; i++) {
    acc[o] = op == 0 ? acc[o] + x[i] : js_max((float)acc[o], x[i]);
    for (int a = rank - 1; a >= 0; a--) {
      idx[a]++;
      o += ostep[a];
      if (idx[a] < shape[a]) break;
      o -= ostep[a] * shape[a];
      idx[a] = 0;
    }
  }
  for (i64 i = 0; i < outN; i++) out[i] = (float)acc[i];
  free(acc);
}

}  // extern "C"

// ---------------------------------------------------------------------------------------------
// Batch normalisation over every axis but the last: x is viewed as [rows, C]. Each kernel is one
// parallel region: per-thread double sums over a contiguous block of rows (vectorised across
// channels), combined per channel, then one elementwise pass over the rows with per-channel
// coefficients. Two passes over the data instead of the nine-plus of the composed form.

/** Rows per float32 partial sum in the batch-norm passes (then added into double). */
#define BN_BLOCK 16

/**
 * Per-channel sums over rows [r0, r1) of [rows, C] arrays into acc = {s1[C], s2[C]} (double).
 * Statistics (`stats`, p = x, centre = x's first row): s1 = Σ(x − centre), s2 = Σ(x − centre)².
 * Gradient (p = dy, q = x, centre = mean): s1 = Σ dy, s2 = Σ dy·(x − mean).
 * Each block of BN_BLOCK rows is summed in float32 (vectorised across channels; error ~4ε) and
 * the block sums in double: accumulating every element in double was compute-bound at half the
 * memory bandwidth.
 */
static inline void bn_accumulate(const float* __restrict p, const float* __restrict q,
                                 const float* __restrict centre, i64 r0, i64 r1, int C,
                                 bool stats, double* __restrict acc) {
  double* __restrict s1 = acc;
  double* __restrict s2 = acc + C;
  float* __restrict f1 = scratch(2, C);
  float* __restrict f2 = scratch(3, C);
  for (int c = 0; c < 2 * C; c++) acc[c] = 0;
  for (i64 b = r0; b < r1; b += BN_BLOCK) {
    const i64 end = std::min<i64>(b + BN_BLOCK, r1);
    for (int c = 0; c < C; c++) f1[c] = f2[c] = 0;
    if (stats) {
      // Shifted by a sample of the data itself, so that s2/n − (s1/n)² does not cancel when the
      // mean is far from zero compared with the spread.
      for (i64 r = b; r < end; r++) {
        const float* row = p + r * C;
        for (int c = 0; c < C; c++) {
          const float d = row[c] - centre[c];
          f1[c] += d;
          f2[c] += d * d;
        }
      }
    } else {
      for (i64 r = b; r < end; r++) {
        const float* g = p + r * C;
        const float* row = q + r * C;
        for (int c = 0; c < C; c++) {
          f1[c] += g[c];
          f2[c] += g[c] * (row[c] - centre[c]);
        }
      }
    }
    for (int c = 0; c < C; c++) {
      s1[c] += f1[c];
      s2[c] += f2[c];
    }
  }
}

/**
 * The elementwise pass over rows [r0, r1) of [rows, C], with per-channel coefficients
 * coef = {m, s, k, a} (C floats each): forward out = (v − m)·s + k; backward
 * out = a·u − ((v − m)·s + k). Streaming stores when `stream` (C a multiple of VL, out aligned).
 */
template <bool FORWARD>
static inline void bn_apply(const float* __restrict u, const float* __restrict v,
                            const float* __restrict coef, float* __restrict out, i64 r0, i64 r1,
                            int C, bool stream) {
  const float* m = coef;          // centre
  const float* s = coef + C;      // scale of (v − m)
  const float* k = coef + 2 * C;  // offset
  const float* a = coef + 3 * C;  // scale of u (backward only)
  if (stream) {
    for (i64 r = r0; r < r1; r++) {
      const float* vr = v + r * C;
      float* o = out + r * C;
      if (FORWARD) {
        for (int c = 0; c < C; c += VL)
          stream_store(o + c, (loadu(vr + c) - loadu(m + c)) * loadu(s + c) + loadu(k + c));
      } else {
        const float* ur = u + r * C;
        for (int c = 0; c < C; c += VL)
          stream_store(o + c, loadu(a + c) * loadu(ur + c) -
                                  ((loadu(vr + c) - loadu(m + c)) * loadu(s + c) + loadu(k + c)));
      }
    }
    stream_fence();
    return;
  }
  for (i64 r = r0; r < r1; r++) {
    const float* vr = v + r * C;
    float* o = out + r * C;
    if (FORWARD) {
      for (int c = 0; c < C; c++) o[c] = (vr[c] - m[c]) * s[c] + k[c];
    } else {
      const float* ur = u + r * C;
      for (int c = 0; c < C; c++) o[c] = a[c] * ur[c] - ((vr[c] - m[c]) * s[c] + k[c]);
    }
  }
}

extern "C" {

/**
 * Training-mode batch norm of x [rows, C]: mean[c], biased var[c] and
 * y = (x − mean)·gamma/√(var + eps) + beta. Sums accumulate in double.
 */
void nb_batchnorm(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                  float* var, int rows_, int C, double eps) {
  const i64 rows = rows_, total = rows * C;
  const int nt = threads_for((double)total, 1 << 16);
  const bool stream = C % VL == 0 && total >= STREAM_MIN_FLOATS && vec_aligned(y);
  float* coef = shared_buf(0, 3 * (size_t)C);  // centre, scale, offset per channel
  double* partial[MAX_THREADS];
#pragma omp parallel num_threads(nt)
  {
    const int T = omp_get_num_threads(), t = omp_get_thread_num();
    const i64 r0 = rows * t / T, r1 = rows * (t + 1) / T;
    double* acc = scratch_d(1, 2 * (size_t)C);
    partial[t] = acc;
    bn_accumulate(x, nullptr, x, r0, r1, C, true, acc);
#pragma omp barrier
#pragma omp for schedule(static)
    for (int c = 0; c < C; c++) {
      double s1 = 0, s2 = 0;
      for (int u = 0; u < T; u++) {
        s1 += partial[u][c];
        s2 += partial[u][C + c];
      }
      const double shifted = s1 / rows;
      const double v = std::max(s2 / rows - shifted * shifted, 0.0);
      const double mu = (double)x[c] + shifted;
      mean[c] = (float)mu;
      var[c] = (float)v;
      coef[c] = (float)mu;
      coef[C + c] = (float)((double)gamma[c] / std::sqrt(v + eps));
      coef[2 * C + c] = beta[c];
    }
    // (the omp for ends with a barrier: every coefficient is set before any row is written)
    bn_apply<true>(nullptr, x, coef, y, r0, r1, C, stream);
  }
}

/**
 * Batch-norm gradient for x [rows, C]: with invStd = 1/√(var + eps), x̂ = (x − mean)·invStd,
 * dBeta = Σ dy, dGamma = Σ dy·x̂ and dx = gamma·invStd/n·(n·dy − dBeta − x̂·dGamma), written as
 * dx = a·dy − (b·(x − mean) + k) with a = gamma·invStd, b = a·invStd·dGamma/n, k = a·dBeta/n.
 */
void nb_batchnorm_grad(const float* dy, const float* x, const float* mean, const float* var,
                       const float* gamma, float* dx, float* dgamma, float* dbeta, int rows_,
                       int C, double eps) {
  const i64 rows = rows_, total = rows * C;
  const int nt = threads_for((double)total, 1 << 16);
  const bool stream = C % VL == 0 && total >= STREAM_MIN_FLOATS && vec_aligned(dx);
  float* coef = shared_buf(0, 4 * (size_t)C);  // centre, b, k, a per channel
  double* partial[MAX_THREADS];
#pragma omp parallel num_threads(nt)
  {
    const int T = omp_get_num_threads(), t = omp_get_thread_num();
    const i64 r0 = rows * t / T, r1 = rows * (t + 1) / T;
    double* acc = scratch_d(1, 2 * (size_t)C);
    partial[t] = acc;
    bn_accumulate(dy, x, mean, r0, r1, C, false, acc);
#pragma omp barrier
#pragma omp for schedule(static)
    for (int c = 0; c < C; c++) {
      double sumDy = 0, sumDyCentred = 0;
      for (int u = 0; u < T; u++) {
        sumDy += partial[u][c];
        sumDyCentred += partial[u][C + c];
      }
      const double invStd = 1.0 / std::sqrt((double)var[c] + eps);
      const double dGamma = sumDyCentred * invStd;
      const double a = (double)gamma[c] * invStd;
      dbeta[c] = (float)sumDy;
      dgamma[c] = (float)dGamma;
      coef[c] = mean[c];
      coef[C + c] = (float)(a * invStd * dGamma / rows);
      coef[2 * C + c] = (float)(a * sumDy / rows);
      coef[3 * C + c] = (float)a;
    }
    bn_apply<false>(dy, x, coef, dx, r0, r1, C, stream);
  }
}

}  // extern "C"

// ---------------------------------------------------------------------------------------------
// Machine limits: CPU features from CPUID (checked at run time, independent of -march, so that a
// library built for one CPU still reports what this one has) and the fp32 FMA peak.

#include <cpuid.h>

/** Bits of nb_cpu_features(). */
enum CpuFeature {
  CPU_AVX2 = 1,
  CPU_FMA = 2,
  CPU_AVX512F = 4,
  CPU_AVX512_BF16 = 8,
  CPU_AMX_TILE = 16,
  CPU_AMX_BF16 = 32,
};

static int cpu_features_now() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
  if (!osxsave || !avx) return 0;
  // The OS must save the registers too: XCR0 bits 1-2 (SSE, AVX), 5-7 (AVX-512), 17-18 (AMX).
  unsigned lo, hi;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  const bool os_avx = (lo & 6) == 6, os_avx512 = (lo & 0xe6) == 0xe6;
  const bool os_amx = (lo & (3u << 17)) == (3u << 17);
  if (!os_avx) return 0;
  int f = 0;
  if (fma) f |= CPU_FMA;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  if (b & (1u << 5)) f |= CPU_AVX2;
  if (os_avx512 && (b & (1u << 16))) f |= CPU_AVX512F;
  if (os_amx && (d & (1u << 24))) f |= CPU_AMX_TILE;
  if (os_amx && (d & (1u << 22))) f |= CPU_AMX_BF16;
  const unsigned max_sub = a;
  if (max_sub >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    if (os_avx512 && (a & (1u << 5))) f |= CPU_AVX512_BF16;
  }
  return f;
}

// The peak loops: 12 independent accumulators in named registers (an array would be kept in
// memory), each a <- a*m + k, so that FMA latency (4-5 cycles) times the FMA ports (2) is covered;
// nothing but registers is touched. m < 1 and k > 0 keep the values finite and normal, and the sum
// at the end keeps the work from being optimised away.
#define PEAK_ACC 12
#define PEAK_REP(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

__attribute__((target("avx2,fma"))) static float fma_loop_avx2(long iters) {
#define PEAK_INIT8(j) __m256 a##j = _mm256_set1_ps(1.0f + j);
  PEAK_REP(PEAK_INIT8)
  const __m256 m = _mm256_set1_ps(0.999999f), k = _mm256_set1_ps(1e-6f);
  for (long i = 0; i < iters; i++) {
#define PEAK_STEP8(j) a##j = _mm256_fmadd_ps(a##j, m, k);
    PEAK_REP(PEAK_STEP8)
  }
  __m256 s = _mm256_setzero_ps();
#define PEAK_SUM8(j) s = _mm256_add_ps(s, a##j);
  PEAK_REP(PEAK_SUM8)
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

__attribute__((target("avx512f"))) static float fma_loop_avx512(long iters) {
#define PEAK_INIT16(j) __m512 a##j = _mm512_set1_ps(1.0f + j);
  PEAK_REP(PEAK_INIT16)
  const __m512 m = _mm512_set1_ps(0.999999f), k = _mm512_set1_ps(1e-6f);
  for (long i = 0; i < iters; i++) {
#define PEAK_STEP16(j) a##j = _mm512_fmadd_ps(a##j, m, k);
    PEAK_REP(PEAK_STEP16)
  }
  __m512 s = _mm512_setzero_ps();
#define PEAK_SUM16(j) s = _mm512_add_ps(s, a##j);
  PEAK_REP(PEAK_SUM16)
  return _mm512_reduce_add_ps(s);
}

static volatile float g_peak_sink;

extern "C" {

/** CpuFeature bits of this CPU (AVX2, FMA, AVX-512F, AVX512_BF16, AMX tile/bf16). */
int nb_cpu_features(void) { return cpu_features_now(); }

/**
 * fp32 FMA peak in GFLOP/s, on `threads` threads at once (each in its own register-only loop),
 * with the widest vector path CPUID reports (AVX-512, else AVX2+FMA). Best of `reps` runs of
 * about `seconds` each, since a shared machine lends its cores intermittently. out[0] = GFLOP/s,
 * out[1] = vector width in floats (16 or 8; 0 when neither path exists).
 */
void nb_peak_gflops(int threads, double seconds, int reps, double* out) {
  const int f = cpu_features_now();
  const int width = (f & CPU_AVX512F) ? 16 : ((f & CPU_AVX2) && (f & CPU_FMA)) ? 8 : 0;
  out[0] = 0;
  out[1] = width;
  if (!width) return;
  auto loop = [&](long iters) {
    return width == 16 ? fma_loop_avx512(iters) : fma_loop_avx2(iters);
  };
  // Calibrate on one thread: iterations for about `seconds`.
  long iters = 1 << 16;
  for (;;) {
    double t0 = omp_get_wtime();
    g_peak_sink = loop(iters);
    double dt = omp_get_wtime() - t0;
    if (dt > seconds / 4 || iters > (1L << 40)) {
      iters = (long)(iters * seconds / std::max(dt, 1e-9));
      break;
    }
    iters *= 4;
  }
  threads = std::max(1, threads);
  double best = 0;
  for (int r = 0; r < reps; r++) {
    double t0 = omp_get_wtime();
#pragma omp parallel num_threads(threads)
    { g_peak_sink = loop(iters); }
    double dt = omp_get_wtime() - t0;
    best = std::max(best, 2.0 * PEAK_ACC * width * (double)iters * threads / dt / 1e9);
  }
  out[0] = best;
}

}  // extern "C"
