/**
 * The host-side tensor the reference kernels work on, and the shape helpers they share.
 *
 * @module
 */

import { type Shape, sizeOf } from "@simclr/core";

/** A row-major float32 array with its shape: the input and output of every reference kernel. */
export interface Dense {
  readonly shape: Shape;
  readonly data: Float32Array;
}

/** Throws an error prefixed with the backend and kernel name, so a failure says where it came from. */
export function fail(kernel: string, message: string): never {
  throw new Error(`ref backend ${kernel}: ${message}`);
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

/** Checks that every dimension of `shape` is a non-negative integer. */
export function checkShape(kernel: string, what: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      fail(kernel, `${what} ${showShape(shape)} must have non-negative integer dimensions`);
    }
  }
}

/** Checks that `axis` names an axis of a rank-`rank` tensor. */
export function checkAxis(kernel: string, axis: number, rank: number): void {
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank) {
    fail(kernel, `axis ${axis} is out of range for rank ${rank} (expected 0..${rank - 1})`);
  }
}

/** A zero-filled dense tensor of `shape`. */
export function zeros(shape: Shape): Dense {
  return { shape: [...shape], data: new Float32Array(sizeOf(shape)) };
}
