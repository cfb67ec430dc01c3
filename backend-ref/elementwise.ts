/**
 * Elementwise kernels (unary, broadcasting binary, broadcastTo) and reductions. Every value is
 * computed in float64 (plain JS numbers) and rounded to float32 once, when stored in the output array.
 *
 * @module
 */

import {
  type BinaryOp,
  broadcastSteps,
  type ReduceOp,
  type Shape,
  sizeOf,
  stridesOf,
  type UnaryOp,
} from "@simclr/core";
import { type Dense, rules } from "./dense.ts";
import { stridedOffsets } from "./strided.ts";

/**
 * The one-input functions. `relu` and `step` let NaN through (a NaN comparison is false, so the
 * NaN falls to the branch that returns `v`), as TF.js does, so a NaN upstream stays visible.
 */
const UNARY: Record<UnaryOp, (v: number) => number> = {
  neg: (v) => -v,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  relu: (v) => (v < 0 ? 0 : v),
  step: (v) => (v > 0 ? 1 : v <= 0 ? 0 : v),
};

/**
 * The two-input functions. Computing `+ − × ÷` on float32 inputs in float64 and rounding once
 * gives the correctly rounded float32 result, the same bits a float32 device produces.
 */
const BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
};

/** Applies a one-input function to every element. */
export function unary(op: UnaryOp, x: Dense): Dense {
  rules.checkOp("unary", op, Object.keys(UNARY));
  const f = UNARY[op];
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = f(x.data[i]);
  return { shape: [...x.shape], data: out };
}

/**
 * Applies a two-input function with NumPy broadcasting: shapes are aligned at their last axis,
 * and an axis of size 1 (or a missing leading axis) is repeated to match the other input.
 */
export function binary(op: BinaryOp, a: Dense, b: Dense): Dense {
  rules.checkOp("binary", op, Object.keys(BINARY));
  const f = BINARY[op];
  const shape = rules.broadcastShape(`binary ${op}`, a.shape, b.shape);
  const total = sizeOf(shape);
  const out = new Float32Array(total);

  // Same shapes: no index arithmetic needed.
  if (a.data.length === total && b.data.length === total && a.shape.length === b.shape.length) {
    for (let i = 0; i < total; i++) out[i] = f(a.data[i], b.data[i]);
    return { shape, data: out };
  }

  // Per output axis, how far each input's flat offset moves when that output index grows by 1:
  // the input's own stride, or 0 where the input is broadcast (size 1 or missing axis).
  const aFrom = stridedOffsets(shape, broadcastSteps(a.shape, shape.length));
  const bFrom = stridedOffsets(shape, broadcastSteps(b.shape, shape.length));
  for (let o = 0; o < total; o++) out[o] = f(a.data[aFrom[o]], b.data[bFrom[o]]);
  return { shape, data: out };
}

/**
 * Repeats `x` to `shape` under NumPy broadcasting: `x`'s axes align with the last axes of
 * `shape`, and each must equal the target dimension or be 1 (then it is repeated).
 */
export function broadcastTo(x: Dense, shape: Shape): Dense {
  rules.checkBroadcastTo(x.shape, shape);
  // The input offset stands still along broadcast axes (step 0).
  const from = stridedOffsets(shape, broadcastSteps(x.shape, shape.length));
  const out = new Float32Array(from.length);
  for (let o = 0; o < out.length; o++) out[o] = x.data[from[o]];
  return { shape: [...shape], data: out };
}

/**
 * Sums or maxes over `axes` (sorted, unique, non-negative). The output keeps the other axes in
 * order, and the reduced ones as size 1 when `keepDims`. Sums accumulate in float64. A max over
 * an empty axis is -Infinity and a sum 0.
 */
export function reduce(op: ReduceOp, x: Dense, axes: readonly number[], keepDims: boolean): Dense {
  if (op !== "sum" && op !== "max") {
    rules.fail("reduce", `unknown op "${op}" (expected sum or max)`);
  }
  const shape = rules.reducedShape(`reduce ${op}`, x.shape, axes, keepDims);
  const reduced = new Set(axes);

  // The output shape with reduced axes kept as 1; its strides, with 0 on reduced axes, map every
  // input index to the output element it folds into.
  const keptShape = x.shape.map((d, axis) => (reduced.has(axis) ? 1 : d));
  const keptStrides = stridesOf(keptShape);
  const outStep = keptStrides.map((s, axis) => (reduced.has(axis) ? 0 : s));

  const acc = new Float64Array(sizeOf(keptShape)).fill(op === "sum" ? 0 : -Infinity);
  // Walk the input; each element folds into the output element at its offset.
  const to = stridedOffsets(x.shape, outStep);
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i];
    const at = to[i];
    acc[at] = op === "sum" ? acc[at] + v : Math.max(acc[at], v);
  }
  return { shape, data: Float32Array.from(acc) };
}
