/**
 * 2-D convolution and max pooling with their gradients, NHWC images and HWIO filters.
 *
 * Index map shared by all of them: output position `(oy, ox)` reads input position
 * `(iy, ix) = (oy·stride − pad + ky, ox·stride − pad + kx)` for filter tap `(ky, kx)`; positions
 * outside the image are the zero padding and contribute nothing. The gradients are written as the
 * exact adjoints of that map: every product the forward pass forms is visited once more and its
 * share is scattered back. All sums accumulate in float64; outputs are rounded to float32 once.
 *
 * @module
 */

import {
  type ConvDims,
  type ConvGeometry,
  type PoolGeometry,
  type Shape,
  sizeOf,
} from "@simclr/core";
import { type Dense, rules } from "./dense.ts";

/**
 * Visits every (output pixel, filter tap) pair of the forward pass whose input position lies in
 * the image, in the forward order (b, oy, ox, ky, kx), with the flat offsets of `x[b,iy,ix,0]`,
 * `w[ky,kx,0,0]` and `y[b,oy,ox,0]`. Taps on the zero padding are skipped: they add nothing.
 * conv2d and both gradients are the same walk with a different accumulator, which makes them
 * exact adjoints of one another.
 */
function forEachTap(
  d: ConvDims,
  visit: (xPixel: number, wTap: number, yPixel: number) => void,
): void {
  const { batch, inH, inW, inC, kH, kW, outC, outH, outW, stride, pad } = d;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const yPixel = ((b * outH + oy) * outW + ox) * outC;
        for (let ky = 0; ky < kH; ky++) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kW; kx++) {
            const ix = ox * stride - pad + kx;
            if (ix < 0 || ix >= inW) continue;
            visit(((b * inH + iy) * inW + ix) * inC, (ky * kW + kx) * inC * outC, yPixel);
          }
        }
      }
    }
  }
}

/** `y[b,oy,ox,co] = Σ_{ky,kx,ci} x[b, oy·s−p+ky, ox·s−p+kx, ci] · w[ky,kx,ci,co]`. */
export function conv2d(x: Dense, w: Dense, geometry: ConvGeometry): Dense {
  const d = rules.convDims("conv2d", x.shape, w.shape, geometry);
  const { inC, outC } = d;
  const y = new Float64Array(sizeOf(d.outShape));
  forEachTap(d, (xp, wt, yp) => {
    for (let ci = 0; ci < inC; ci++) {
      const xv = x.data[xp + ci];
      for (let co = 0; co < outC; co++) y[yp + co] += xv * w.data[wt + ci * outC + co];
    }
  });
  return { shape: d.outShape, data: Float32Array.from(y) };
}

/**
 * `dx[b,iy,ix,ci] = Σ dy[b,oy,ox,co] · w[ky,kx,ci,co]` over every `(oy,ox,ky,kx)` whose forward
 * read landed on `(iy,ix)`. Input pixels no window reads (e.g. the last row when stride 2 skips
 * it) get exactly 0.
 */
export function conv2dGradInput(
  dy: Dense,
  w: Dense,
  xShape: Shape,
  geometry: ConvGeometry,
): Dense {
  const d = rules.convDims("conv2dGradInput", xShape, w.shape, geometry);
  rules.checkOutputShape("conv2dGradInput", "dy", dy.shape, d.outShape);
  const { inC, outC } = d;
  const dx = new Float64Array(sizeOf(xShape));
  forEachTap(d, (xp, wt, yp) => {
    for (let ci = 0; ci < inC; ci++) {
      let sum = 0;
      for (let co = 0; co < outC; co++) sum += dy.data[yp + co] * w.data[wt + ci * outC + co];
      dx[xp + ci] += sum;
    }
  });
  return { shape: [...xShape], data: Float32Array.from(dx) };
}

/** `dw[ky,kx,ci,co] = Σ_{b,oy,ox} x[b, oy·s−p+ky, ox·s−p+kx, ci] · dy[b,oy,ox,co]`. */
export function conv2dGradFilter(
  x: Dense,
  dy: Dense,
  wShape: Shape,
  geometry: ConvGeometry,
): Dense {
  const d = rules.convDims("conv2dGradFilter", x.shape, wShape, geometry);
  rules.checkOutputShape("conv2dGradFilter", "dy", dy.shape, d.outShape);
  const { inC, outC } = d;
  const dw = new Float64Array(sizeOf(wShape));
  forEachTap(d, (xp, wt, yp) => {
    for (let ci = 0; ci < inC; ci++) {
      const xv = x.data[xp + ci];
      for (let co = 0; co < outC; co++) dw[wt + ci * outC + co] += xv * dy.data[yp + co];
    }
  });
  return { shape: [...wShape], data: Float32Array.from(dw) };
}

/**
 * Flat index into `x` of the maximum of one window, the first in row-major window order
 * (`ky` then `kx`) on ties: later equal values do not replace it because the test is strict.
 */
function windowArgMax(
  x: Float32Array,
  rowStart: number,
  rowStride: number,
  size: number,
  channels: number,
): number {
  let best = rowStart;
  for (let ky = 0; ky < size; ky++) {
    for (let kx = 0; kx < size; kx++) {
      const at = rowStart + ky * rowStride + kx * channels;
      if (x[at] > x[best]) best = at;
    }
  }
  return best;
}

/** `y[b,oy,ox,c] = max_{ky,kx} x[b, oy·s+ky, ox·s+kx, c]` over VALID (unpadded) windows. */
export function maxPool(x: Dense, geometry: PoolGeometry): Dense {
  const { batch, inH, inW, channels, outH, outW, size, stride } = rules.poolDims(
    "maxPool",
    x.shape,
    geometry,
  );
  const out = new Float32Array(batch * outH * outW * channels);
  const rowStride = inW * channels; // flat distance between x[b,iy,ix,c] and x[b,iy+1,ix,c]
  let o = 0;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        for (let c = 0; c < channels; c++) {
          const corner = ((b * inH + oy * stride) * inW + ox * stride) * channels + c;
          out[o++] = x.data[windowArgMax(x.data, corner, rowStride, size, channels)];
        }
      }
    }
  }
  return { shape: [batch, outH, outW, channels], data: out };
}

/**
 * Sends each window's `dy` to the position of that window's first maximum in `x`; overlapping
 * windows (size > stride) add up.
 */
export function maxPoolGrad(dy: Dense, x: Dense, geometry: PoolGeometry): Dense {
  const { batch, inH, inW, channels, outH, outW, size, stride, outShape } = rules.poolDims(
    "maxPoolGrad",
    x.shape,
    geometry,
  );
  rules.checkOutputShape("maxPoolGrad", "dy", dy.shape, outShape);
  const dx = new Float64Array(x.data.length);
  const rowStride = inW * channels;
  let o = 0;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        for (let c = 0; c < channels; c++) {
          const corner = ((b * inH + oy * stride) * inW + ox * stride) * channels + c;
          dx[windowArgMax(x.data, corner, rowStride, size, channels)] += dy.data[o++];
        }
      }
    }
  }
  return { shape: [...x.shape], data: Float32Array.from(dx) };
}
