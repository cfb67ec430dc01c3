/**
 * The argument rules every backend applies, so every backend refuses the same bad input with the
 * same message. Each rule checks the shapes and arguments of one kernel and returns what the
 * kernel needs (output shape, loop sizes); a broken rule throws an `Error` reading
 * `<backend> backend <kernel>: <what is wrong>`, e.g. `ref backend reshape: cannot reshape [6]
 * (6 elements) to [4] (4 elements)`.
 *
 * The rules for one backend come from {@linkcode shapeRules}; the backend-free helpers
 * ({@linkcode showShape}, {@linkcode stridesOf}, {@linkcode broadcastSteps}) are plain functions.
 *
 * @module
 */

import {
  broadcastShapes,
  type ConvGeometry,
  type DeviceTensor,
  outSize,
  type PoolGeometry,
  type Shape,
  sizeOf,
} from "./backend.ts";

/**
 * Throws the error of a refused kernel call: `<backend> backend <kernel>: <message>`, so a failure
 * says which backend and kernel it came from.
 */
export function kernelError(backend: string, kernel: string, message: string): never {
  throw new Error(`${backend} backend ${kernel}: ${message}`);
}

/** Writes a shape the way error messages show it, e.g. `[2,3]`. */
export function showShape(shape: Shape): string {
  return `[${shape.join(",")}]`;
}

/**
 * Row-major strides: `strides[i]` is how far apart in the flat array two elements are whose
 * index differs by one along axis `i` (the last axis has stride 1).
 */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    strides[axis] = stride;
    stride *= shape[axis];
  }
  return strides;
}

/**
 * Strides of `shape` right-aligned to `rank` axes, with 0 on broadcast (size-1 or missing)
 * axes: how far an input's flat offset moves when the broadcast output index grows by one.
 */
export function broadcastSteps(shape: Shape, rank: number): number[] {
  const own = stridesOf(shape);
  const steps = new Array<number>(rank).fill(0);
  const lead = rank - shape.length;
  for (let axis = 0; axis < shape.length; axis++) {
    steps[lead + axis] = shape[axis] === 1 ? 0 : own[axis];
  }
  return steps;
}

/**
 * Argument check shared by the batch-norm kernels: `x` has rank ≥ 1 and at least one value per
 * channel, every tensor of `perChannel` (by argument name) is `[C]` with `C` the last dimension of
 * `x`, `eps` is a finite number ≥ 0, and `dy`, when given, has `x`'s shape. Returns what is
 * wrong, naming the argument, or null.
 */
export function batchNormArgumentError(
  x: Shape,
  perChannel: Readonly<Record<string, Shape>>,
  eps: number,
  dy?: Shape,
): string | null {
  if (typeof eps !== "number" || !Number.isFinite(eps) || eps < 0) {
    return `eps ${eps} must be a finite number ≥ 0`;
  }
  if (x.length === 0 || sizeOf(x) === 0) {
    return `x ${showShape(x)} needs rank ≥ 1 and at least one value per channel (last axis)`;
  }
  const channels = x[x.length - 1];
  for (const [name, shape] of Object.entries(perChannel)) {
    if (shape.length !== 1 || shape[0] !== channels) {
      return `${name} ${showShape(shape)} should be [${channels}], the channels of x ${
        showShape(x)
      }`;
    }
  }
  if (dy && (dy.length !== x.length || dy.some((d, i) => d !== x[i]))) {
    return `dy ${showShape(dy)} should have the shape of x ${showShape(x)}`;
  }
  return null;
}

/** Sizes of one convolution (NHWC input, HWIO filter), checked for consistency. */
export interface ConvDims {
  /** Images in the batch. */
  readonly batch: number;
  /** Input height. */
  readonly inH: number;
  /** Input width. */
  readonly inW: number;
  /** Input channels. */
  readonly inC: number;
  /** Filter height. */
  readonly kH: number;
  /** Filter width. */
  readonly kW: number;
  /** Output channels. */
  readonly outC: number;
  /** Output height. */
  readonly outH: number;
  /** Output width. */
  readonly outW: number;
  /** Step between output positions. */
  readonly stride: number;
  /** Zero rows/columns on every side. */
  readonly pad: number;
  /** The output shape `[batch, outH, outW, outC]`. */
  readonly outShape: number[];
}

/** Sizes of one VALID max pool over an NHWC input, checked. */
export interface PoolDims {
  /** Images in the batch. */
  readonly batch: number;
  /** Input height. */
  readonly inH: number;
  /** Input width. */
  readonly inW: number;
  /** Channels (input and output). */
  readonly channels: number;
  /** Output height. */
  readonly outH: number;
  /** Output width. */
  readonly outW: number;
  /** Window side. */
  readonly size: number;
  /** Step between windows. */
  readonly stride: number;
  /** The output shape `[batch, outH, outW, channels]`. */
  readonly outShape: number[];
}

