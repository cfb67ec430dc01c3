/**
 * Kernels that move values without arithmetic: reshape, transpose, concat, slice, pad, gather.
 * Each returns a fresh array, so output lifetimes never depend on their inputs.
 *
 * @module
 */

import { type Shape, sizeOf, stridesOf } from "@simclr/core";
import { type Dense, rules } from "./dense.ts";

/** Same values in the same row-major order under a new shape with the same element count. */
export function reshape(x: Dense, shape: Shape): Dense {
  rules.checkReshape(x.shape, shape);
  return { shape: [...shape], data: x.data.slice() };
}

/** Output axis `i` is input axis `perm[i]`. */
export function transpose(x: Dense, perm: readonly number[]): Dense {
  const rank = x.shape.length;
  const shape = rules.transposedShape(x.shape, perm);
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
  const shape = rules.concatShape(xs.map((x) => x.shape), axis);
  const first = xs[0].shape;

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
  rules.checkSlice(x.shape, begin, size);
  const rank = x.shape.length;
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
  const shape = rules.paddedShape(x.shape, paddings);
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
  const shape = rules.gatheredShape(x.shape, indices, axis);
  const axisSize = x.shape[axis];
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
