/**
 * Kernels that TF.js lacks, is slow at, or disagrees with the reference on, composed from TF.js
 * ops that every engine has: both convolution gradients as forward convolutions, a max-pool
 * gradient that routes ties to the first maximum, batch norm forward and backward, and (wasm only)
 * a long sum and a broadcast that avoid that engine's slow and inexact stock kernels.
 *
 * Every function here takes and returns plain `tf.Tensor`s and disposes its own intermediates
 * (`tf.tidy`), so callers only own the result. Slices, pads and concats stay at rank ≤ 4: the
 * WebGPU engine returned zeros for rank-5/6 pads on lavapipe, and wasm runs rank > 4 slices and
 * every `StridedSlice` element by element in JavaScript.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { outSize } from "@simclr/core";

/** Spatial signed padding `[top, bottom, left, right]`; a negative side crops instead. */
export type SignedPads = readonly [number, number, number, number];

/**
 * Inserts `stride − 1` zeros after every row and column of an NHWC tensor:
 * `[n,h,w,c]` → `[n,h·s,w·s,c]` (the trailing zero rows/columns are left for the caller to crop
 * or keep). Uses two 4-D pads over reshaped views so no rank-5/6 op is needed.
 */
export function dilateSpatial(x: tf.Tensor4D, stride: number): tf.Tensor4D {
  if (stride === 1) return tf.clone(x);
  const [n, h, w, c] = x.shape;
  return tf.tidy(() => {
    const rows = tf.pad(tf.reshape(x, [n * h, 1, w, c]), [[0, 0], [0, stride - 1], [0, 0], [0, 0]]);
    const cols = tf.pad(tf.reshape(rows, [n * h * stride, w, 1, c]), [
      [0, 0],
      [0, 0],
      [0, stride - 1],
      [0, 0],
    ]);
    return tf.reshape(cols, [n, h * stride, w * stride, c]);
  });
}

/** Crops the negative sides of `pads` from `x` and returns the remaining non-negative padding. */
function cropNegative(x: tf.Tensor4D, pads: SignedPads): [tf.Tensor4D, SignedPads] {
  const [top, bottom, left, right] = pads;
  if (top >= 0 && bottom >= 0 && left >= 0 && right >= 0) return [x, pads];
  const [n, h, w, c] = x.shape;
  const t = Math.max(0, -top), b = Math.max(0, -bottom);
  const l = Math.max(0, -left), r = Math.max(0, -right);
  const cropped = tf.slice(x, [0, t, l, 0], [n, h - t - b, w - l - r, c]);
  return [cropped, [Math.max(0, top), Math.max(0, bottom), Math.max(0, left), Math.max(0, right)]];
}

/** Pads (positive sides) or crops (negative sides) the spatial axes of an NHWC tensor. */
export function signedPad(x: tf.Tensor4D, pads: SignedPads): tf.Tensor4D {
  return tf.tidy(() => {
    const [cropped, [t, b, l, r]] = cropNegative(x, pads);
    if (t === 0 && b === 0 && l === 0 && r === 0) return tf.clone(cropped);
    return tf.pad(cropped, [[0, 0], [t, b], [l, r], [0, 0]]);
  });
}

/**
 * A stride-1 `tf.conv2d` with signed explicit padding (negative sides crop the input first) and
 * optional filter dilation.
 */
function convSigned(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  pads: SignedPads,
  dilation = 1,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [input, [t, b, l, r]] = cropNegative(x, pads);
    return tf.conv2d(input, filter, 1, [[0, 0], [t, b], [l, r], [0, 0]], "NHWC", dilation);
  });
}

/**
 * Interleaves an `sh × sw` grid of equally shaped NHWC tensors `[n,q,r,c]` into one
 * `[n,q·sh,r·sw,c]`: element `(i,j)` of `grid[a][b]` lands at row `i·sh + a`, column `j·sw + b`.
 * Built from rank-4 concats and reshapes.
 */
export function interleave(grid: readonly (readonly tf.Tensor4D[])[]): tf.Tensor4D {
  const [n, q, r, c] = grid[0][0].shape;
  const sh = grid.length, sw = grid[0].length;
  return tf.tidy(() => {
    const rows = grid.map((row) => {
      const cols = row.map((t) => tf.reshape(t, [n * q, r, 1, c]));
      return tf.reshape(tf.concat(cols, 2), [n * q, 1, r * sw, c]);
    });
    return tf.reshape(tf.concat(rows, 1), [n, q * sh, r * sw, c]);
  });
}