/** Options of {@linkcode shapeRules}. */
export interface ShapeRulesOptions {
  /**
   * Highest tensor rank the backend takes (the native kernels have a fixed limit); shapes and
   * broadcast results of a higher rank are refused. Default: no limit.
   */
  readonly maxRank?: number;
}

/**
 * The argument rules bound to one backend's name (see {@linkcode shapeRules}). Every method
 * throws {@linkcode kernelError} for that backend when its rule is broken. The methods do not
 * use `this`, so they may be destructured.
 */
export interface ShapeRules {
  /** The backend named in error messages, e.g. `ref` for `ref backend matMul: …`. */
  readonly backend: string;
  /** Throws `<backend> backend <kernel>: <message>`. */
  fail(kernel: string, message: string): never;
  /**
   * Checks that `shape` (named `what` in the message) is an array of non-negative integer
   * dimensions, no longer than the backend's `maxRank`.
   */
  checkShape(kernel: string, what: string, shape: Shape): void;
  /** Checks that `axis` names an axis of a rank-`rank` tensor. */
  checkAxis(kernel: string, axis: number, rank: number): void;
  /** Checks a positive integer `stride` and a non-negative integer `pad`. */
  checkGeometry(kernel: string, stride: number, pad: number): void;
  /**
   * Checks that argument `argument` of `kernel` is a live tensor of this backend (`isOwn` tells
   * whether it belongs to it) and returns it as the backend's tensor type.
   */
  openTensor<T extends DeviceTensor & { readonly disposed: boolean }>(
    kernel: string,
    argument: string,
    t: DeviceTensor,
    isOwn: (t: DeviceTensor) => t is T,
  ): T;
  /** Checks that `op` is one of `known` (the `unknown op` error lists them). */
  checkOp(kernel: string, op: string, known: readonly string[]): void;
  /**
   * Checks an `upload`: `data` is a Float32Array, `shape` a valid shape, and their element
   * counts agree.
   */
  checkUpload(data: Float32Array, shape: Shape): void;
  /**
   * Checks `matMul` operands (2-D, inner dimensions equal after the transposes) and returns the
   * product's sizes: `op(a)` is `[m, k]`, `op(b)` is `[k, n]`.
   */
  matMulDims(
    aShape: Shape,
    bShape: Shape,
    transposeA: boolean,
    transposeB: boolean,
  ): { m: number; n: number; k: number };
  /**
   * Checks a convolution's input shape `[n,h,w,cin]` against its filter shape
   * `[kh,kw,cin,cout]` and geometry, and returns its sizes and output shape.
   */
  convDims(kernel: string, xShape: Shape, wShape: Shape, geometry: ConvGeometry): ConvDims;
  /** Checks a max pool's window, stride and NHWC input, and returns its sizes and output shape. */
  poolDims(kernel: string, xShape: Shape, geometry: PoolGeometry): PoolDims;
  /**
   * Checks that argument `name` (e.g. `dy` of a gradient kernel) has the forward output's
   * rank-4 shape `want`.
   */
  checkOutputShape(kernel: string, name: string, shape: Shape, want: Shape): void;
  /**
   * The broadcast shape of a binary kernel's operands; refuses shapes that do not broadcast (or
   * broadcast beyond `maxRank`).
   */
  broadcastShape(kernel: string, a: Shape, b: Shape): number[];
  /** Checks that `xShape` broadcasts to the target `shape` (`broadcastTo`). */
  checkBroadcastTo(xShape: Shape, shape: Shape): void;
  /**
   * Checks a `reduce` over sorted, unique, in-range `axes` (`kernel` names the op, e.g.
   * `reduce sum`) and returns the output shape, reduced axes kept as 1 when `keepDims`.
   */
  reducedShape(kernel: string, shape: Shape, axes: readonly number[], keepDims: boolean): number[];
  /** Checks a `reshape` target: a valid shape with the element count of `xShape`. */
  checkReshape(xShape: Shape, shape: Shape): void;
  /**
   * Checks `concat` inputs (at least one, equal off `axis`, `axis` in range) and returns the
   * output shape.
   */
  concatShape(shapes: readonly Shape[], axis: number): number[];
  /** Checks that the `slice` block `begin`/`size` lies inside `shape`. */
  checkSlice(shape: Shape, begin: readonly number[], size: readonly number[]): void;
  /** Checks `pad` paddings (one non-negative `[before, after]` per axis); returns the output shape. */
  paddedShape(shape: Shape, paddings: readonly (readonly [number, number])[]): number[];
}

