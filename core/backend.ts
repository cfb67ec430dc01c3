/**
 * The tensor interface every backend implements: a small set of primitive kernels over opaque
 * device tensors. Everything else (autograd, layers, losses, optimisers) is composed in core from
 * these, so a backend is nothing but these kernels. Batch normalisation is the one fused kernel:
 * composed from primitives it is nine memory-bound passes forward and more backward, about half a
 * CNN training step on the CPU, where fused it is two passes each way.
 *
 * ## Adding a kernel (the list every backend must implement is {@linkcode Backend})
 * 1. Declare it on {@linkcode Backend} below, with its layout and shape contract in JSDoc.
 * 2. Put its argument rules in `core/shapes.ts` (one copy, shared by every backend's checks).
 * 3. The float64 reference: `backend-ref/ref_backend.ts` (and a family file such as
 *    `backend-ref/conv.ts`), with a case in `backend-ref/kernels_test.ts`.
 * 4. TF.js: `backend-gpu/gpu_backend.ts` (composed from TF.js ops in `backend-gpu/composed.ts`
 *    where TF.js lacks it).
 * 5. Native: the C++ in `backend-native/csrc/`, its symbol in `backend-native/ffi.ts`, its wrapper
 *    in `backend-native/native_backend.ts`.
 * 6. A row in `backend-ref/conformance.ts` (`verifyKernels`), so `deno task verify` and every
 *    backend's tests compare it with the reference; if autograd uses it, its gradient rule in
 *    `core/ops.ts`.
 *
 * Layouts: images are NHWC, conv filters HWIO (`[kh, kw, cin, cout]`). All tensors are float32 on
 * the device (the reference backend may keep float64 internally, but rounds to float32 on every
 * kernel output so both backends see the same values).
 *
 * @module
 */

/** A tensor shape; `[]` is a scalar. */
export type Shape = readonly number[];

/**
 * An opaque handle to memory owned by a backend. Only its shape is public; a backend casts it to
 * its own type. A handle is valid until {@linkcode Backend.dispose} is called on it.
 */
export interface DeviceTensor {
  readonly shape: Shape;
}

/** Elementwise one-input kernels. `step` is the Heaviside step: 1 where x > 0, else 0. */
export type UnaryOp = "neg" | "exp" | "log" | "sqrt" | "relu" | "step";

/** Elementwise two-input kernels with NumPy broadcasting. */
export type BinaryOp = "add" | "sub" | "mul" | "div";

/** Reductions over a set of axes. */
export type ReduceOp = "sum" | "max";

/** Geometry of a 2-D convolution: one stride and one symmetric zero padding for both axes. */
export interface ConvGeometry {
  /** Step between output positions, 1 or 2 in practice. */
  readonly stride: number;
  /** Zero rows/columns added on every side. */
  readonly pad: number;
}

/** Geometry of a max pool without padding ("VALID"). */
export interface PoolGeometry {
  /** Window side. */
  readonly size: number;
  /** Step between windows. */
  readonly stride: number;
}

/** Outputs of {@linkcode Backend.batchNorm}; the caller owns and disposes all three. */
export interface BatchNormOutput {
  /** The normalised, scaled and shifted input, shape of `x`. */
  readonly y: DeviceTensor;
  /** Per-channel batch mean, `[C]`. */
  readonly mean: DeviceTensor;
  /** Per-channel biased batch variance (divided by n, not n − 1), `[C]`. */
  readonly variance: DeviceTensor;
}

/** Outputs of {@linkcode Backend.batchNormGrad}; the caller owns and disposes all three. */
export interface BatchNormGradOutput {
  /** Gradient with respect to `x`, shape of `x`. */
  readonly dx: DeviceTensor;
  /** Gradient with respect to the scale `gamma`, `[C]`. */
  readonly dGamma: DeviceTensor;
  /** Gradient with respect to the shift `beta`, `[C]`. */
  readonly dBeta: DeviceTensor;
}

/**
 * The primitive kernels. Every method returns a new device tensor that the caller owns and must
 * {@linkcode Backend.dispose} (core's scopes do this). Inputs are never modified.
 */
export interface Backend {
  /** Human-readable name, e.g. `ref` or `tfjs-wasm`. */
  readonly name: string;

  /** Copies host data to the device. `data.length` must equal the product of `shape`. */
  upload(data: Float32Array, shape: Shape): DeviceTensor;
  /** Copies a device tensor to the host (row-major). */
  read(x: DeviceTensor): Promise<Float32Array>;
  /**
   * Frees a device tensor. Every backend ignores a second dispose of the same tensor (so a
   * scope and an explicit dispose may both free it) and refuses a tensor of another backend; any
   * other use of a disposed tensor is an error naming the kernel and the argument.
   */
  dispose(x: DeviceTensor): void;
  /**
   * Number of live device tensors, for leak tests, which compare it before and after a piece of
   * work (never its absolute value). Its scope is per backend: ref and native count the tensors
   * of this instance; TF.js counts every TF.js tensor in the process (`tf.memory().numTensors`,
   * all engines), so it also sees intermediates a composed kernel forgot to free.
   */
  liveTensors(): number;

