// elementwise.h: unary and broadcasting binary ops, the vector/streaming-store helpers, the
// strided-index helpers (MAX_RANK, coalesce, unravel) and the movement ops built on them:
// nb_unary, nb_binary, nb_copy_strided.
// Part of the unity build: kernels.cpp includes every family in order, so this file is one
// translation unit with the others (static helpers are shared, the compile command is one file).
#pragma once
#include "common.h"

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

}  // extern "C"
