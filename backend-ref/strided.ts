/**
 * The one strided-index walk of the reference backend, shared by broadcasting (binary,
 * broadcastTo), the movement kernels (slice, pad) and reductions.
 *
 * @module
 */

import { type Shape, sizeOf } from "@simclr/core";

/**
 * For every index of `shape` in row-major order, the flat offset `start + Σ index[i]·steps[i]`.
 *
 * One walk serves every kernel that moves values: broadcasting uses step 0 along broadcast axes,
 * a slice the input's strides from the block's corner,
 * a pad (walking the input) the output's strides from the first unpadded element, and a
 * reduction (walking the input) the output's strides with 0 along reduced axes.
 */
export function stridedOffsets(
  shape: Shape,
  steps: readonly number[],
  start = 0,
): Int32Array {
  const rank = shape.length;
  const offsets = new Int32Array(sizeOf(shape));
  const index = new Array<number>(rank).fill(0);
  let offset = start;
  for (let i = 0; i < offsets.length; i++) {
    offsets[i] = offset;
    // Odometer: bump the last axis; when a digit wraps, rewind it and carry to the left.
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis]++;
      offset += steps[axis];
      if (index[axis] < shape[axis]) break;
      offset -= steps[axis] * shape[axis];
      index[axis] = 0;
    }
  }
  return offsets;
}
