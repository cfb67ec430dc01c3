// batchnorm.h: fused batch normalisation over every axis but the last: nb_batchnorm,
// nb_batchnorm_grad.
// Part of the unity build: kernels.cpp includes every family in order, so this file is one
// translation unit with the others (static helpers are shared, the compile command is one file).
#pragma once
#include "elementwise.h"

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
