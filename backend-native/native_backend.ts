/**
 * The native CPU backend: every {@linkcode Backend} kernel runs in C++ (`csrc/kernels.cpp`,
 * compiled for this machine with OpenMP) through Deno's FFI. Tensors are float32 buffers
 * allocated by the library; this module checks shapes and keeps the live count, and
 * `memory_pool.ts` recycles freed buffers by exact size. `create.ts` builds and loads the library.
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
  ShapeRules,
  UnaryOp,
} from "@simclr/core";
import {
  batchNormArgumentError,
  broadcastSteps,
  shapeRules,
  showShape,
  sizeOf,
  stridesOf,
} from "@simclr/core";
import {
  BINARY_CODES,
  CONV_ALGORITHMS,
  type ConvAlgorithm,
  MAX_RANK,
  type NativeLib,
  type SYMBOLS,
  UNARY_CODES,
} from "./ffi.ts";
import { BlockPool, NativeTensor } from "./memory_pool.ts";

/** The argument rules every backend shares, naming this one `native` in their errors. */
const rules: ShapeRules = shapeRules("native", { maxRank: MAX_RANK });
const fail: (kernel: string, message: string) => never = rules.fail;

/** CPU features that decide the native kernels' paths, from CPUID at run time. */
export interface CpuFeatures {
  avx2: boolean;
  fma: boolean;
  avx512f: boolean;
  /** `vdpbf16ps`: bf16 dot products with fp32 accumulation. */
  avx512bf16: boolean;
  amxTile: boolean;
  amxBf16: boolean;
}

/** The native CPU backend (`name` is `"native"`). Create it with {@linkcode createNativeBackend}. */
export class NativeBackend implements Backend {
  /** Always `"native"`. */
  readonly name = "native";
  readonly #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  readonly #f: NativeLib;
  #live = 0;
  /** Freed tensor memory kept for reuse, and the memory counters. */
  readonly #pool: BlockPool;
  /** Reused integer argument buffer (shapes, strides, geometry). */
  readonly #ints = new Int32Array(1 + 3 * MAX_RANK);
  #closed = false;

  /** Use {@linkcode createNativeBackend}; this takes an opened library. */
  constructor(
    lib: Deno.DynamicLibrary<typeof SYMBOLS>,
    threads: number,
    cacheBytes: number,
  ) {
    this.#lib = lib;
    this.#f = lib.symbols;
    this.#f.nb_set_threads(threads);
    this.#pool = new BlockPool(this.#f, cacheBytes, fail);
  }

  /** Threads the parallel kernels use. */
  get threads(): number {
    return this.#f.nb_get_threads();
  }

  /** SIMD width in floats the library was compiled for (16: AVX-512, 8: AVX2). */
  get simdWidth(): number {
    return this.#f.nb_simd_width();
  }

  /** What CPUID says this CPU has (read at run time, whatever the library was built for). */
  cpuFeatures(): CpuFeatures {
    const f = this.#f.nb_cpu_features();
    return {
      avx2: (f & 1) !== 0,
      fma: (f & 2) !== 0,
      avx512f: (f & 4) !== 0,
      avx512bf16: (f & 8) !== 0,
      amxTile: (f & 16) !== 0,
      amxBf16: (f & 32) !== 0,
    };
  }

  /**
   * The fp32 FMA peak of this machine in GFLOP/s: a register-only FMA loop on `threads` threads
   * (default: the backend's) at once, with the widest vector path CPUID reports (AVX-512, else
   * AVX2+FMA, chosen at run time). Best of `reps` runs of about `seconds` each, because a shared
   * machine lends its cores intermittently. Blocks for about `reps × seconds`.
   */
  peakGflops(
    opts: { threads?: number; seconds?: number; reps?: number } = {},
  ): { gflops: number; vectorWidth: number; threads: number } {
    const threads = opts.threads ?? this.threads;
    const out = new Float64Array(2);
    this.#f.nb_peak_gflops(threads, opts.seconds ?? 0.3, opts.reps ?? 5, out);
    return { gflops: out[0], vectorWidth: out[1], threads };
  }

  /** Bytes of freed tensor memory held for reuse. */
  get cachedBytes(): number {
    return this.#pool.cachedBytes;
  }

  /**
   * Memory counters: blocks obtained from the system allocator so far (a warmed-up training step
   * should add none), bytes held now (live tensors plus cache), bytes cached, and the most bytes
   * live tensors ever held at once.
   */
  memoryStats(): {
    systemAllocations: number;
    systemBytes: number;
    cachedBytes: number;
    peakLiveBytes: number;
  } {
    return this.#pool.stats();
  }

