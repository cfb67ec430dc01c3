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

import { type ConvGeometry, type PoolGeometry, type Shape, sizeOf } from "@simclr/core";
import { type Dense, rules } from "./dense.ts";

/** `y[b,oy,ox,co] = Σ_{ky,kx,ci} x[b, oy·s−p+ky, ox·s−p+kx, ci] · w[ky,kx,ci,co]`. */
export function conv2d(x: Dense, w: Dense, geometry: ConvGeometry): Dense {
  const d = rules.convDims("conv2d", x.shape, w.shape, geometry);
  const { batch, inH, inW, inC, kH, kW, outC, outH, outW, stride, pad } = d;
  const xData = x.data;
  const wData = w.data;
  const out = new Float32Array(batch * outH * outW * outC);
  const acc = new Float64Array(outC);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        acc.fill(0);
        for (let ky = 0; ky < kH; ky++) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= inH) continue; // zero padding row
          for (let kx = 0; kx < kW; kx++) {
            const ix = ox * stride - pad + kx;
            if (ix < 0 || ix >= inW) continue; // zero padding column
            const xPixel = ((b * inH + iy) * inW + ix) * inC; // x[b,iy,ix,0]
            const wTap = (ky * kW + kx) * inC * outC; // w[ky,kx,0,0]
            for (let ci = 0; ci < inC; ci++) {
              const xv = xData[xPixel + ci];
              const wRow = wTap + ci * outC; // w[ky,kx,ci,0]
              for (let co = 0; co < outC; co++) acc[co] += xv * wData[wRow + co];
            }
          }
        }
        out.set(acc, ((b * outH + oy) * outW + ox) * outC);
      }
    }
  }
  return { shape: [batch, outH, outW, outC], data: out };
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
  const { batch, inH, inW, inC, kH, kW, outC, outH, outW, stride, pad } = d;
  const dyData = dy.data;
  const wData = w.data;
  // Scatter form of the forward loop: accumulate into a float64 copy of dx.
  const dx = new Float64Array(sizeOf(xShape));
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const dyPixel = ((b * outH + oy) * outW + ox) * outC; // dy[b,oy,ox,0]
        for (let ky = 0; ky < kH; ky++) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kW; kx++) {
            const ix = ox * stride - pad + kx;
            if (ix < 0 || ix >= inW) continue;
            const xPixel = ((b * inH + iy) * inW + ix) * inC;
            const wTap = (ky * kW + kx) * inC * outC;
            for (let ci = 0; ci < inC; ci++) {
              const wRow = wTap + ci * outC;
              let sum = 0;
              for (let co = 0; co < outC; co++) sum += dyData[dyPixel + co] * wData[wRow + co];
              dx[xPixel + ci] += sum;
            }
          }
        }
      }
    }
  }
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
  const { batch, inH, inW, inC, kH, kW, outC, outH, outW, stride, pad } = d;
  const xData = x.data;
  const dyData = dy.data;
  const dw = new Float64Array(sizeOf(wShape));
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const dyPixel = ((b * outH + oy) * outW + ox) * outC;
        for (let ky = 0; ky < kH; ky++) {
          const iy = oy * stride - pad + ky;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kW; kx++) {
            const ix = ox * stride - pad + kx;
            if (ix < 0 || ix >= inW) continue;
            const xPixel = ((b * inH + iy) * inW + ix) * inC;
            const wTap = (ky * kW + kx) * inC * outC;
            for (let ci = 0; ci < inC; ci++) {
              const xv = xData[xPixel + ci];
              const wRow = wTap + ci * outC;
              for (let co = 0; co < outC; co++) dw[wRow + co] += xv * dyData[dyPixel + co];
            }
          }
        }
      }
    }
  }
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
 * windows (size > stride) add up. `y`, the forward output, is only shape-checked.
 */
export function maxPoolGrad(dy: Dense, x: Dense, y: Dense, geometry: PoolGeometry): Dense {
  const { batch, inH, inW, channels, outH, outW, size, stride, outShape } = rules.poolDims(
    "maxPoolGrad",
    x.shape,
    geometry,
  );
  rules.checkOutputShape("maxPoolGrad", "dy", dy.shape, outShape);
  rules.checkOutputShape("maxPoolGrad", "y", y.shape, outShape);
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
