/**
 * FLOPs of a training step, counted from the layers it runs: a wrapper around any backend records
 * every matMul and convolution call (forward and both gradients) with its shapes, so the count
 * follows the model as built, with nothing tabulated by hand. Each call is also described as the
 * GEMM it amounts to (M × N × K, the im2col view of a convolution), for the bench's shape table.
 * The other kernels (batch norm, elementwise ops, pooling, reductions) are left out: together they
 * are well under 1% of the FLOPs of these models.
 *
 * @module
 */
import type { Backend, ConvGeometry, DeviceTensor, Shape } from "@simclr/core";

/** The GEMM-bearing kernels. */
export type GemmOp = "matMul" | "conv2d" | "conv2dGradInput" | "conv2dGradFilter";

/** One recorded kernel call, as a GEMM. */
export interface GemmCall {
  op: GemmOp;
  /** GEMM rows, columns and depth (for a convolution: pixels, output channels, kh·kw·cin). */
  m: number;
  n: number;
  k: number;
  /** Multiply-adds × 2. */
  flops: number;
  /** The call's arguments, to replay it: input shapes, and geometry or transposes. */
  shapes: Shape[];
  geometry?: ConvGeometry;
  transpose?: [boolean, boolean];
  /** Output shape for a gradient (`xShape` or `wShape`). */
  outShape?: Shape;
}

/** Output spatial size of a convolution. */
function outSize(inSize: number, kernel: number, g: ConvGeometry): number {
  return Math.floor((inSize + 2 * g.pad - kernel) / g.stride) + 1;
}

/**
 * The GEMM a convolution call amounts to. Forward: [P, K]·[K, cout]; input gradient:
 * [P, cout]·[cout, K]; filter gradient: [K, P]·[P, cout]; P = n·oh·ow pixels, K = kh·kw·cin.
 * All three take 2·P·K·cout FLOPs.
 */
export function convGemm(
  op: Exclude<GemmOp, "matMul">,
  xShape: Shape,
  wShape: Shape,
  g: ConvGeometry,
): { m: number; n: number; k: number; flops: number } {
  const [n, h, w] = xShape;
  const [kh, kw, cin, cout] = wShape;
  const p = n * outSize(h, kh, g) * outSize(w, kw, g), kk = kh * kw * cin;
  const flops = 2 * p * kk * cout;
  if (op === "conv2d") return { m: p, n: cout, k: kk, flops };
  if (op === "conv2dGradInput") return { m: p, n: kk, k: cout, flops };
  return { m: kk, n: cout, k: p, flops };
}

/** The GEMM of `matMul(a, b, ta, tb)`. */
export function matMulGemm(
  aShape: Shape,
  bShape: Shape,
  ta: boolean,
  tb: boolean,
): { m: number; n: number; k: number; flops: number } {
  const m = ta ? aShape[1] : aShape[0], k = ta ? aShape[0] : aShape[1];
  const n = tb ? bShape[0] : bShape[1];
  return { m, n, k, flops: 2 * m * n * k };
}

/**
 * A backend that forwards every call to `inner` and appends each matMul and convolution, as a
 * {@linkcode GemmCall}, to `calls` while `recording.on` is true.
 */
export function countingBackend(
  inner: Backend,
): { backend: Backend; calls: GemmCall[]; recording: { on: boolean } } {
  const calls: GemmCall[] = [];
  const recording = { on: true };
  const record = (c: GemmCall) => {
    if (recording.on) calls.push(c);
  };
  const wrapped: Partial<Backend> = {
    matMul(a: DeviceTensor, b: DeviceTensor, ta: boolean, tb: boolean) {
      record({
        op: "matMul",
        ...matMulGemm(a.shape, b.shape, ta, tb),
        shapes: [a.shape, b.shape],
        transpose: [ta, tb],
      });
      return inner.matMul(a, b, ta, tb);
    },
    conv2d(x: DeviceTensor, w: DeviceTensor, g: ConvGeometry) {
      record({
        op: "conv2d",
        ...convGemm("conv2d", x.shape, w.shape, g),
        shapes: [x.shape, w.shape],
        geometry: g,
      });
      return inner.conv2d(x, w, g);
    },
    conv2dGradInput(dy: DeviceTensor, w: DeviceTensor, xShape: Shape, g: ConvGeometry) {
      record({
        op: "conv2dGradInput",
        ...convGemm("conv2dGradInput", xShape, w.shape, g),
        shapes: [dy.shape, w.shape],
        geometry: g,
        outShape: xShape,
      });
      return inner.conv2dGradInput(dy, w, xShape, g);
    },
    conv2dGradFilter(x: DeviceTensor, dy: DeviceTensor, wShape: Shape, g: ConvGeometry) {
      record({
        op: "conv2dGradFilter",
        ...convGemm("conv2dGradFilter", x.shape, wShape, g),
        shapes: [x.shape, dy.shape],
        geometry: g,
        outShape: wShape,
      });
      return inner.conv2dGradFilter(x, dy, wShape, g);
    },
  };
  const backend = new Proxy(inner, {
    get(target, prop) {
      if (prop in wrapped) return wrapped[prop as keyof Backend];
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as Backend;
  return { backend, calls, recording };
}

/** A key that identifies calls of the same kernel on the same shapes. */
export function callKey(c: GemmCall): string {
  return JSON.stringify([c.op, c.shapes, c.geometry, c.transpose, c.outShape]);
}
