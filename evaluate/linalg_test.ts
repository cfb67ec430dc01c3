import assert from "node:assert/strict";
import { Rng } from "@simclr/core";
import {
  columnMeans,
  exactNearestNeighbours,
  matMulABt,
  matMulAtB,
  rowSquaredNorms,
  selectLargest,
} from "./linalg.ts";

function randomMatrix(rows: number, cols: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: rows * cols }, () => rng.normal());
}

Deno.test("matMulABt matches a naive product on ragged sizes", () => {
  const rng = new Rng(1);
  // Sizes cover the 4-row and 2-column register blocks and their remainders, and > 64 B rows.
  for (const [m, n, d] of [[1, 1, 1], [3, 5, 7], [4, 2, 3], [9, 67, 13], [130, 131, 5]]) {
    const a = randomMatrix(m, d, rng);
    const b = randomMatrix(n, d, rng);
    const out = matMulABt(a, m, b, n, d);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += a[i * d + k] * b[j * d + k];
        assert.ok(Math.abs(out[i * n + j] - s) <= 1e-5 * (1 + Math.abs(s)), `${m}×${n}×${d}`);
      }
    }
  }
});

Deno.test("matMulAtB with shifts equals the centred product", () => {
  const rng = new Rng(2);
  const n = 2100, p = 3, q = 5; // more than two 1,024-row chunks
  const a = Float32Array.from({ length: n * p }, () => 10 + rng.normal());
  const b = randomMatrix(n, q, rng);
  const ma = columnMeans(a, n, p);
  const out = matMulAtB(a, p, b, q, n, ma);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < q; j++) {
      let s = 0;
      for (let r = 0; r < n; r++) s += (a[r * p + i] - ma[i]) * b[r * q + j];
      assert.ok(Math.abs(out[i * q + j] - s) <= 1e-3, `(${i},${j}) ${out[i * q + j]} vs ${s}`);
    }
  }
  const norms = rowSquaredNorms(Float32Array.of(3, 4, 0, 1), 2, 2);
  assert.deepEqual([...norms], [25, 1]);
});

Deno.test("selectLargest returns the k largest, skipping one index", () => {
  const rng = new Rng(3);
  const values = Float32Array.from({ length: 5000 }, () => rng.normal());
  const k = 37;
  const idx = new Int32Array(k);
  const val = new Float64Array(k);
  const skip = Array.from(values.keys()).sort((a, b) => values[b] - values[a])[5];
  assert.equal(selectLargest(values, 0, values.length, k, idx, val, skip), k);
  const expected = Array.from(values.keys()).filter((i) => i !== skip)
    .sort((a, b) => values[b] - values[a]).slice(0, k).sort((a, b) => a - b);
  assert.deepEqual([...idx].sort((a, b) => a - b), expected);
  // An offset window with fewer entries than k selects all of them.
  assert.equal(selectLargest(values, 100, 10, k, idx, val), 10);
  assert.deepEqual([...idx.slice(0, 10)].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

Deno.test("exactNearestNeighbours agrees with brute force", () => {
  const rng = new Rng(4);
  const n = 300, d = 6, k = 5;
  const x = randomMatrix(n, d, rng);
  const nn = exactNearestNeighbours(x, n, d, k);
  for (let i = 0; i < n; i += 17) {
    const dist = Array.from({ length: n }, (_, j) => {
      let s = 0;
      for (let t = 0; t < d; t++) s += (x[i * d + t] - x[j * d + t]) ** 2;
      return [s, j] as const;
    }).filter(([, j]) => j !== i).sort((a, b) => a[0] - b[0]);
    for (let t = 0; t < k; t++) {
      assert.equal(nn.indices[i * k + t], dist[t][1]);
      assert.ok(Math.abs(nn.squaredDistances[i * k + t] - dist[t][0]) < 1e-4);
    }
  }
  assert.throws(() => exactNearestNeighbours(x, n, d, n), /k must be an integer in \[1, 299\]/);
});
