/**
 * Matrix product of 2-D tensors, accumulated in float64.
 *
 * @module
 */

import { type Dense, rules } from "./dense.ts";

/**
 * `op(a)·op(b)` where `op` transposes when asked: `op(a)` is `[m, k]`, `op(b)` is `[k, n]`, the
 * result `[m, n]`.
 */
export function matMul(a: Dense, b: Dense, transposeA: boolean, transposeB: boolean): Dense {
  const { m, n, k } = rules.matMulDims(a.shape, b.shape, transposeA, transposeB);

  // Bring both operands to plain row-major [m, k] and [k, n] so the product loop below reads
  // both of them along rows.
  const left = transposeA ? transpose2d(a.data, a.shape[0], a.shape[1]) : a.data;
  const right = transposeB ? transpose2d(b.data, b.shape[0], b.shape[1]) : b.data;

  // i-k-j order: row i of the result is Σ_p left[i,p] · (row p of right), accumulated in a
  // float64 row, so the innermost loop runs along contiguous memory of `right` and `row`.
  const out = new Float32Array(m * n);
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const lv = left[i * k + p];
      const rightRow = p * n;
      for (let j = 0; j < n; j++) row[j] += lv * right[rightRow + j];
    }
    out.set(row, i * n); // rounds to float32
  }
  return { shape: [m, n], data: out };
}

/** The transpose of a row-major `[rows, cols]` matrix, as a row-major `[cols, rows]` matrix. */
function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  return out;
}