/**
 * Gradient of `conv2d(x, w, stride, pad)` with respect to `x`.
 *
 * Stride 1: one forward convolution of `dy`, padded by `k − 1 − pad` (plus the rows/columns the
 * forward pass skipped when `(h + 2·pad − k) % stride ≠ 0`), with the spatially flipped filter
 * whose in/out channels are swapped.
 *
 * Stride s > 1: instead of dilating `dy` with zeros (which wastes (s²−1)/s² of the multiplies), the
 * padded input rows `u = q·s + φ` are split into s×s phases; phase `(φh,φw)` only meets the taps
 * `w[φh::s, φw::s]`, so it is a stride-1 "full" correlation of `dy` with that sub-filter (flipped,
 * in/out swapped). The phases are interleaved and the padding cropped. Total work equals one
 * forward convolution.
 *
 * @param dy upstream gradient `[n,oh,ow,cout]`
 * @param w filter `[kh,kw,cin,cout]`
 * @param xShape shape of the forward input `[n,h,w,cin]`
 */
export function conv2dGradInput(
  dy: tf.Tensor4D,
  w: tf.Tensor4D,
  xShape: readonly number[],
  stride: number,
  pad: number,
): tf.Tensor4D {
  const [kh, kw, cin] = w.shape;
  // Shapes were checked by GpuBackend (core/shapes.ts rules); dy is [n, oh, ow, cout].
  const [, oh, ow] = dy.shape;
  const [n, h, wd] = xShape;
  return tf.tidy(() => {
    const flipSwap = (f: tf.Tensor4D) =>
      tf.transpose(tf.reverse(f, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    if (stride === 1) {
      // Rows/columns of the padded input after the last window (never read by the forward pass).
      const restH = h + 2 * pad - kh - (oh - 1);
      const restW = wd + 2 * pad - kw - (ow - 1);
      return convSigned(dy, flipSwap(w), [
        kh - 1 - pad,
        kh - 1 - pad + restH,
        kw - 1 - pad,
        kw - 1 - pad + restW,
      ]);
    }
    // Phase rows q cover padded rows u = q·s + φ in [0, qh·s) ⊇ [pad, pad + h).
    const qh = Math.ceil((h + pad) / stride), qw = Math.ceil((wd + pad) / stride);
    const grid: tf.Tensor4D[][] = [];
    for (let ph = 0; ph < stride; ph++) {
      const row: tf.Tensor4D[] = [];
      for (let pw = 0; pw < stride; pw++) {
        const mh = Math.ceil((kh - ph) / stride), mw = Math.ceil((kw - pw) / stride);
        if (mh <= 0 || mw <= 0) {
          row.push(tf.zeros([n, qh, qw, cin])); // no tap of the filter lands on this phase
          continue;
        }
        // Taps w[φh + m·s, φw + m'·s] by gathers (wasm's StridedSlice runs in JavaScript).
        const taps = (phase: number, count: number) =>
          tf.tensor1d(Array.from({ length: count }, (_, m) => phase + m * stride), "int32");
        const sub = tf.gather(tf.gather(w, taps(ph, mh), 0), taps(pw, mw), 1);
        // out[q] = Σ_m dy[q − m]·w[φ + m·s]: pad dy by m − 1 before, crop/pad to qh rows after.
        row.push(convSigned(dy, flipSwap(sub as tf.Tensor4D), [mh - 1, qh - oh, mw - 1, qw - ow]));
      }
      grid.push(row);
    }
    return tf.slice(interleave(grid), [0, pad, pad, 0], [n, h, wd, cin]);
  });
}

/**
 * Gradient of `conv2d(x, w, stride, pad)` with respect to `w`, as one forward convolution: the
 * zero-padded input with batch and channel axes swapped (`[cin,h,w,n]`, an image batch of `cin`
 * images with `n` channels) is correlated with `dy` swapped to an HWIO filter `[oh,ow,n,cout]`
 * dilated by `stride`; the `[cin,kh,kw,cout]` result is transposed to HWIO. Input rows/columns the
 * forward pass never read (when `(h + 2·pad − k) % stride ≠ 0`) are dropped first.
 *
 * @param x forward input `[n,h,w,cin]`
 * @param dy upstream gradient `[n,oh,ow,cout]`
 * @param wShape filter shape `[kh,kw,cin,cout]`
 */
export function conv2dGradFilter(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  wShape: readonly number[],
  stride: number,
  pad: number,
): tf.Tensor4D {
  const [kh, kw] = wShape;
  // Shapes were checked by GpuBackend (core/shapes.ts rules); dy is [n, oh, ow, cout].
  const [, oh, ow] = dy.shape;
  const [, h, wd] = x.shape;
  return tf.tidy(() => {
    const restH = h + 2 * pad - kh - (oh - 1) * stride;
    const restW = wd + 2 * pad - kw - (ow - 1) * stride;
    const xT = tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D;
    const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
    const g = convSigned(xT, dyT, [pad, pad - restH, pad, pad - restW], stride);
    return tf.transpose(g, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * The strided views `x[:, a + i·s, b + j·s, :]` (`i < oh`, `j < ow`) of an NHWC tensor built from
 * rank-4 slices of a reshaped copy: TF.js wasm's `StridedSlice` (and every slice of rank > 4) runs
 * element by element in JavaScript, 260 ms for a `[256,16,16,32]` view against 25 ms this way.
 * For offsets `a = q·s + φ` the input is cropped/padded to start at row `q·s` and span `oh·s`
 * rows, viewed as `[n·oh, s, ow, s·c]`, and phase `(φa, φb)` is one slice of that.
 */
class StridedViews {
  readonly #bases = new Map<string, tf.Tensor4D>();
  constructor(
    readonly x: tf.Tensor4D,
    readonly stride: number,
    readonly oh: number,
    readonly ow: number,
  ) {}

  /** The view at offset `(a, b)`, `[n,oh,ow,c]` (owned by the enclosing `tf.tidy`). */
  at(a: number, b: number): tf.Tensor4D {
    const { x, stride: s, oh, ow } = this;
    const [n, h, w, c] = x.shape;
    const qa = Math.floor(a / s), qb = Math.floor(b / s);
    const key = `${qa},${qb}`;
    let base = this.#bases.get(key);
    if (base === undefined) {
      const grid = signedPad(x, [-qa * s, qa * s + oh * s - h, -qb * s, qb * s + ow * s - w]);
      base = tf.reshape(grid, [n * oh, s, ow, s * c]);
      this.#bases.set(key, base);
    }
    const view = tf.slice(base, [0, a % s, 0, (b % s) * c], [n * oh, 1, ow, c]);
    return tf.reshape(view, [n, oh, ow, c]);
  }
}

/**
 * Max-pool gradient ("VALID" windows) that sends each window's `dy` to the FIRST maximum of the
 * window in row-major order, matching the reference backend. TF.js's own `MaxPoolGrad` kernel
 * (wasm and webgpu, measured) sends it to the LAST maximum on ties, so it is not used.
 *
 * For every window offset `(a,b)` the strided view `x[:, a::s, b::s, :]` (see `StridedViews`) is
 * compared with the forward output `y` (recomputed here); a position wins if it equals the max and no earlier offset already won.
 * Non-overlapping windows
 * (`size === stride`) interleave the per-offset results with concats; overlapping ones scatter each
 * offset by dilation and sum.
 *
 * @param dy upstream gradient `[n,oh,ow,c]`
 * @param x forward input `[n,h,w,c]`
 */
export function maxPoolGradFirst(
  dy: tf.Tensor4D,
  x: tf.Tensor4D,
  size: number,
  stride: number,
): tf.Tensor4D {
  const [, h, w] = x.shape;
  const oh = outSize(h, size, stride), ow = outSize(w, size, stride);
  return tf.tidy(() => {
    // The forward output again (the Backend interface does not pass it; one max pool is cheap
    // next to the size² masks below).
    const y = tf.maxPool(x, size, stride, "valid");
    const views = new StridedViews(x, stride, oh, ow);
    // `rest` is dy where no earlier offset took the window yet, else 0 (exact: factors are 0/1).
    let rest: tf.Tensor4D = dy;
    const parts: tf.Tensor4D[] = []; // row-major over (a, b)
    for (let a = 0; a < size; a++) {
      for (let b = 0; b < size; b++) {
        const isMax = tf.cast(tf.equal(views.at(a, b), y), "float32");
        const part: tf.Tensor4D = tf.mul(rest, isMax);
        parts.push(part);
        if (a < size - 1 || b < size - 1) rest = tf.sub(rest, part);
      }
    }
    if (size === stride) {
      const grid = Array.from({ length: size }, (_, a) => parts.slice(a * size, (a + 1) * size));
      return signedPad(interleave(grid), [0, h - oh * size, 0, w - ow * size]);
    }
    const scattered = parts.map((p, i) => {
      const a = Math.floor(i / size), b = i % size;
      return signedPad(dilateSpatial(p, stride), [
        a,
        h - a - oh * stride,
        b,
        w - b - ow * stride,
      ]);
    });
    return addMany(scattered);
  });
}

/**
 * Sums tensors of one shape with `tf.addN` over groups of at most 4: TF.js WebGPU binds every
 * input as a storage buffer, and with more inputs than the adapter's per-stage limit (8 on
 * lavapipe) its AddN silently wrote nothing.
 */
export function addMany<T extends tf.Tensor>(ts: readonly T[]): T {
  if (ts.length === 0) throw new Error("addMany: no tensors to add");
  if (ts.length === 1) return tf.clone(ts[0]);
  return tf.tidy(() => {
    let level: T[] = [...ts];
    while (level.length > 1) {
      const next: T[] = [];
      for (let i = 0; i < level.length; i += 4) {
        const group = level.slice(i, i + 4);
        next.push(group.length === 1 ? group[0] : tf.addN(group));
      }
      level = next;
    }
    return level[0];
  });
}

/** Reductions shorter than this are summed in one level. */
const BLOCKED_SUM_MIN = 2048;

/** A block length near √r dividing r, or 0 when r has no divisor in [√r / 4, √r]. */
function blockOf(r: number): number {
  const root = Math.floor(Math.sqrt(r));
  for (let b = root; b * 4 >= root; b--) if (r % b === 0) return b;
  return 0;
}

/**
 * Sum over `axes` for the wasm engine, which both sums sequentially in float32 (relative error
 * ≈ 3e-6 at 8192 terms, growing with the count; batch norm's backward amplified that to 1%
 * gradient differences from the float64 reference in early ResNet layers) and transposes the input
 * whenever the reduced axes are not innermost (600 ms for a `[512,32,32,64]` batch-norm sum).
 *
 * Contiguous reduced axes are viewed as `[A, R, C]` (A kept axes before, C after). With `C > 1` the
 * sum is a matrix product `viewᵀ·ones` (XNNPACK GEMM, 3 ms for 2M floats against 17 ms); with
 * `C = 1` it is a last-axis `tf.sum`. Long reductions go in two levels, blocks of `B ≈ √R` then across blocks, which brings
 * the error to the `2√R·ε` level. Non-contiguous axes fall back to `tf.sum`.
 */
export function wasmSum(x: tf.Tensor, axes: readonly number[], keepDims: boolean): tf.Tensor {
  if (axes.length === 0) return tf.clone(x);
  const lo = axes[0], hi = axes[axes.length - 1];
  if (hi - lo + 1 !== axes.length) return tf.sum(x, [...axes], keepDims);
  const prod = (from: number, to: number) => x.shape.slice(from, to).reduce((p, d) => p * d, 1);
  const a = prod(0, lo), r = prod(lo, hi + 1), c = prod(hi + 1, x.rank);
  const outShape = keepDims
    ? x.shape.map((d, i) => (i >= lo && i <= hi ? 1 : d))
    : x.shape.filter((_, i) => i < lo || i > hi);
  return tf.tidy(() => {
    let rows = r, block = r < BLOCKED_SUM_MIN ? r : blockOf(r);
    let view = tf.reshape(x, [a, r, c]);
    if (block === 0) {
      // r has no divisor near √r: zero-pad it to a multiple of ⌈√r⌉.
      block = Math.ceil(Math.sqrt(r));
      rows = Math.ceil(r / block) * block;
      view = tf.pad(view, [[0, 0], [0, rows - r], [0, 0]]);
    }
    const outer = rows / block; // number of blocks
    let total: tf.Tensor;
    if (c === 1) {
      const inner = tf.sum(tf.reshape(view, [a, outer, block]), 2);
      total = outer === 1 ? inner : tf.sum(inner, 1);
    } else {
      // Level 1 adds the blocks (Σ_k view[a, k·B + b, c] for every (b, c)), level 2 the B rows
      // of the result. The data is the transposed LEFT operand and ones the right one: XNNPACK
      // packs the right operand on first use of each tensor, which cost 12 ms for 2M floats.
      const sumRows = (m: tf.Tensor3D) => {
        const ones = tf.ones([1, m.shape[1], 1]) as tf.Tensor3D;
        return tf.reshape(tf.matMul(m, ones, true, false), [m.shape[0], m.shape[2]]);
      };
      const acrossBlocks = outer === 1
        ? tf.reshape(view, [a, block * c])
        : sumRows(tf.reshape(view, [a, outer, block * c]));
      total = block === 1 ? acrossBlocks : sumRows(tf.reshape(acrossBlocks, [a, block, c]));
    }
    return tf.reshape(total, outShape);
  });
}

/**
 * `tf.broadcastTo` for the wasm engine, whose `Tile`-based broadcast took 1.8 s for
 * `[1,1,1,64]` → `[512,32,32,64]` (the backward of every batch-norm mean). Broadcasting over
 * leading axes only is an outer product with ones (exact: every output is `1·x`, 27 ms); any other
 * pattern is `0 + x` with NumPy broadcasting (exact except that −0 becomes +0, 70 ms).
 */
export function wasmBroadcastTo(x: tf.Tensor, shape: readonly number[]): tf.Tensor {
  const rank = shape.length;
  const padded = [...new Array<number>(rank - x.rank).fill(1), ...x.shape];
  let split = rank; // shape[split..] equals x's trailing axes
  while (split > 0 && padded[split - 1] === shape[split - 1]) split--;
  return tf.tidy(() => {
    if (padded.slice(0, split).every((d) => d === 1)) {
      const outer = shape.slice(0, split).reduce((p, d) => p * d, 1);
      const inner = x.size;
      if (outer === 1) return tf.reshape(tf.clone(x), [...shape]);
      return tf.reshape(tf.matMul(tf.ones([outer, 1]), tf.reshape(x, [1, inner])), [...shape]);
    }
    return tf.add(tf.zeros([...shape]), x);
  });
}

/** Column sums of a `[n, C]` matrix: the two-level {@linkcode wasmSum} on wasm, else `tf.sum`. */
function sumRows(m: tf.Tensor2D, wasm: boolean): tf.Tensor1D {
  return (wasm ? wasmSum(m, [0], false) : tf.sum(m, 0)) as tf.Tensor1D;
}

/**
 * Training-mode batch norm over every axis but the last, composed from TF.js ops: `x` viewed as
 * `[n, C]`, mean and biased variance per column (two passes, so no `E[x²] − E[x]²`
 * cancellation), `y = (x − mean)·(gamma/√(variance + eps)) + beta`. On wasm the column sums are
 * {@linkcode wasmSum}'s two-level sums, as accurate as the float64 reference needs.
 */
export function batchNormComposed(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
  wasm: boolean,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const channels = x.shape[x.rank - 1];
  const n = x.size / channels;
  const [y, mean, variance] = tf.tidy(() => {
    const rows = tf.reshape(x, [n, channels]) as tf.Tensor2D;
    const mean = tf.div(sumRows(rows, wasm), n) as tf.Tensor1D;
    const centred = tf.sub(rows, mean) as tf.Tensor2D;
    const variance = tf.div(sumRows(tf.square(centred), wasm), n) as tf.Tensor1D;
    const scale = tf.div(gamma, tf.sqrt(tf.add(variance, eps)));
    const y = tf.reshape(tf.add(tf.mul(centred, scale), beta), x.shape);
    return [y, mean, variance];
  });
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/**
 * Gradient of {@linkcode batchNormComposed} for `x`, `gamma` and `beta`: with
 * `invStd = 1/√(variance + eps)` and `x̂ = (x − mean)·invStd` per column of the `[n, C]` view,
 * `dBeta = Σ dy`, `dGamma = Σ dy·x̂`, `dx = gamma·invStd/n·(n·dy − dBeta − x̂·dGamma)`.
 */
export function batchNormGradComposed(
  dy: tf.Tensor,
  x: tf.Tensor,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  gamma: tf.Tensor1D,
  eps: number,
  wasm: boolean,
): { dx: tf.Tensor; dGamma: tf.Tensor1D; dBeta: tf.Tensor1D } {
  const channels = x.shape[x.rank - 1];
  const n = x.size / channels;
  const [dx, dGamma, dBeta] = tf.tidy(() => {
    const rows = tf.reshape(x, [n, channels]) as tf.Tensor2D;
    const dyRows = tf.reshape(dy, [n, channels]) as tf.Tensor2D;
    const invStd = tf.div(1, tf.sqrt(tf.add(variance, eps)));
    const normalised = tf.mul(tf.sub(rows, mean), invStd);
    const dBeta = sumRows(dyRows, wasm);
    const dGamma = sumRows(tf.mul(dyRows, normalised) as tf.Tensor2D, wasm);
    const k = tf.div(tf.mul(gamma, invStd), n);
    const inner = tf.sub(tf.sub(tf.mul(dyRows, n), dBeta), tf.mul(normalised, dGamma));
    return [tf.reshape(tf.mul(inner, k), x.shape), dGamma, dBeta];
  });
  return { dx, dGamma: dGamma as tf.Tensor1D, dBeta: dBeta as tf.Tensor1D };
}
