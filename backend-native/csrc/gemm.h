// gemm.h: the blocked SGEMM: register-tiled micro-kernels, A/B panel packing from strided views,
// the threaded driver `gemm` and the exported nb_matmul.
// Part of the unity build: kernels.cpp includes every family in order, so this file is one
// translation unit with the others (static helpers are shared, the compile command is one file).
#pragma once
#include "common.h"

// ---------------------------------------------------------------------------------------------
// GEMM building blocks. Packed A: strips of MR rows, each strip KC x MR (k-major). Packed B:
// for each K-block, strips of NR columns, each KC x NR (k-major), zero-padded at the edges.

/** Writes (or, with `acc`, adds) an MR x NR register tile to C (row stride ldc). */
static inline __attribute__((always_inline)) void store_tile(const vf* c0, const vf* c1, float* C,
                                                             i64 ldc, bool acc) {
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

/**
 * C[MR x NR] (+)= A · B over kc steps, B a packed NR-strip and A's element (i, p) at
 * A[i·row + p·step]: a packed A-strip has row 1 and step MR (micro_kernel); the Winograd
 * kernels read their transformed tiles in place with other strides (winograd.h).
 */
static inline __attribute__((always_inline)) void strided_kernel(int kc, const float* __restrict A,
                                                                 i64 row, i64 step,
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
      const float a = A[i * row];
      c0[i] += a * b0;
      c1[i] += a * b1;
    }
    A += step;
    B += NR;
  }
  store_tile(c0, c1, C, ldc, acc);
}

/** C[MR x NR] (+)= A-strip · B-strip over kc steps. */
static inline __attribute__((always_inline)) void micro_kernel(int kc, const float* __restrict A,
                                                               const float* __restrict B,
                                                               float* __restrict C, i64 ldc,
                                                               bool acc) {
  strided_kernel(kc, A, 1, MR, B, C, ldc, acc);
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
static void pack_B_full_par(const float* B, i64 rs, i64 cs, int K, int N, float* dst,
                            int kcb = KC) {
  int Npad = round_up(std::max(N, 1), NR);
  int nblocks = (K + kcb - 1) / kcb, nstrips = Npad / NR;
#pragma omp for schedule(static)
  for (int t = 0; t < nblocks * nstrips; t++) {
    int pb = t / nstrips, s = t % nstrips;
    int pc = pb * kcb, kc = std::min(kcb, K - pc);
    int j0 = s * NR;
    pack_B_view(B + pc * rs + j0 * cs, rs, cs, kc, std::min(NR, N - j0),
                dst + (i64)pc * Npad + (i64)s * kc * NR);
  }
}

/**
 * C rows [r0, r1) x strips [s0, s1) of op(A)·B with B fully packed (in K-blocks of `kcb`, as
 * pack_B_full_par was given). `packA(ic, mc, pc, kc, dst)` packs rows [ic, ic+mc) x k [pc, pc+kc)
 * of A; A blocks have at most `mcb` rows.
 */
template <class PackA>
static void gemm_rows(PackA&& packA, int r0, int r1, int s0, int s1, int N, int K,
                      const float* Bp, float* C, i64 ldc, bool accumulate, int kcb = KC,
                      int mcb = MC) {
  if (r1 <= r0 || s1 <= s0) return;
  if (K == 0) {
    if (!accumulate)
      for (int i = r0; i < r1; i++)
        for (int j = s0 * NR; j < std::min(N, s1 * NR); j++) C[(i64)i * ldc + j] = 0.0f;
    return;
  }
  int Npad = round_up(N, NR);
  float* Ap = scratch(0, (size_t)mcb * kcb);
  for (int pc = 0; pc < K; pc += kcb) {
    int kc = std::min(kcb, K - pc);
    bool acc = accumulate || pc > 0;
    const float* Bpanel = Bp + (i64)pc * Npad;
    for (int ic = r0; ic < r1; ic += mcb) {
      int mc = std::min(mcb, r1 - ic);
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

// Blocking of the plain GEMM (nb_matmul). With AVX2 a K-block twice the convolutions' halves the
// passes over C and the packing calls. On the 2-core Zen 3 EPYC (32 KiB L1, 512 KiB L2), 1024³
// with 512 x 96-row blocks against 256 x 120, old and new builds alternating: 181 vs 177 GFLOP/s
// best on the idle machine, and ahead in all five pairs of a noisier run (best 173 vs 149).
// AVX-512's 32-wide B strips would not fit L1 at 512, so it keeps KC.
#if VL == 8
#define GEMM_KC 512
#define GEMM_MC (MR * 16)
#else
#define GEMM_KC KC
#define GEMM_MC MC
#endif

/** C[M,N] = op(A)[M,K] · op(B)[K,N] for strided views; parallel over rows or column strips. */
static void gemm(int M, int N, int K, const float* A, i64 ars, i64 acs, const float* B, i64 brs,
                 i64 bcs, float* C, i64 ldc) {
  if (M == 0 || N == 0) return;
  float* Bp = shared_buf(0, packed_B_size(K, N));
  int nt = threads_for(2.0 * M * N * K, 4e6);
  int mstrips = (M + MR - 1) / MR, nstrips = (N + NR - 1) / NR;
#pragma omp parallel num_threads(nt)
  {
    pack_B_full_par(B, brs, bcs, K, N, Bp, GEMM_KC);  // ends with a barrier
    int T = omp_get_num_threads(), t = omp_get_thread_num();
    auto packA = [&](int ic, int mc, int pc, int kc, float* dst) {
      pack_A_view(A + ic * ars + pc * acs, ars, acs, mc, kc, dst);
    };
    if (mstrips >= 4 * T || mstrips >= nstrips) {
      // Row chunks handed out dynamically so a core busy with other work takes fewer.
      int chunk = std::max(1, std::min(mstrips / (4 * T), GEMM_MC / MR * 4)) * MR;
      chunk = balanced_chunk(M, MR, chunk, T);
      int nchunks = (M + chunk - 1) / chunk;
#pragma omp for schedule(dynamic)
      for (int c = 0; c < nchunks; c++) {
        int r0 = c * chunk, r1 = std::min(M, r0 + chunk);
        gemm_rows(packA, r0, r1, 0, nstrips, N, K, Bp, C, ldc, false, GEMM_KC, GEMM_MC);
      }
    } else {
      int s0, s1;
      split_range(nstrips, T, t, s0, s1);
      gemm_rows(packA, 0, M, s0, s1, N, K, Bp, C, ldc, false, GEMM_KC, GEMM_MC);
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