  /** Returns every cached (freed) block to the system. Live tensors are untouched. */
  trim(): void {
    this.#pool.trim();
  }

  /**
   * Frees the cache and unloads the library; afterwards every kernel throws and disposing is a
   * no-op. Memory of tensors still live is not freed, so dispose them first.
   */
  close(): void {
    if (this.#closed) return;
    this.#pool.close();
    this.#closed = true;
    this.#lib.close();
  }

  // ------------------------------------------------------------------------------------------
  // Memory.

  #alloc(shape: Shape): NativeTensor {
    const size = sizeOf(shape);
    if (size >= 2 ** 31 - 16) {
      fail(
        "alloc",
        `shape ${showShape(shape)} has ${size} elements; the limit is 2^31 - 16`,
      );
    }
    const bytes = Math.max(64, Math.ceil((size * 4) / 64) * 64);
    const block = this.#pool.acquire(bytes);
    this.#live++;
    return new NativeTensor(this, Object.freeze([...shape]), size, block);
  }

  #open(kernel: string, argument: string, t: DeviceTensor): NativeTensor {
    if (this.#closed) fail(kernel, "the backend was closed");
    return rules.openTensor(kernel, argument, t, this.#isOwn);
  }

  /** Whether `t` is a tensor of this backend (live or not). */
  readonly #isOwn = (t: DeviceTensor): t is NativeTensor =>
    t instanceof NativeTensor && t.owner === this;

  /** Fills the shared integer buffer with `values` and returns it. */
  #intArgs(values: readonly number[]): Int32Array {
    const a = this.#ints;
    for (let i = 0; i < values.length; i++) a[i] = values[i];
    return a;
  }

  // ------------------------------------------------------------------------------------------
  // Lifetime.

  /** Copies `data` into a new tensor, so the caller may reuse its array afterwards. */
  upload(data: Float32Array, shape: Shape): DeviceTensor {
    rules.checkUpload(data, shape);
    const t = this.#alloc(shape);
    t.block.view.set(data);
    return t;
  }

  /** A fresh copy of the tensor's values, row-major; rejects for a disposed or foreign tensor. */
  read(x: DeviceTensor): Promise<Float32Array> {
    try {
      return Promise.resolve(this.readSync(x));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Like {@linkcode NativeBackend.read} but synchronous (not part of `Backend`). */
  readSync(x: DeviceTensor): Float32Array {
    const t = this.#open("read", "x", x);
    return t.block.view.slice(0, t.size);
  }

  /** Frees `x` (its memory is kept for reuse); a second dispose is ignored. */
  dispose(x: DeviceTensor): void {
    if (!(x instanceof NativeTensor) || x.owner !== this) {
      fail("dispose", "argument is not a tensor of this native backend");
    }
    if (x.disposed) return;
    x.disposed = true;
    this.#live--;
    this.#pool.release(x.block);
  }

  /** Tensors uploaded or produced by a kernel and not yet disposed. */
  liveTensors(): number {
    return this.#live;
  }

  // ------------------------------------------------------------------------------------------
  // Dense kernels.

  /** 2-D matrix product with optional transposes; see {@linkcode Backend.matMul}. */
  matMul(
    a: DeviceTensor,
    b: DeviceTensor,
    transposeA: boolean,
    transposeB: boolean,
  ): DeviceTensor {
    const ta = this.#open("matMul", "a", a);
    const tb = this.#open("matMul", "b", b);
    const { m, n, k } = rules.matMulDims(ta.shape, tb.shape, transposeA, transposeB);
    const out = this.#alloc([m, n]);
    this.#f.nb_matmul(
      ta.ptr,
      tb.ptr,
      out.ptr,
      m,
      n,
      k,
      transposeA ? 1 : 0,
      transposeB ? 1 : 0,
    );
    return out;
  }

  /** Checks conv shapes and returns the C geometry argument. */
  #convArgs(
    kernel: string,
    xShape: Shape,
    wShape: Shape,
    geometry: ConvGeometry,
  ) {
    const { batch, inH, inW, inC, kH, kW, outC, outH, outW, stride, pad, outShape } = rules
      .convDims(kernel, xShape, wShape, geometry);
    const ints = this.#intArgs([batch, inH, inW, inC, kH, kW, outC, outH, outW, stride, pad, pad]);
    return { outShape, ints };
  }

