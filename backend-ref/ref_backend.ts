/**
 * The reference backend: every {@linkcode Backend} kernel as plain TypeScript loops on the CPU,
 * accumulating in float64 and rounding each output to float32. It is the numerical oracle the
 * TF.js backend is checked against, so it favours readable index math over speed.
 *
 * @module
 */

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
import { batchNorm, batchNormGrad } from "./batchnorm.ts";
import { conv2d, conv2dGradFilter, conv2dGradInput, maxPool, maxPoolGrad } from "./conv.ts";
import { type Dense, rules } from "./dense.ts";
import { binary, broadcastTo, reduce, unary } from "./elementwise.ts";
import { concat, pad, reshape, slice } from "./layout.ts";
import { matMul } from "./matmul.ts";

/** A reference tensor: a host float32 array, the backend that made it, and whether it is freed. */
class RefTensor implements DeviceTensor, Dense {
  disposed = false;
  constructor(
    readonly owner: RefBackend,
    readonly shape: Shape,
    readonly data: Float32Array,
  ) {}
}

/** The reference CPU backend (`name` is `"ref"`). */
export class RefBackend implements Backend {
  /** Always `"ref"`. */
  readonly name = "ref";
  #live = 0;

  /** Copies `data` into a new tensor, so the caller may reuse its array afterwards. */
  upload(data: Float32Array, shape: Shape): DeviceTensor {
    rules.checkUpload(data, shape);
    return this.#wrap({ shape, data: data.slice() });
  }

