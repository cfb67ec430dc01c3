/**
 * {@linkcode GpuBackend}: the `Backend` kernels of `@simclr/core` on a TF.js engine.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type {
  Backend,
  BatchNormGradOutput,
  BatchNormOutput,
  BinaryOp,
  ConvGeometry,
  DeviceTensor,
  PoolGeometry,
  ReduceOp,
  Shape,
  UnaryOp,
} from "@simclr/core";
import { batchNormArgumentError, type ShapeRules, shapeRules, sizeOf } from "@simclr/core";
import {
  batchNormComposed,
  batchNormGradComposed,
  conv2dGradFilter,
  conv2dGradInput,
  maxPoolGradFirst,
  wasmBroadcastTo,
  wasmSum,
} from "./composed.ts";
import { type ConcreteEngine, type Engine, type LoadedEngine, loadEngine } from "./engines.ts";

/** A device tensor of {@linkcode GpuBackend}: a TF.js tensor plus the backend that made it. */
class GpuTensor implements DeviceTensor {
  constructor(readonly tensor: tf.Tensor, readonly owner: GpuBackend) {}
  get shape(): Shape {
    return this.tensor.shape;
  }
  /** Whether the TF.js tensor was freed (what `ShapeRules.openTensor` checks). */
  get disposed(): boolean {
    return this.tensor.isDisposed;
  }
}

/** The ops `unary` and `binary` take (`checkOp` lists them in its error). */
const UNARY_OPS: readonly UnaryOp[] = ["neg", "exp", "log", "sqrt", "relu", "step"];
const BINARY_OPS: readonly BinaryOp[] = ["add", "sub", "mul", "div"];

/**
 * Rewrites a pad of rank > 4 as pads of rank ≤ 4 over reshaped views: adjacent unpadded axes are
 * merged and, if that is not enough, each padded axis is padded on its own as `[outer, d, inner]`.
 * TF.js WebGPU returned zeros for rank-5/6 pads on lavapipe.
 */
function padLowRank(x: tf.Tensor, paddings: readonly (readonly [number, number])[]): tf.Tensor {
  if (x.rank <= 4) return tf.pad(x, paddings as [number, number][]);
  return tf.tidy(() => {
    const merged: number[] = [];
    const mergedPads: [number, number][] = [];
    x.shape.forEach((d, i) => {
      const [a, b] = paddings[i];
      const last = mergedPads.length - 1;
      if (
        a === 0 && b === 0 && last >= 0 && mergedPads[last][0] === 0 && mergedPads[last][1] === 0
      ) {
        merged[last] *= d;
      } else {
        merged.push(d);
        mergedPads.push([a, b]);
      }
    });
    const outShape = x.shape.map((d, i) => d + paddings[i][0] + paddings[i][1]);
    if (merged.length <= 4) return tf.reshape(tf.pad(tf.reshape(x, merged), mergedPads), outShape);
    let y: tf.Tensor = x;
    const shape = [...x.shape];
    for (let i = 0; i < shape.length; i++) {
      const [a, b] = paddings[i];
      if (a === 0 && b === 0) continue;
      const outer = sizeOf(shape.slice(0, i));
      const inner = sizeOf(shape.slice(i + 1));
      y = tf.pad(tf.reshape(y, [outer, shape[i], inner]), [[0, 0], [a, b], [0, 0]]);
      shape[i] += a + b;
    }
    return tf.reshape(y, outShape);
  });
}

/**
 * The `Backend` interface of `@simclr/core` on one TF.js engine. Create it with
 * {@linkcode createGpuBackend}. Several instances (e.g. wasm and webgpu) may coexist in one
 * process: each kernel call first makes its engine TF.js's active backend (a synchronous switch
 * once the engine is initialised); a tensor used by another engine is moved by TF.js.
 */
