/**
 * SCAN's first step: every training image's nearest neighbours by cosine similarity, and how
 * often they share its class (neighbour purity).
 *
 * @module
 */
import type { Backend, DeviceTensor } from "@simclr/core";
import { checkLabels, checkMatrix, l2Normalize, type Labels } from "./features.ts";
import { matMulABt, selectLargest } from "./linalg.ts";
/** Options of {@linkcode mineNeighbours}. */
export interface NeighbourOptions {
  /** Computes the similarity blocks with this backend's `matMul` when given. */
  readonly backend?: Backend;
  /** Query rows per similarity block; memory is `chunkRows·n` floats (default 256). */
  readonly chunkRows?: number;
  /** Called after every block with the rows done so far and the total. */
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * The `k` nearest neighbours of every row of `x` (`[n, dim]`) among the other rows, by cosine
 * similarity, most similar first: row-major `[n, k]` indices. A row is never its own neighbour
 * (exact duplicates elsewhere in the set still are).
 */
export async function mineNeighbours(
  x: Float32Array,
  n: number,
  dim: number,
  k: number,
  options: NeighbourOptions = {},
): Promise<Int32Array> {
  checkMatrix(x, n, dim, "mineNeighbours features");
  if (!Number.isInteger(k) || k < 1 || k >= n) {
    throw new Error(`mineNeighbours: k must be an integer in [1, ${n - 1}], got ${k}`);
  }
  const chunkRows = options.chunkRows ?? 256;
  const unit = l2Normalize(x, n, dim);
  const out = new Int32Array(n * k);
  const heapIndex = new Int32Array(k);
  const heapValue = new Float64Array(k);
  const order = Array.from({ length: k }, (_, i) => i);
  const backend = options.backend;
  const all: DeviceTensor | undefined = backend?.upload(unit, [n, dim]);
  const hostBlock = backend ? undefined : new Float32Array(chunkRows * n);
  try {
    for (let r0 = 0; r0 < n; r0 += chunkRows) {
      const rows = Math.min(chunkRows, n - r0);
      const queries = unit.subarray(r0 * dim, (r0 + rows) * dim);
      let sims: Float32Array;
      if (backend && all) {
        const q = backend.upload(queries.slice(), [rows, dim]);
        const s = backend.matMul(q, all, false, true);
        backend.dispose(q);
        try {
          sims = await backend.read(s);
        } finally {
          backend.dispose(s);
        }
      } else {
        sims = matMulABt(queries, rows, unit, n, dim, hostBlock);
      }
      for (let r = 0; r < rows; r++) {
        selectLargest(sims, r * n, n, k, heapIndex, heapValue, r0 + r);
        // The heap is unordered; sort its k entries by similarity, ties by index.
        order.sort((a, b) => heapValue[b] - heapValue[a] || heapIndex[a] - heapIndex[b]);
        for (let j = 0; j < k; j++) out[(r0 + r) * k + j] = heapIndex[order[j]];
      }
      options.onProgress?.(r0 + rows, n);
    }
  } finally {
    if (backend && all) backend.dispose(all);
  }
  return out;
}

/**
 * Neighbour purity: entry `j` is the mean over rows of the share of the row's `j + 1` nearest
 * neighbours (`neighbours` is `[n, k]`, nearest first) that have the row's label.
 */
export function neighbourPurity(neighbours: Int32Array, k: number, labels: Labels): number[] {
  const n = labels.length;
  if (neighbours.length !== n * k) {
    throw new Error(
      `neighbourPurity: expected ${n}·${k} neighbour indices, got ${neighbours.length}`,
    );
  }
  checkLabels(labels, n, "neighbourPurity labels");
  const same = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    let count = 0;
    for (let j = 0; j < k; j++) {
      if (labels[neighbours[i * k + j]] === labels[i]) count++;
      same[j] += count / (j + 1);
    }
  }
  return Array.from(same, (s) => s / n);
}