/**
 * The argument rules of the backend named `backend` (`ref`, `native`, …): every check a kernel
 * makes before it touches data, with the backend's name in every error message.
 */
export function shapeRules(backend: string, options: ShapeRulesOptions = {}): ShapeRules {
  const maxRank = options.maxRank ?? Infinity;
  // Explicitly typed, so that TypeScript knows code after a `fail(…)` call is unreachable.
  const fail: (kernel: string, message: string) => never = (kernel, message) =>
    kernelError(backend, kernel, message);

  const checkShape = (kernel: string, what: string, shape: Shape): void => {
    if (!Array.isArray(shape)) fail(kernel, `${what} must be an array of dimensions`);
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        fail(kernel, `${what} ${showShape(shape)} must have non-negative integer dimensions`);
      }
    }
    if (shape.length > maxRank) {
      fail(kernel, `${what} ${showShape(shape)} has rank > ${maxRank}`);
    }
  };

  const checkAxis = (kernel: string, axis: number, rank: number): void => {
    if (!Number.isInteger(axis) || axis < 0 || axis >= rank) {
      fail(kernel, `axis ${axis} is out of range for rank ${rank} (expected 0..${rank - 1})`);
    }
  };

  const checkGeometry = (kernel: string, stride: number, pad: number): void => {
    if (!Number.isInteger(stride) || stride < 1) {
      fail(kernel, `stride ${stride} must be a positive integer`);
    }
    if (!Number.isInteger(pad) || pad < 0) {
      fail(kernel, `pad ${pad} must be a non-negative integer`);
    }
  };

  const checkOutputShape = (kernel: string, name: string, shape: Shape, want: Shape): void => {
    if (shape.length !== 4 || want.some((v, i) => shape[i] !== v)) {
      fail(kernel, `${name} ${showShape(shape)} should be the output shape ${showShape(want)}`);
    }
  };

  return {
    backend,
    fail,
    checkShape,
    checkAxis,
    checkGeometry,
    checkOutputShape,

    openTensor<T extends DeviceTensor & { readonly disposed: boolean }>(
      kernel: string,
      argument: string,
      t: DeviceTensor,
      isOwn: (t: DeviceTensor) => t is T,
    ): T {
      if (!isOwn(t)) {
        fail(kernel, `argument ${argument} is not a tensor of this ${backend} backend`);
      }
      if (t.disposed) {
        fail(kernel, `argument ${argument} (shape ${showShape(t.shape)}) was used after dispose`);
      }
      return t;
    },

    checkOp(kernel, op, known) {
      if (!known.includes(op)) fail(kernel, `unknown op "${op}" (expected ${known})`);
    },

    checkUpload(data, shape) {
      if (!(data instanceof Float32Array)) fail("upload", "data must be a Float32Array");
      checkShape("upload", "shape", shape);
      if (data.length !== sizeOf(shape)) {
        fail(
          "upload",
          `data has ${data.length} elements but shape ${showShape(shape)} needs ${sizeOf(shape)}`,
        );
      }
    },

    matMulDims(aShape, bShape, transposeA, transposeB) {
      const describe = () =>
        `a ${showShape(aShape)} (transposeA=${transposeA}) · b ${showShape(bShape)} ` +
        `(transposeB=${transposeB})`;
      if (aShape.length !== 2 || bShape.length !== 2) {
        fail("matMul", `needs 2-D tensors, got ${describe()}`);
      }
      const [m, k] = transposeA ? [aShape[1], aShape[0]] : [aShape[0], aShape[1]];
      const [kB, n] = transposeB ? [bShape[1], bShape[0]] : [bShape[0], bShape[1]];
      if (k !== kB) fail("matMul", `inner dimensions ${k} and ${kB} differ: ${describe()}`);
      return { m, n, k };
    },

    convDims(kernel, xShape, wShape, geometry) {
      const { stride, pad } = geometry;
      checkGeometry(kernel, stride, pad);
      if (xShape.length !== 4) fail(kernel, `input ${showShape(xShape)} must be NHWC (rank 4)`);
      if (wShape.length !== 4) fail(kernel, `filter ${showShape(wShape)} must be HWIO (rank 4)`);
      checkShape(kernel, "input", xShape);
      checkShape(kernel, "filter", wShape);
      const [batch, inH, inW, inC] = xShape;
      const [kH, kW, wInC, outC] = wShape;
      if (wInC !== inC) {
        fail(
          kernel,
          `input ${showShape(xShape)} has ${inC} channels but filter ${
            showShape(wShape)
          } expects ${wInC}`,
        );
      }
      const outH = outSize(inH, kH, stride, pad);
      const outW = outSize(inW, kW, stride, pad);
      if (outH < 1 || outW < 1) {
        fail(
          kernel,
          `filter ${showShape(wShape)} with pad ${pad} does not fit input ${showShape(xShape)}`,
        );
      }
      const outShape = [batch, outH, outW, outC];
      return { batch, inH, inW, inC, kH, kW, outC, outH, outW, stride, pad, outShape };
    },

    poolDims(kernel, xShape, geometry) {
      const { size, stride } = geometry;
      if (!Number.isInteger(size) || size < 1) {
        fail(kernel, `window size ${size} must be a positive integer`);
      }
      checkGeometry(kernel, stride, 0);
      if (xShape.length !== 4) fail(kernel, `input ${showShape(xShape)} must be NHWC (rank 4)`);
      checkShape(kernel, "input", xShape);
      const [batch, inH, inW, channels] = xShape;
      const outH = outSize(inH, size, stride);
      const outW = outSize(inW, size, stride);
      if (outH < 1 || outW < 1) {
        fail(kernel, `window ${size} does not fit input ${showShape(xShape)}`);
      }
      const outShape = [batch, outH, outW, channels];
      return { batch, inH, inW, channels, outH, outW, size, stride, outShape };
    },

    broadcastShape(kernel, a, b) {
      let shape: number[];
      try {
        shape = broadcastShapes(a, b);
      } catch (e) {
        fail(kernel, (e as Error).message);
      }
      if (shape.length > maxRank) fail(kernel, `rank ${shape.length} exceeds ${maxRank}`);
      return shape;
    },

    checkBroadcastTo(xShape, shape) {
      checkShape("broadcastTo", "target shape", shape);
      const lead = shape.length - xShape.length;
      if (lead < 0 || xShape.some((d, axis) => d !== 1 && d !== shape[lead + axis])) {
        fail("broadcastTo", `cannot broadcast ${showShape(xShape)} to ${showShape(shape)}`);
      }
    },

    reducedShape(kernel, shape, axes, keepDims) {
      const rank = shape.length;
      for (let i = 0; i < axes.length; i++) {
        checkAxis(kernel, axes[i], rank);
        if (i > 0 && axes[i] <= axes[i - 1]) {
          fail(kernel, `axes [${axes}] must be sorted and unique`);
        }
      }
      const reduced = new Set(axes);
      return keepDims
        ? shape.map((d, axis) => (reduced.has(axis) ? 1 : d))
        : shape.filter((_, axis) => !reduced.has(axis));
    },

    checkReshape(xShape, shape) {
      checkShape("reshape", "target shape", shape);
      const size = sizeOf(xShape);
      if (sizeOf(shape) !== size) {
        fail(
          "reshape",
          `cannot reshape ${showShape(xShape)} (${size} elements) to ${showShape(shape)} ` +
            `(${sizeOf(shape)} elements)`,
        );
      }
    },

    concatShape(shapes, axis) {
      if (shapes.length === 0) fail("concat", "needs at least one tensor");
      const first = shapes[0];
      const rank = first.length;
      checkAxis("concat", axis, rank);
      let axisTotal = 0;
      for (const s of shapes) {
        const ok = s.length === rank && s.every((d, i) => i === axis || d === first[i]);
        if (!ok) {
          fail("concat", `shapes ${shapes.map(showShape).join(", ")} differ off axis ${axis}`);
        }
        axisTotal += s[axis];
      }
      return first.map((d, i) => (i === axis ? axisTotal : d));
    },

    checkSlice(shape, begin, size) {
      const rank = shape.length;
      if (begin.length !== rank || size.length !== rank) {
        fail(
          "slice",
          `begin [${begin}] and size [${size}] must both have rank ${rank} like ${
            showShape(shape)
          }`,
        );
      }
      for (let axis = 0; axis < rank; axis++) {
        const b = begin[axis];
        const s = size[axis];
        if (
          !Number.isInteger(b) || !Number.isInteger(s) || b < 0 || s < 0 || b + s > shape[axis]
        ) {
          fail(
            "slice",
            `begin [${begin}] size [${size}] falls outside ${showShape(shape)} on axis ${axis}`,
          );
        }
      }
    },

    paddedShape(shape, paddings) {
      const rank = shape.length;
      if (paddings.length !== rank) {
        fail("pad", `got ${paddings.length} paddings for rank-${rank} ${showShape(shape)}`);
      }
      for (const p of paddings) {
        if (p.length !== 2 || !p.every((v) => Number.isInteger(v) && v >= 0)) {
          fail(
            "pad",
            `paddings ${JSON.stringify(paddings)} must be [before, after] non-negative integers`,
          );
        }
      }
      return shape.map((d, axis) => paddings[axis][0] + d + paddings[axis][1]);
    },
  };
}
