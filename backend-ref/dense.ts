/**
 * The host-side tensor the reference kernels work on, and the argument rules they apply.
 *
 * @module
 */

import { type Shape, type ShapeRules, shapeRules, sizeOf } from "@simclr/core";

/** A row-major float32 array with its shape: the input and output of every reference kernel. */
export interface Dense {
  readonly shape: Shape;
  readonly data: Float32Array;
}

/**
 * The argument rules every backend shares (`shapeRules` of `@simclr/core`), naming this backend
 * `ref` in their errors: `ref backend <kernel>: <what is wrong>`.
 */
export const rules: ShapeRules = shapeRules("ref");

/** A zero-filled dense tensor of `shape`. */
export function zeros(shape: Shape): Dense {
  return { shape: [...shape], data: new Float32Array(sizeOf(shape)) };
}
