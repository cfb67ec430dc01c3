// reduce.h: sum (double accumulation) and max over any set of axes: nb_reduce.
// Part of the unity build: kernels.cpp includes every family in order, so this file is one
// translation unit with the others (static helpers are shared, the compile command is one file).
#pragma once
#include "elementwise.h"

extern "C" {

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