export class GpuBackend implements Backend {
  /** `tfjs-<engine>`, e.g. `tfjs-wasm`. */
  readonly name: string;
  /** The engine running the kernels. */
  readonly engine: ConcreteEngine;
  /** One line saying why this engine was chosen (CLIs print it first). */
  readonly reason: string;
  readonly #tfBackend: string;
  /**
   * The argument rules every backend shares (`shapeRules` of `@simclr/core`), naming this
   * backend in errors: `tfjs-wasm backend conv2d: …`.
   */
  readonly #rules: ShapeRules;
  /** Engines that keep a reference to host arrays given to or returned by TF.js. */
  readonly #copiesHostArrays: boolean;

  /** Wraps an engine that {@linkcode loadEngine} set up. */
  constructor(loaded: LoadedEngine) {
    this.engine = loaded.engine;
    this.name = `tfjs-${loaded.engine}`;
    this.reason = loaded.reason;
    this.#tfBackend = loaded.tfBackend;
    this.#rules = shapeRules(this.name);
    // wasm copies into its heap on upload and slices on read; webgpu and tfjs-node keep the
    // caller's array (and webgpu caches read results), so those get private copies.
    this.#copiesHostArrays = loaded.engine === "wasm";
  }

  /**
   * Makes this engine TF.js's active backend (a synchronous switch: the engine is initialised),
   * runs `make` and wraps its tensor. A WebAssembly trap (the wasm engine's heap is capped at
   * 4 GiB, and running past it traps with "memory access out of bounds") is rethrown saying so.
   */
  #wrap(make: () => tf.Tensor): GpuTensor {
    return new GpuTensor(this.#run(make), this);
  }

  /** Runs `make` on this engine, with the trap handling of `#wrap`, and returns its result as is. */
  #run<T>(make: () => T): T {
    if (tf.getBackend() !== this.#tfBackend) void tf.setBackend(this.#tfBackend);
    try {
      return make();
    } catch (e) {
      if (!(e instanceof WebAssembly.RuntimeError)) throw e;
      const { numTensors, numBytes } = tf.memory();
      throw new Error(
        `${this.name}: the wasm engine trapped (${e.message}) with ${numTensors} live tensors ` +
          `holding ${
            (numBytes / 2 ** 30).toFixed(2)
          } GiB; its memory is capped at 4 GiB, so this ` +
          `is most likely out of memory: use a smaller batch. The engine is unusable afterwards.`,
        { cause: e },
      );
    }
  }