  /** NHWC × HWIO cross-correlation; see {@linkcode Backend.conv2d}. */
  conv2d(
    x: DeviceTensor,
    w: DeviceTensor,
    geometry: ConvGeometry,
  ): DeviceTensor {
    const tx = this.#open("conv2d", "x", x);
    const tw = this.#open("conv2d", "w", w);
    const { outShape, ints } = this.#convArgs(
      "conv2d",
      tx.shape,
      tw.shape,
      geometry,
    );
    const out = this.#alloc(outShape);
    this.#f.nb_conv2d(tx.ptr, tw.ptr, out.ptr, ints);
    return out;
  }

  /**
   * The algorithm the convolution kernel `op` takes for this input and filter shape and geometry
   * (the C library's choice, read back from it): "winograd" (3x3, stride 1, same padding, at
   * least 16 channels in and out; F(4x4, 3x3) where both sides are multiples of 4, 4x fewer
   * multiplies than the FLOPs that benchmarks count, else F(2x2, 3x3), 2.25x fewer), "direct",
   * "rows" (few input channels), "im2col" or "col2im".
   */
  convAlgorithm(
    op: "conv2d" | "conv2dGradInput" | "conv2dGradFilter",
    xShape: Shape,
    wShape: Shape,
    geometry: ConvGeometry,
  ): ConvAlgorithm {
    const { ints } = this.#convArgs(op, xShape, wShape, geometry);
    const code = op === "conv2d" ? 0 : op === "conv2dGradInput" ? 1 : 2;
    return CONV_ALGORITHMS[this.#f.nb_conv_algorithm(code, ints)];
  }

  /** Adjoint of conv2d in its input; see {@linkcode Backend.conv2dGradInput}. */
  conv2dGradInput(
    dy: DeviceTensor,
    w: DeviceTensor,
    xShape: Shape,
    geometry: ConvGeometry,
  ): DeviceTensor {
    const k = "conv2dGradInput";
    const tdy = this.#open(k, "dy", dy);
    const tw = this.#open(k, "w", w);
    const { outShape, ints } = this.#convArgs(k, xShape, tw.shape, geometry);
    rules.checkOutputShape(k, "dy", tdy.shape, outShape);
    const out = this.#alloc(xShape);
    this.#f.nb_conv2d_grad_input(tdy.ptr, tw.ptr, out.ptr, ints);
    return out;
  }

  /** Adjoint of conv2d in its filter; see {@linkcode Backend.conv2dGradFilter}. */
  conv2dGradFilter(
    x: DeviceTensor,
    dy: DeviceTensor,
    wShape: Shape,
    geometry: ConvGeometry,
  ): DeviceTensor {
    const k = "conv2dGradFilter";
    const tx = this.#open(k, "x", x);
    const tdy = this.#open(k, "dy", dy);
    const { outShape, ints } = this.#convArgs(k, tx.shape, wShape, geometry);
    rules.checkOutputShape(k, "dy", tdy.shape, outShape);
    const out = this.#alloc(wShape);
    this.#f.nb_conv2d_grad_filter(tx.ptr, tdy.ptr, out.ptr, ints);
    return out;
  }

  #poolArgs(kernel: string, xShape: Shape, geometry: PoolGeometry) {
    const { batch, inH, inW, channels, outH, outW, size, stride, outShape } = rules.poolDims(
      kernel,
      xShape,
      geometry,
    );
    const ints = this.#intArgs([batch, inH, inW, channels, outH, outW, size, stride]);
    return { outShape, ints };
  }

  /** VALID max pool; see {@linkcode Backend.maxPool}. */
  maxPool(x: DeviceTensor, geometry: PoolGeometry): DeviceTensor {
    const tx = this.#open("maxPool", "x", x);
    const { outShape, ints } = this.#poolArgs("maxPool", tx.shape, geometry);
    const out = this.#alloc(outShape);
    this.#f.nb_maxpool(tx.ptr, out.ptr, ints);
    return out;
  }

  /** Routes `dy` to each window's first maximum; see {@linkcode Backend.maxPoolGrad}. */
  maxPoolGrad(dy: DeviceTensor, x: DeviceTensor, geometry: PoolGeometry): DeviceTensor {
    const k = "maxPoolGrad";
    const tdy = this.#open(k, "dy", dy);
    const tx = this.#open(k, "x", x);
    const { outShape, ints } = this.#poolArgs(k, tx.shape, geometry);
    rules.checkOutputShape(k, "dy", tdy.shape, outShape);
    const out = this.#alloc(tx.shape);
    this.#f.nb_maxpool_grad(tdy.ptr, tx.ptr, out.ptr, ints);
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // Elementwise kernels and reductions.

  /** Elementwise one-input kernel; see {@linkcode Backend.unary}. */
  unary(op: UnaryOp, x: DeviceTensor): DeviceTensor {
    rules.checkOp("unary", op, Object.keys(UNARY_CODES));
    const code = UNARY_CODES[op];
    const tx = this.#open(`unary ${op}`, "x", x);
    const out = this.#alloc(tx.shape);
    this.#f.nb_unary(code, tx.ptr, out.ptr, tx.size);
    return out;
  }

  /** Elementwise broadcasting two-input kernel; see {@linkcode Backend.binary}. */
  binary(op: BinaryOp, a: DeviceTensor, b: DeviceTensor): DeviceTensor {
    rules.checkOp("binary", op, Object.keys(BINARY_CODES));
    const code = BINARY_CODES[op];
    const k = `binary ${op}`;
    const ta = this.#open(k, "a", a);
    const tb = this.#open(k, "b", b);
    const shape = rules.broadcastShape(k, ta.shape, tb.shape);
    const rank = shape.length;
    const ints = this.#ints;
    ints[0] = rank;
    const aSteps = broadcastSteps(ta.shape, rank);
    const bSteps = broadcastSteps(tb.shape, rank);
    for (let i = 0; i < rank; i++) {
      ints[1 + i] = shape[i];
      ints[1 + rank + i] = aSteps[i];
      ints[1 + 2 * rank + i] = bSteps[i];
    }
    const out = this.#alloc(shape);
    if (out.size > 0) this.#f.nb_binary(code, ta.ptr, tb.ptr, out.ptr, ints);
    return out;
  }

  /** Sum or max over sorted axes; see {@linkcode Backend.reduce}. */
  reduce(
    op: ReduceOp,
    x: DeviceTensor,
    axes: readonly number[],
    keepDims: boolean,
  ): DeviceTensor {
    if (op !== "sum" && op !== "max") {
      fail("reduce", `unknown op "${op}" (expected sum or max)`);
    }
    const kernel = `reduce ${op}`;
    const tx = this.#open(kernel, "x", x);
    const shape = rules.reducedShape(kernel, tx.shape, axes, keepDims);
    const rank = tx.shape.length;
    const reduced = new Set(axes);
    const ints = this.#ints;
    ints[0] = rank;
    for (let i = 0; i < rank; i++) {
      ints[1 + i] = tx.shape[i];
      ints[1 + rank + i] = reduced.has(i) ? 1 : 0;
    }
    const out = this.#alloc(shape);
    this.#f.nb_reduce(op === "sum" ? 0 : 1, tx.ptr, out.ptr, ints);
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // Layout kernels: all are strided copies.

  /** Copies `shape` elements from src (offset, strides) to dst (offset, strides). */
  #copy(
    dst: NativeTensor,
    dstOffset: number,
    dstStrides: readonly number[],
    src: NativeTensor,
    srcOffset: number,
    srcStrides: readonly number[],
    shape: Shape,
  ): void {
    const rank = shape.length;
    if (sizeOf(shape) === 0) return;
    const ints = this.#ints;
    ints[0] = rank;
    for (let i = 0; i < rank; i++) {
      ints[1 + i] = shape[i];
      ints[1 + rank + i] = dstStrides[i];
      ints[1 + 2 * rank + i] = srcStrides[i];
    }
    this.#f.nb_copy_strided(dst.ptr, dstOffset, src.ptr, srcOffset, ints);
  }

  /** Repeats size-1 axes to `shape`; see {@linkcode Backend.broadcastTo}. */
  broadcastTo(x: DeviceTensor, shape: Shape): DeviceTensor {
    const tx = this.#open("broadcastTo", "x", x);
    rules.checkBroadcastTo(tx.shape, shape);
    const rank = shape.length;
    const out = this.#alloc(shape);
    this.#copy(
      out,
      0,
      stridesOf(shape),
      tx,
      0,
      broadcastSteps(tx.shape, rank),
      shape,
    );
    return out;
  }

  /** Same values, new shape; see {@linkcode Backend.reshape}. */
  reshape(x: DeviceTensor, shape: Shape): DeviceTensor {
    const tx = this.#open("reshape", "x", x);
    rules.checkReshape(tx.shape, shape);
    const out = this.#alloc(shape);
    this.#f.nb_copy(out.ptr, tx.ptr, tx.size);
    return out;
  }

  /** Concatenation along an axis; see {@linkcode Backend.concat}. */
  concat(xs: readonly DeviceTensor[], axis: number): DeviceTensor {
    const ts = xs.map((x, i) => this.#open("concat", `xs[${i}]`, x));
    const shape = rules.concatShape(ts.map((t) => t.shape), axis);
    const first = ts[0].shape;
    const axisTotal = shape[axis];
    // Each input is a [outer, rowLength] block placed at a column offset of the output rows.
    const outer = sizeOf(first.slice(0, axis));
    const inner = sizeOf(first.slice(axis + 1));
    const out = this.#alloc(shape);
    let column = 0;
    for (const t of ts) {
      const rowLength = t.shape[axis] * inner;
      this.#copy(out, column, [axisTotal * inner, 1], t, 0, [rowLength, 1], [
        outer,
        rowLength,
      ]);
      column += rowLength;
    }
    return out;
  }

  /** A block of `x`; see {@linkcode Backend.slice}. */
  slice(
    x: DeviceTensor,
    begin: readonly number[],
    size: readonly number[],
  ): DeviceTensor {
    const tx = this.#open("slice", "x", x);
    rules.checkSlice(tx.shape, begin, size);
    const rank = tx.shape.length;
    const inStrides = stridesOf(tx.shape);
    let offset = 0;
    for (let axis = 0; axis < rank; axis++) {
      offset += begin[axis] * inStrides[axis];
    }
    const out = this.#alloc(size);
    this.#copy(out, 0, stridesOf(size), tx, offset, inStrides, size);
    return out;
  }

  /** Zero padding; see {@linkcode Backend.pad}. */
  pad(
    x: DeviceTensor,
    paddings: readonly (readonly [number, number])[],
  ): DeviceTensor {
    const tx = this.#open("pad", "x", x);
    const rank = tx.shape.length;
    const shape = rules.paddedShape(tx.shape, paddings);
    const outStrides = stridesOf(shape);
    let offset = 0;
    for (let axis = 0; axis < rank; axis++) {
      offset += paddings[axis][0] * outStrides[axis];
    }
    const out = this.#alloc(shape);
    this.#f.nb_fill(out.ptr, out.size, 0);
    this.#copy(out, offset, outStrides, tx, 0, stridesOf(tx.shape), tx.shape);
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // Fused batch norm: one pass for the statistics and one for the output, each way.

  /** Training-mode batch norm over all axes but the last; see {@linkcode Backend.batchNorm}. */
  batchNorm(
    x: DeviceTensor,
    gamma: DeviceTensor,
    beta: DeviceTensor,
    eps: number,
  ): BatchNormOutput {
    const k = "batchNorm";
    const tx = this.#open(k, "x", x);
    const tg = this.#open(k, "gamma", gamma);
    const tb = this.#open(k, "beta", beta);
    const problem = batchNormArgumentError(tx.shape, { gamma: tg.shape, beta: tb.shape }, eps);
    if (problem) fail(k, problem);
    const channels = tx.shape[tx.shape.length - 1];
    const y = this.#alloc(tx.shape);
    const mean = this.#alloc([channels]);
    const variance = this.#alloc([channels]);
    this.#f.nb_batchnorm(
      tx.ptr,
      tg.ptr,
      tb.ptr,
      y.ptr,
      mean.ptr,
      variance.ptr,
      tx.size / channels,
      channels,
      eps,
    );
    return { y, mean, variance };
  }

  /** Batch-norm gradient for x, gamma and beta; see {@linkcode Backend.batchNormGrad}. */
  batchNormGrad(
    dy: DeviceTensor,
    x: DeviceTensor,
    mean: DeviceTensor,
    variance: DeviceTensor,
    gamma: DeviceTensor,
    eps: number,
  ): BatchNormGradOutput {
    const k = "batchNormGrad";
    const tdy = this.#open(k, "dy", dy);
    const tx = this.#open(k, "x", x);
    const tm = this.#open(k, "mean", mean);
    const tv = this.#open(k, "variance", variance);
    const tg = this.#open(k, "gamma", gamma);
    const problem = batchNormArgumentError(
      tx.shape,
      { mean: tm.shape, variance: tv.shape, gamma: tg.shape },
      eps,
      tdy.shape,
    );
    if (problem) fail(k, problem);
    const channels = tx.shape[tx.shape.length - 1];
    const dx = this.#alloc(tx.shape);
    const dGamma = this.#alloc([channels]);
    const dBeta = this.#alloc([channels]);
    this.#f.nb_batchnorm_grad(
      tdy.ptr,
      tx.ptr,
      tm.ptr,
      tv.ptr,
      tg.ptr,
      dx.ptr,
      dGamma.ptr,
      dBeta.ptr,
      tx.size / channels,
      channels,
      eps,
    );
    return { dx, dGamma, dBeta };
  }
}