  /** `a·b` on 2-D tensors, with `a` and/or `b` transposed first when asked. */
  matMul(a: DeviceTensor, b: DeviceTensor, transposeA: boolean, transposeB: boolean): DeviceTensor;

  /** 2-D convolution (cross-correlation): x `[n,h,w,cin]`, w `[kh,kw,cin,cout]` → `[n,oh,ow,cout]`. */
  conv2d(x: DeviceTensor, w: DeviceTensor, geometry: ConvGeometry): DeviceTensor;
  /** Gradient of {@linkcode Backend.conv2d} with respect to its input; returns `xShape`. */
  conv2dGradInput(
    dy: DeviceTensor,
    w: DeviceTensor,
    xShape: Shape,
    geometry: ConvGeometry,
  ): DeviceTensor;
  /** Gradient of {@linkcode Backend.conv2d} with respect to its filter; returns `wShape`. */
  conv2dGradFilter(
    x: DeviceTensor,
    dy: DeviceTensor,
    wShape: Shape,
    geometry: ConvGeometry,
  ): DeviceTensor;

  /** Max pool over NHWC windows (no padding): `[n,h,w,c]` → `[n,oh,ow,c]`. */
  maxPool(x: DeviceTensor, geometry: PoolGeometry): DeviceTensor;
  /**
   * Gradient of {@linkcode Backend.maxPool}: each window's `dy` goes to the position of its
   * maximum in `x` (the first one on ties).
   */
  maxPoolGrad(dy: DeviceTensor, x: DeviceTensor, geometry: PoolGeometry): DeviceTensor;

  /** Elementwise one-input kernel. */
  unary(op: UnaryOp, x: DeviceTensor): DeviceTensor;
  /** Elementwise two-input kernel with NumPy broadcasting. */
  binary(op: BinaryOp, a: DeviceTensor, b: DeviceTensor): DeviceTensor;
  /** Reduces over `axes` (sorted, unique, non-negative); `keepDims` keeps them as size 1. */
  reduce(op: ReduceOp, x: DeviceTensor, axes: readonly number[], keepDims: boolean): DeviceTensor;

  /** Repeats `x` along its size-1 (or missing leading) axes to `shape`, NumPy broadcasting rules. */
  broadcastTo(x: DeviceTensor, shape: Shape): DeviceTensor;
  /** Same data, new shape (same element count). */
  reshape(x: DeviceTensor, shape: Shape): DeviceTensor;
  /** Concatenates along `axis`; all other dimensions must agree. */
  concat(xs: readonly DeviceTensor[], axis: number): DeviceTensor;
  /** The block starting at `begin` with extent `size` (same rank as `x`). */
  slice(x: DeviceTensor, begin: readonly number[], size: readonly number[]): DeviceTensor;
  /** Zero padding: `paddings[i] = [before, after]` for axis `i`. */
  pad(x: DeviceTensor, paddings: readonly (readonly [number, number])[]): DeviceTensor;

  /**
   * Training-mode batch normalisation over every axis but the last. With `C` the last
   * dimension of `x` (channels), `n = size(x) / C ≥ 1` values per channel, and sums over
   * those n values of each channel c:
   *
   *   mean[c] = Σ x / n,  variance[c] = Σ (x − mean[c])² / n  (biased),
   *   y = (x − mean[c]) / √(variance[c] + eps) · gamma[c] + beta[c].
   *
   * `gamma` and `beta` are `[C]`. Returns `y` (shape of `x`), `mean` and `variance` (`[C]`).
   */
  batchNorm(x: DeviceTensor, gamma: DeviceTensor, beta: DeviceTensor, eps: number): BatchNormOutput;

  /**
   * Gradient of {@linkcode Backend.batchNorm}'s `y` (through the batch statistics too) given the
   * upstream gradient `dy` (shape of `x`) and the forward `mean` and `variance` (`[C]`). With
   * invStd = 1/√(variance + eps), x̂ = (x − mean)·invStd and sums over the n values of a channel:
   *
   *   dBeta = Σ dy,  dGamma = Σ dy·x̂,
   *   dx = gamma·invStd/n · (n·dy − dBeta − x̂·dGamma).
   */
  batchNormGrad(
    dy: DeviceTensor,
    x: DeviceTensor,
    mean: DeviceTensor,
    variance: DeviceTensor,
    gamma: DeviceTensor,
    eps: number,
  ): BatchNormGradOutput;
}

/** Number of elements of a shape. */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Output side of a convolution or pool: `floor((in + 2·pad − k) / stride) + 1`. */
export function outSize(inSize: number, k: number, stride: number, pad = 0): number {
  return Math.floor((inSize + 2 * pad - k) / stride) + 1;
}

/** NumPy broadcasting of two shapes; throws naming both shapes when they do not broadcast. */
export function broadcastShapes(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    }
    out[i] = Math.max(da, db);
  }
  return out;
}