  /** Checks that argument `argument` of `kernel` is a live tensor of this backend. */
  #unwrap(kernel: string, argument: string, x: DeviceTensor): tf.Tensor {
    return this.#rules.openTensor(kernel, argument, x, this.#isOwn).tensor;
  }

  #isOwn = (t: DeviceTensor): t is GpuTensor => t instanceof GpuTensor && t.owner === this;

  /** Copies host data to the device. */
  upload(data: Float32Array, shape: Shape): DeviceTensor {
    this.#rules.checkUpload(data, shape);
    const values = this.#copiesHostArrays ? data : data.slice();
    return this.#wrap(() => tf.tensor(values, [...shape], "float32"));
  }

  /** Copies a device tensor to the host (a fresh array the caller may modify). */
  async read(x: DeviceTensor): Promise<Float32Array> {
    const t = this.#unwrap("read", "x", x);
    const values = (await t.data()) as Float32Array;
    return this.#copiesHostArrays ? values : values.slice();
  }

  /** Frees a device tensor; disposing twice is ignored, a tensor of another backend refused. */
  dispose(x: DeviceTensor): void {
    if (!this.#isOwn(x)) {
      this.#rules.fail("dispose", `argument is not a tensor of this ${this.name} backend`);
    }
    x.tensor.dispose();
  }

  /**
   * Live TF.js tensors in the whole process (`tf.memory().numTensors`, over all engines), so leak
   * tests also see intermediates a kernel forgot to free.
   */
  liveTensors(): number {
    return tf.memory().numTensors;
  }

  /**
   * `a·b` with optional transposes (`tf.matMul`). On wasm the transposes are explicit: its
   * `BatchMatMul` with a transpose flag skips XNNPACK and ran at 1.4–2.2 GFLOP/s against 27 for
   * the plain product (1024³).
   */
  matMul(a: DeviceTensor, b: DeviceTensor, transposeA: boolean, transposeB: boolean): DeviceTensor {
    const ta = this.#unwrap("matMul", "a", a) as tf.Tensor2D;
    const tb = this.#unwrap("matMul", "b", b) as tf.Tensor2D;
    this.#rules.matMulDims(ta.shape, tb.shape, transposeA, transposeB);
    if (this.engine !== "wasm" || (!transposeA && !transposeB)) {
      return this.#wrap(() => tf.matMul(ta, tb, transposeA, transposeB));
    }
    return this.#wrap(() =>
      tf.tidy(() =>
        tf.matMul(transposeA ? tf.transpose(ta) : ta, transposeB ? tf.transpose(tb) : tb)
      )
    );
  }

  /** Forward convolution (`tf.conv2d` with explicit symmetric padding). */
  conv2d(x: DeviceTensor, w: DeviceTensor, geometry: ConvGeometry): DeviceTensor {
    const tx = this.#unwrap("conv2d", "x", x) as tf.Tensor4D;
    const tw = this.#unwrap("conv2d", "w", w) as tf.Tensor4D;
    const { stride, pad } = this.#rules.convDims("conv2d", tx.shape, tw.shape, geometry);
    return this.#wrap(() => tf.conv2d(tx, tw, stride, [[0, 0], [pad, pad], [pad, pad], [0, 0]]));
  }

  /** Input gradient of conv2d, composed as one forward convolution (see `composed.ts`). */
  conv2dGradInput(
    dy: DeviceTensor,
    w: DeviceTensor,
    xShape: Shape,
    geometry: ConvGeometry,
  ): DeviceTensor {
    const k = "conv2dGradInput";
    const tdy = this.#unwrap(k, "dy", dy) as tf.Tensor4D;
    const tw = this.#unwrap(k, "w", w) as tf.Tensor4D;
    const { stride, pad, outShape } = this.#rules.convDims(k, xShape, tw.shape, geometry);
    this.#rules.checkOutputShape(k, "dy", tdy.shape, outShape);
    return this.#wrap(() => conv2dGradInput(tdy, tw, xShape, stride, pad));
  }

  /** Filter gradient of conv2d, composed as one forward convolution (see `composed.ts`). */
  conv2dGradFilter(
    x: DeviceTensor,
    dy: DeviceTensor,
    wShape: Shape,
    geometry: ConvGeometry,
  ): DeviceTensor {
    const k = "conv2dGradFilter";
    const tx = this.#unwrap(k, "x", x) as tf.Tensor4D;
    const tdy = this.#unwrap(k, "dy", dy) as tf.Tensor4D;
    const { stride, pad, outShape } = this.#rules.convDims(k, tx.shape, wShape, geometry);
    this.#rules.checkOutputShape(k, "dy", tdy.shape, outShape);
    return this.#wrap(() => conv2dGradFilter(tx, tdy, wShape, stride, pad));
  }

  /** Max pool without padding (`tf.maxPool`, "valid"). */
  maxPool(x: DeviceTensor, geometry: PoolGeometry): DeviceTensor {
    const tx = this.#unwrap("maxPool", "x", x) as tf.Tensor4D;
    const { size, stride } = this.#rules.poolDims("maxPool", tx.shape, geometry);
    return this.#wrap(() => tf.maxPool(tx, size, stride, "valid"));
  }

  /** Max-pool gradient routed to the first maximum of each window (see `composed.ts`). */
  maxPoolGrad(dy: DeviceTensor, x: DeviceTensor, geometry: PoolGeometry): DeviceTensor {
    const k = "maxPoolGrad";
    const tdy = this.#unwrap(k, "dy", dy) as tf.Tensor4D;
    const tx = this.#unwrap(k, "x", x) as tf.Tensor4D;
    const { size, stride, outShape } = this.#rules.poolDims(k, tx.shape, geometry);
    this.#rules.checkOutputShape(k, "dy", tdy.shape, outShape);
    return this.#wrap(() => maxPoolGradFirst(tdy, tx, size, stride));
  }

  /** Elementwise one-input kernel; `step` is `tf.step` (0 at exactly 0; NaN stays NaN). */
  unary(op: UnaryOp, x: DeviceTensor): DeviceTensor {
    this.#rules.checkOp("unary", op, UNARY_OPS);
    const t = this.#unwrap(`unary ${op}`, "x", x);
    switch (op) {
      case "neg":
        return this.#wrap(() => tf.neg(t));
      case "exp":
        return this.#wrap(() => tf.exp(t));
      case "log":
        return this.#wrap(() => tf.log(t));
      case "sqrt":
        return this.#wrap(() => tf.sqrt(t));
      case "relu":
        return this.#wrap(() => tf.relu(t));
      case "step":
        return this.#wrap(() => tf.step(t, 0));
      default:
        return this.#rules.fail("unary", `unknown op "${op}"`);
    }
  }

  /** Elementwise two-input kernel with broadcasting. */
  binary(op: BinaryOp, a: DeviceTensor, b: DeviceTensor): DeviceTensor {
    this.#rules.checkOp("binary", op, BINARY_OPS);
    const k = `binary ${op}`;
    const ta = this.#unwrap(k, "a", a), tb = this.#unwrap(k, "b", b);
    this.#rules.broadcastShape(k, ta.shape, tb.shape);
    switch (op) {
      case "add":
        return this.#wrap(() => tf.add(ta, tb));
      case "sub":
        return this.#wrap(() => tf.sub(ta, tb));
      case "mul":
        return this.#wrap(() => tf.mul(ta, tb));
      case "div":
        return this.#wrap(() => tf.div(ta, tb));
      default:
        return this.#rules.fail("binary", `unknown op "${op}"`);
    }
  }

  /** Sum or max over `axes`; no axes is a copy. */
  reduce(op: ReduceOp, x: DeviceTensor, axes: readonly number[], keepDims: boolean): DeviceTensor {
    if (op !== "sum" && op !== "max") {
      this.#rules.fail("reduce", `unknown op "${op}" (expected sum or max)`);
    }
    const kernel = `reduce ${op}`;
    const t = this.#unwrap(kernel, "x", x);
    this.#rules.reducedShape(kernel, t.shape, axes, keepDims);
    if (axes.length === 0) return this.#wrap(() => tf.clone(t));
    if (op === "sum") {
      // wasm sums sequentially in float32; the others already reduce in trees.
      return this.#wrap(() =>
        this.engine === "wasm" ? wasmSum(t, axes, keepDims) : tf.sum(t, [...axes], keepDims)
      );
    }
    return this.#wrap(() => tf.max(t, [...axes], keepDims));
  }

  /** Repeats `x` along size-1 or missing leading axes (`tf.broadcastTo`, checked first). */
  broadcastTo(x: DeviceTensor, shape: Shape): DeviceTensor {
    const t = this.#unwrap("broadcastTo", "x", x);
    this.#rules.checkBroadcastTo(t.shape, shape);
    // wasm's Tile-based broadcast is 25× slower than the composition (see composed.ts).
    return this.#wrap(() =>
      this.engine === "wasm" ? wasmBroadcastTo(t, shape) : tf.broadcastTo(t, [...shape])
    );
  }

  /** Same data, new shape. */
  reshape(x: DeviceTensor, shape: Shape): DeviceTensor {
    const t = this.#unwrap("reshape", "x", x);
    this.#rules.checkReshape(t.shape, shape);
    return this.#wrap(() => tf.reshape(t, [...shape]));
  }

  /** Concatenates along `axis`. */
  concat(xs: readonly DeviceTensor[], axis: number): DeviceTensor {
    const ts = xs.map((x, i) => this.#unwrap("concat", `xs[${i}]`, x));
    this.#rules.concatShape(ts.map((t) => t.shape), axis);
    return this.#wrap(() => tf.concat(ts, axis));
  }

  /** The block at `begin` with extent `size`. */
  slice(x: DeviceTensor, begin: readonly number[], size: readonly number[]): DeviceTensor {
    const t = this.#unwrap("slice", "x", x);
    this.#rules.checkSlice(t.shape, begin, size);
    return this.#wrap(() => tf.slice(t, [...begin], [...size]));
  }

  /** Zero padding (ranks above 4 are rewritten as rank ≤ 4 pads). */
  pad(x: DeviceTensor, paddings: readonly (readonly [number, number])[]): DeviceTensor {
    const t = this.#unwrap("pad", "x", x);
    this.#rules.paddedShape(t.shape, paddings);
    return this.#wrap(() => padLowRank(t, paddings));
  }

  /** Training-mode batch norm, composed in one `tf.tidy` (see `composed.ts`). */
  batchNorm(
    x: DeviceTensor,
    gamma: DeviceTensor,
    beta: DeviceTensor,
    eps: number,
  ): BatchNormOutput {
    const k = "batchNorm";
    const tx = this.#unwrap(k, "x", x);
    const tg = this.#unwrap(k, "gamma", gamma) as tf.Tensor1D;
    const tb = this.#unwrap(k, "beta", beta) as tf.Tensor1D;
    const problem = batchNormArgumentError(tx.shape, { gamma: tg.shape, beta: tb.shape }, eps);
    if (problem) this.#rules.fail(k, problem);
    const out = this.#run(() => batchNormComposed(tx, tg, tb, eps, this.engine === "wasm"));
    return {
      y: new GpuTensor(out.y, this),
      mean: new GpuTensor(out.mean, this),
      variance: new GpuTensor(out.variance, this),
    };
  }

  /** Batch-norm gradient for x, gamma and beta, composed in one `tf.tidy` (see `composed.ts`). */
  batchNormGrad(
    dy: DeviceTensor,
    x: DeviceTensor,
    mean: DeviceTensor,
    variance: DeviceTensor,
    gamma: DeviceTensor,
    eps: number,
  ): BatchNormGradOutput {
    const k = "batchNormGrad";
    const tdy = this.#unwrap(k, "dy", dy), tx = this.#unwrap(k, "x", x);
    const tm = this.#unwrap(k, "mean", mean) as tf.Tensor1D;
    const tv = this.#unwrap(k, "variance", variance) as tf.Tensor1D;
    const tg = this.#unwrap(k, "gamma", gamma) as tf.Tensor1D;
    const problem = batchNormArgumentError(
      tx.shape,
      { mean: tm.shape, variance: tv.shape, gamma: tg.shape },
      eps,
      tdy.shape,
    );
    if (problem) this.#rules.fail(k, problem);
    const out = this.#run(() =>
      batchNormGradComposed(tdy, tx, tm, tv, tg, eps, this.engine === "wasm")
    );
    return {
      dx: new GpuTensor(out.dx, this),
      dGamma: new GpuTensor(out.dGamma, this),
      dBeta: new GpuTensor(out.dBeta, this),
    };
  }
}

/** Options of {@linkcode createGpuBackend}. */
export interface GpuBackendOptions {
  /** Engine to run on; default `auto` (cuda, else webgpu on a hardware adapter, else wasm). */
  readonly engine?: Engine;
}

/**
 * Sets up a TF.js engine and returns the backend on it. Throws `EngineUnavailableError` with
 * what is missing and how to fix it when an explicitly asked engine cannot start.
 */
export async function createGpuBackend(opts: GpuBackendOptions = {}): Promise<GpuBackend> {
  return new GpuBackend(await loadEngine(opts.engine ?? "auto"));
}
