// common.h: what every family shares: system headers, the SIMD width and GEMM tile macros
// (VL, MR, NR, KC, MC), per-thread scratch memory, the thread-count and work-splitting helpers,
// and the exported memory/thread entry points (nb_alloc, nb_free, nb_set_threads, nb_fill, ...).
// Part of the unity build: kernels.cpp includes every family in order, so this file is one
// translation unit with the others (static helpers are shared, the compile command is one file).
#pragma once

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
#include <vector>

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
