// pool.h: max pooling (VALID) forward and backward: nb_maxpool, nb_maxpool_grad.
// Part of the unity build: kernels.cpp includes every family in order, so this file is one
// translation unit with the others (static helpers are shared, the compile command is one file).
#pragma once
#include "common.h"

// ---------------------------------------------------------------------------------------------
// Max pooling (VALID). d = {batch, inH, inW, C, outH, outW, size, stride}.

/**
 * The gradient of one window that owns its pixels (windows tiling the image), all channels, a
 * vector of them at a time: the maximum (strict >, so the first wins and a NaN in the first
 * position stays), then dy to the first position holding it and 0 elsewhere, written once. The
 * general loop below goes over the channels three times through scratch arrays per window.
 */
static inline void maxpool_grad_window_vec(const float* corner, const float* g, float* o, int C,
                                           i64 inW, int size) {
  int c = 0;
  for (; c + VL <= C; c += VL) {
    vf best, v;
    memcpy(&best, corner + c, sizeof best);
    for (int k = 1; k < size * size; k++) {
      memcpy(&v, corner + ((i64)(k / size) * inW + (k % size)) * C + c, sizeof v);
      best = v > best ? v : best;
    }
    vf gv;
    memcpy(&gv, g + c, sizeof gv);
    const vf zero = {};
    auto taken = (best != best);  // a NaN maximum can only come from position 0
    for (int k = 0; k < size * size; k++) {
      const i64 off = ((i64)(k / size) * inW + (k % size)) * C + c;
      memcpy(&v, corner + off, sizeof v);
      const auto hit = (k == 0 ? (v == best) | taken : (v == best) & ~taken);
      taken |= hit;
      const vf share = hit ? gv : zero;
      memcpy(o + off, &share, sizeof share);
    }
  }
  for (; c < C; c++) {
    float best = corner[c];
    for (int k = 1; k < size * size; k++) {
      const float v = corner[((i64)(k / size) * inW + (k % size)) * C + c];
      best = v > best ? v : best;
    }
    int taken = best != best;
    for (int k = 0; k < size * size; k++) {
      const i64 off = ((i64)(k / size) * inW + (k % size)) * C + c;
      const float v = corner[off];
      const int hit = k == 0 ? (v == best) | taken : (v == best) & !taken;
      taken |= hit;
      o[off] = hit ? g[c] : 0.0f;
    }
  }
}

extern "C" {

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
      if (tiles) {
        for (int oy = 0; oy < outH; oy++)
          for (int ox = 0; ox < outW; ox++) {
            const i64 cornerOff = ((i64)oy * stride * inW + ox * stride) * C;
            maxpool_grad_window_vec(xi + cornerOff, dy + (((i64)b * outH + oy) * outW + ox) * C,
                                    dxi + cornerOff, C, inW, size);
          }
        continue;
      }
      memset(dxi, 0, img * sizeof(float));
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
