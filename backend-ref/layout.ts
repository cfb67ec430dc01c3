/**
 * Kernels that move values without arithmetic: reshape, concat, slice, pad.
 * Each returns a fresh array, so output lifetimes never depend on their inputs.
 *
 * @module
 */

import { type Shape, sizeOf, stridesOf } from "@simclr/core";
import { type Dense, rules } from "./dense.ts";
import { stridedOffsets } from "./strided.ts";

/** Same values in the same row-major order under a new shape with the same element count. */
export function reshape(x: Dense, shape: Shape): Dense {
  rules.checkReshape(x.shape, shape);
  return { shape: [...shape], data: x.data.slice() };
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
  const shape = [...size];
  // Walk the output block; the input offset moves with the input's own strides from the corner.
  const inStrides = stridesOf(x.shape);
  const corner = begin.reduce((sum, b, axis) => sum + b * inStrides[axis], 0);
  const from = stridedOffsets(shape, inStrides, corner);
  const out = new Float32Array(from.length);
  for (let o = 0; o < out.length; o++) out[o] = x.data[from[o]];
  return { shape, data: out };
}

/** Adds `paddings[i][0]` zeros before and `paddings[i][1]` after along each axis `i`. */
export function pad(x: Dense, paddings: readonly (readonly [number, number])[]): Dense {
  const shape = rules.paddedShape(x.shape, paddings);
  // Walk the input: element (i0, i1, …) lands at output (i0 + before0, i1 + before1, …).
  const outStrides = stridesOf(shape);
  const first = paddings.reduce((sum, [before], axis) => sum + before * outStrides[axis], 0);
  const to = stridedOffsets(x.shape, outStrides, first);
  const out = new Float32Array(sizeOf(shape));
  for (let i = 0; i < to.length; i++) out[to[i]] = x.data[i];
  return { shape, data: out };
}