  /** A fresh copy of the tensor's values, row-major; rejects for a disposed or foreign tensor. */
  read(x: DeviceTensor): Promise<Float32Array> {
    // A bad handle rejects the promise rather than throwing, like any async failure.
    try {
      return Promise.resolve(this.#open("read", "x", x).data.slice());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Like {@linkcode RefBackend.read} but synchronous (not part of `Backend`): handy inside the
   * objective given to `numericalGradient`, which must return a number right away.
   */
  readSync(x: DeviceTensor): Float32Array {
    return this.#open("readSync", "x", x).data.slice();
  }

  /** Frees `x`. Disposing an already-freed tensor is ignored, as TF.js does. */
  dispose(x: DeviceTensor): void {
    if (!(x instanceof RefTensor) || x.owner !== this) {
      rules.fail("dispose", "argument is not a tensor of this ref backend");
    }
    if (x.disposed) return;
    x.disposed = true;
    this.#live--;
  }

  /** Tensors uploaded or produced by a kernel and not yet disposed. */
  liveTensors(): number {
    return this.#live;
  }

  /** 2-D matrix product with optional transposes; see {@linkcode Backend.matMul}. */
  matMul(a: DeviceTensor, b: DeviceTensor, transposeA: boolean, transposeB: boolean): DeviceTensor {
    return this.#wrap(
      matMul(this.#open("matMul", "a", a), this.#open("matMul", "b", b), transposeA, transposeB),
    );
  }

  /** NHWC × HWIO cross-correlation; see {@linkcode Backend.conv2d}. */
  conv2d(x: DeviceTensor, w: DeviceTensor, geometry: ConvGeometry): DeviceTensor {
    return this.#wrap(conv2d(this.#open("conv2d", "x", x), this.#open("conv2d", "w", w), geometry));
  }

  /** Adjoint of conv2d in its input; see {@linkcode Backend.conv2dGradInput}. */
  conv2dGradInput(
    dy: DeviceTensor,
    w: DeviceTensor,
    xShape: Shape,
    geometry: ConvGeometry,
  ): DeviceTensor {
    const k = "conv2dGradInput";
    return this.#wrap(
      conv2dGradInput(this.#open(k, "dy", dy), this.#open(k, "w", w), xShape, geometry),
    );
  }

  /** Adjoint of conv2d in its filter; see {@linkcode Backend.conv2dGradFilter}. */
  conv2dGradFilter(
    x: DeviceTensor,
    dy: DeviceTensor,
    wShape: Shape,
    geometry: ConvGeometry,
  ): DeviceTensor {
    const k = "conv2dGradFilter";
    return this.#wrap(
      conv2dGradFilter(this.#open(k, "x", x), this.#open(k, "dy", dy), wShape, geometry),
    );
  }

  /** VALID max pool; see {@linkcode Backend.maxPool}. */
  maxPool(x: DeviceTensor, geometry: PoolGeometry): DeviceTensor {
    return this.#wrap(maxPool(this.#open("maxPool", "x", x), geometry));
  }

  /** Routes `dy` to each window's first maximum; see {@linkcode Backend.maxPoolGrad}. */
  maxPoolGrad(dy: DeviceTensor, x: DeviceTensor, geometry: PoolGeometry): DeviceTensor {
    const k = "maxPoolGrad";
    return this.#wrap(maxPoolGrad(this.#open(k, "dy", dy), this.#open(k, "x", x), geometry));
  }

  /** Elementwise one-input kernel; see {@linkcode Backend.unary}. */
  unary(op: UnaryOp, x: DeviceTensor): DeviceTensor {
    return this.#wrap(unary(op, this.#open(`unary ${op}`, "x", x)));
  }

  /** Elementwise broadcasting two-input kernel; see {@linkcode Backend.binary}. */
  binary(op: BinaryOp, a: DeviceTensor, b: DeviceTensor): DeviceTensor {
    const k = `binary ${op}`;
    return this.#wrap(binary(op, this.#open(k, "a", a), this.#open(k, "b", b)));
  }

  /** Sum or max over sorted axes; see {@linkcode Backend.reduce}. */
  reduce(op: ReduceOp, x: DeviceTensor, axes: readonly number[], keepDims: boolean): DeviceTensor {
    return this.#wrap(reduce(op, this.#open(`reduce ${op}`, "x", x), axes, keepDims));
  }

  /** Repeats size-1 axes to `shape`; see {@linkcode Backend.broadcastTo}. */
  broadcastTo(x: DeviceTensor, shape: Shape): DeviceTensor {
    return this.#wrap(broadcastTo(this.#open("broadcastTo", "x", x), shape));
  }

  /** Same values, new shape; see {@linkcode Backend.reshape}. */
  reshape(x: DeviceTensor, shape: Shape): DeviceTensor {
    return this.#wrap(reshape(this.#open("reshape", "x", x), shape));
  }

  /** Concatenation along an axis; see {@linkcode Backend.concat}. */
  concat(xs: readonly DeviceTensor[], axis: number): DeviceTensor {
    return this.#wrap(concat(xs.map((x, i) => this.#open("concat", `xs[${i}]`, x)), axis));
  }

  /** A block of `x`; see {@linkcode Backend.slice}. */
  slice(x: DeviceTensor, begin: readonly number[], size: readonly number[]): DeviceTensor {
    return this.#wrap(slice(this.#open("slice", "x", x), begin, size));
  }

  /** Zero padding; see {@linkcode Backend.pad}. */
  pad(x: DeviceTensor, paddings: readonly (readonly [number, number])[]): DeviceTensor {
    return this.#wrap(pad(this.#open("pad", "x", x), paddings));
  }

  /** Training-mode batch norm over all axes but the last; see {@linkcode Backend.batchNorm}. */
  batchNorm(
    x: DeviceTensor,
    gamma: DeviceTensor,
    beta: DeviceTensor,
    eps: number,
  ): BatchNormOutput {
    const k = "batchNorm";
    const out = batchNorm(
      this.#open(k, "x", x),
      this.#open(k, "gamma", gamma),
      this.#open(k, "beta", beta),
      eps,
    );
    return { y: this.#wrap(out.y), mean: this.#wrap(out.mean), variance: this.#wrap(out.variance) };
  }

  /** Gradient of batch norm for x, gamma and beta; see {@linkcode Backend.batchNormGrad}. */
  batchNormGrad(
    dy: DeviceTensor,
    x: DeviceTensor,
    mean: DeviceTensor,
    variance: DeviceTensor,
    gamma: DeviceTensor,
    eps: number,
  ): BatchNormGradOutput {
    const k = "batchNormGrad";
    const out = batchNormGrad(
      this.#open(k, "dy", dy),
      this.#open(k, "x", x),
      this.#open(k, "mean", mean),
      this.#open(k, "variance", variance),
      this.#open(k, "gamma", gamma),
      eps,
    );
    return {
      dx: this.#wrap(out.dx),
      dGamma: this.#wrap(out.dGamma),
      dBeta: this.#wrap(out.dBeta),
    };
  }

  /** Checks that `t` is a live tensor of this backend and gives its host array. */
  #open(kernel: string, argument: string, t: DeviceTensor): RefTensor {
    return rules.openTensor(kernel, argument, t, this.#isOwn);
  }

  /** Whether `t` is a tensor of this backend (live or not). */
  readonly #isOwn = (t: DeviceTensor): t is RefTensor => t instanceof RefTensor && t.owner === this;

  /** Makes a kernel's output a live tensor owned by the caller. */
  #wrap(result: Dense): RefTensor {
    this.#live++;
    return new RefTensor(this, Object.freeze([...result.shape]), result.data);
  }
}

/** A new, empty reference backend. */
export function createRefBackend(): RefBackend {
  return new RefBackend();
}
