/**
 * Kernels that move values without arithmetic: reshape, transpose, concat, slice, pad, gather.
 * Each returns a fresh array, so output lifetimes never depend on their inputs.
 *
 * @module
 */

import { type Shape, sizeOf } from "@simclr/core";
import { checkAxis, checkShape, type Dense, fail, showShape, stridesOf } from "./dense.ts";

/** Same values in the same row-major order under a new shape with the same element count. */
export function reshape(x: Dense, shape: Shape): Dense {
  checkShape("reshape", "target shape", shape);
  if (sizeOf(shape) !== x.data.length) {
    fail(
      "reshape",
      `cannot reshape ${showShape(x.shape)} (${x.data.length} elements) to ${showShape(shape)} ` +
        `(${sizeOf(shape)} elements)`,
    );
  }
  return { shape: [...shape], data: x.data.slice() };
}

/** Output axis `i` is input axis `perm[i]`. */
export function transpose(x: Dense, perm: readonly number[]): Dense {
  const rank = x.shape.length;
  const seen = new Set(perm);
  if (
    perm.length !== rank || seen.size !== rank ||
    perm.some((p) => !Number.isInteger(p) || p < 0 || p >= rank)
  ) {
    fail(
      "transpose",
      `perm [${perm}] is not a permutation of the ${rank} axes of ${showShape(x.shape)}`,
    );
  }
  const shape = perm.map((p) => x.shape[p]);
  // Moving one step along output axis i moves one step along input axis perm[i].
  const inStrides = stridesOf(x.shape);
  const inStep = perm.map((p) => inStrides[p]);

  const out = new Float32Array(x.data.length);
  const index = new Array<number>(rank).fill(0);
  let inOffset = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = x.data[inOffset];
    // Odometer over the output, carrying the input offset.
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis]++;
      inOffset += inStep[axis];
      if (index[axis] < shape[axis]) break;
      inOffset -= inStep[axis] * shape[axis];
      index[axis] = 0;
    }
  }
  return { shape, data: out };
}

/** Joins tensors along `axis`; every other dimension must agree. */
export function concat(xs: readonly Dense[], axis: number): Dense {
  if (xs.length === 0) fail("concat", "needs at least one tensor");
  const first = xs[0].shape;
  const rank = first.length;
  checkAxis("concat", axis, rank);
  let axisTotal = 0;
  for (const x of xs) {
    const ok = x.shape.length === rank && x.shape.every((d, i) => i === axis || d === first[i]);
    if (!ok) {
      fail(
        "concat",
        `shapes ${xs.map((t) => showShape(t.shape)).join(", ")} differ off axis ${axis}`,
      );
    }
    axisTotal += x.shape[axis];
  }
  const shape = first.map((d, i) => (i === axis ? axisTotal : d));

  // View every tensor as [outer, shape[axis]·inner]: for each outer index the inputs' rows are
  // laid end to end in the output.
  const outer = sizeOf(first.slice(0, axis));
  const inner = sizeOf(first.slice(axis + 1));
  const out = new Float32Array(sizeOf(shape));
  let o = 0;
  for (let row = 0; row < outer; row++) {
    for (const x of xs) {
      const rowLength = x.shape[axis] * inner;
      out.set(x.data.subarray(row * rowLength, (row + 1) * rowLength), o);
      o += rowLength;
    }
  }
  return { shape, data: out };
}

/** The block `[begin[i], begin[i] + size[i])` on every axis `i`. */
export function slice(x: Dense, begin: readonly number[], size: readonly number[]): Dense {
  const rank = x.shape.length;
  if (begin.length !== rank || size.length !== rank) {
    fail(
      "slice",
      `begin [${begin}] and size [${size}] must both have rank ${rank} like ${showShape(x.shape)}`,
    );
  }
  for (let axis = 0; axis < rank; axis++) {
    const b = begin[axis];
    const s = size[axis];
    if (!Number.isInteger(b) || !Number.isInteger(s) || b < 0 || s < 0 || b + s > x.shape[axis]) {
      fail(
        "slice",
        `begin [${begin}] size [${size}] falls outside ${showShape(x.shape)} on axis ${axis}`,
      );
    }
  }
  const shape = [...size];
  const inStrides = stridesOf(x.shape);
  let inOffset = 0;
  for (let axis = 0; axis < rank; axis++) inOffset += begin[axis] * inStrides[axis];

  const out = new Float32Array(sizeOf(shape));
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    out[o] = x.data[inOffset];
    // Odometer over the output block; the input offset moves with the input's own strides.
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis]++;
      inOffset += inStrides[axis];
      if (index[axis] < shape[axis]) break;
      inOffset -= inStrides[axis] * shape[axis];
      index[axis] = 0;
    }
  }
  return { shape, data: out };
}

/** Adds `paddings[i][0]` zeros before and `paddings[i][1]` after along each axis `i`. */
export function pad(x: Dense, paddings: readonly (readonly [number, number])[]): Dense {
  const rank = x.shape.length;
  if (paddings.length !== rank) {
    fail("pad", `got ${paddings.length} paddings for rank-${rank} ${showShape(x.shape)}`);
  }
  for (const p of paddings) {
    if (p.length !== 2 || !p.every((v) => Number.isInteger(v) && v >= 0)) {
      fail(
        "pad",
        `paddings ${JSON.stringify(paddings)} must be [before, after] non-negative integers`,
      );
    }
  }
  const shape = x.shape.map((d, axis) => paddings[axis][0] + d + paddings[axis][1]);
  const outStrides = stridesOf(shape);
  // Input element (i0, i1, …) lands at output (i0 + before0, i1 + before1, …).
  let outOffset = 0;
  for (let axis = 0; axis < rank; axis++) outOffset += paddings[axis][0] * outStrides[axis];

  const out = new Float32Array(sizeOf(shape));
  const index = new Array<number>(rank).fill(0);
  for (let i = 0; i < x.data.length; i++) {
    out[outOffset] = x.data[i];
    // Odometer over the input, carrying the output offset.
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis]++;
      outOffset += outStrides[axis];
      if (index[axis] < x.shape[axis]) break;
      outOffset -= outStrides[axis] * x.shape[axis];
      index[axis] = 0;
    }
  }
  return { shape, data: out };
}

/** Picks entries `indices` (each in `[0, shape[axis])`) along `axis`, in the given order. */
export function gather(x: Dense, indices: Int32Array, axis: number): Dense {
  const rank = x.shape.length;
  checkAxis("gather", axis, rank);
  const axisSize = x.shape[axis];
  for (let j = 0; j < indices.length; j++) {
    if (indices[j] < 0 || indices[j] >= axisSize) {
      fail(
        "gather",
        `index ${indices[j]} at position ${j} is out of range [0, ${axisSize}) for axis ${axis} ` +
          `of ${showShape(x.shape)}`,
      );
    }
  }
  const shape = x.shape.map((d, i) => (i === axis ? indices.length : d));
  // View x as [outer, axisSize, inner]: output row (o, j) is input row (o, indices[j]).
  const outer = sizeOf(x.shape.slice(0, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  const out = new Float32Array(sizeOf(shape));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < indices.length; j++) {
      const from = (o * axisSize + indices[j]) * inner;
      out.set(x.data.subarray(from, from + inner), (o * indices.length + j) * inner);
    }
  }
  return { shape, data: out };
}
