// machine.h: machine limits: run-time CPUID feature flags (nb_cpu_features) and the fp32 FMA
// peak loop (nb_peak_gflops) that bench --peak compares the kernels against.
// Part of the unity build: kernels.cpp includes every family in order, so this file is one
// translation unit with the others (static helpers are shared, the compile command is one file).
#pragma once
#include "common.h"

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
