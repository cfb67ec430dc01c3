/**
 * Host linear-algebra kernels shared by the evaluations: a register-blocked `A·Bᵀ` product, row
 * norms, the Gram matrix `XᵀX`, partial top-k selection with a binary heap, and exact k-nearest
 * neighbours. They are the fallback used when no {@linkcode Backend} is passed, so they are written
 * for speed on one core (about 2 GMAC/s in V8 for `A·Bᵀ`).
 *
 * @module
 */

/** Rows of `B` kept hot in cache while all rows of `A` pass over them. */
const B_BLOCK = 64;

/**
 * `out = A·Bᵀ` for row-major `A` `[aRows, d]` and `B` `[bRows, d]`; `out` is `[aRows, bRows]`.
 * Accumulates in float64 and rounds once per entry. Four rows of `A` meet two rows of `B` per inner
 * loop so each loaded value is used several times (the main cost in V8 is loads, not multiplies).
 */
export function matMulABt(
  a: Float32Array,
  aRows: number,
  b: Float32Array,
  bRows: number,
  d: number,
  out: Float32Array = new Float32Array(aRows * bRows),
): Float32Array {
  if (a.length < aRows * d || b.length < bRows * d || out.length < aRows * bRows) {
    throw new Error(
      `matMulABt: buffers too small for [${aRows},${d}]·[${bRows},${d}]ᵀ ` +
        `(a ${a.length}, b ${b.length}, out ${out.length})`,
    );
  }
  const n = bRows;
  for (let j0 = 0; j0 < n; j0 += B_BLOCK) {
    const j1 = Math.min(n, j0 + B_BLOCK);
    const jPairsEnd = j0 + ((j1 - j0) & ~1);
    let i = 0;
    for (; i + 4 <= aRows; i += 4) {
      const a0 = i * d, a1 = a0 + d, a2 = a1 + d, a3 = a2 + d;
      let j = j0;
      for (; j < jPairsEnd; j += 2) {
        const b0 = j * d, b1 = b0 + d;
        let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
        for (let k = 0; k < d; k++) {
          const y0 = b[b0 + k], y1 = b[b1 + k];
          let x = a[a0 + k];
          s00 += x * y0;
          s01 += x * y1;
          x = a[a1 + k];
          s10 += x * y0;
          s11 += x * y1;
          x = a[a2 + k];
          s20 += x * y0;
          s21 += x * y1;
          x = a[a3 + k];
          s30 += x * y0;
          s31 += x * y1;
        }
        const o = i * n + j;
        out[o] = s00;
        out[o + 1] = s01;
        out[o + n] = s10;
        out[o + n + 1] = s11;
        out[o + 2 * n] = s20;
        out[o + 2 * n + 1] = s21;
        out[o + 3 * n] = s30;
        out[o + 3 * n + 1] = s31;
      }
      for (; j < j1; j++) {
        const b0 = j * d;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let k = 0; k < d; k++) {
          const y = b[b0 + k];
          s0 += a[a0 + k] * y;
          s1 += a[a1 + k] * y;
          s2 += a[a2 + k] * y;
          s3 += a[a3 + k] * y;
        }
        const o = i * n + j;
        out[o] = s0;
        out[o + n] = s1;
        out[o + 2 * n] = s2;
        out[o + 3 * n] = s3;
      }
    }
    for (; i < aRows; i++) {
      const a0 = i * d;
      for (let j = j0; j < j1; j++) {
        const b0 = j * d;
        let s = 0;
        for (let k = 0; k < d; k++) s += a[a0 + k] * b[b0 + k];
        out[i * n + j] = s;
      }
    }
  }
  return out;
}

/** Squared Euclidean norm of every row of `x` (`[n, d]`), in float64. */
export function rowSquaredNorms(x: Float32Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let s = 0;
    for (let k = 0; k < d; k++) s += x[o + k] * x[o + k];
    out[i] = s;
  }
  return out;
}

/**
 * `(A − 1·aShiftᵀ)ᵀ·(B − 1·bShiftᵀ)` for row-major `A` `[n, aCols]` and `B` `[n, bCols]`, as a
 * float64 `[aCols, bCols]` matrix; the optional shifts are subtracted from every row (pass column
 * means to get a scatter matrix without making a centred copy). Rows are processed in chunks that
 * are transposed and fed to {@linkcode matMulABt}, so extra memory stays at a chunk.
 */
export function matMulAtB(
  a: Float32Array,
  aCols: number,
  b: Float32Array,
  bCols: number,
  n: number,
  aShift?: ArrayLike<number>,
  bShift?: ArrayLike<number>,
): Float64Array {
  const chunk = 1024;
  const out = new Float64Array(aCols * bCols);
  const at = new Float32Array(aCols * chunk);
  const bt = a === b && aShift === bShift ? at : new Float32Array(bCols * chunk);
  const partial = new Float32Array(aCols * bCols);
  for (let r0 = 0; r0 < n; r0 += chunk) {
    const rows = Math.min(chunk, n - r0);
    transposeChunk(a, aCols, r0, rows, aShift, at);
    if (bt !== at) transposeChunk(b, bCols, r0, rows, bShift, bt);
    matMulABt(at, aCols, bt, bCols, rows, partial);
    for (let e = 0; e < partial.length; e++) out[e] += partial[e];
  }
  return out;
}

/** Writes rows `r0 .. r0+rows` of `x` (`cols` wide), minus `shift`, transposed into `out`. */
function transposeChunk(
  x: Float32Array,
  cols: number,
  r0: number,
  rows: number,
  shift: ArrayLike<number> | undefined,
  out: Float32Array,
): void {
  for (let r = 0; r < rows; r++) {
    const o = (r0 + r) * cols;
    if (shift) { for (let k = 0; k < cols; k++) out[k * rows + r] = x[o + k] - shift[k]; }
    else for (let k = 0; k < cols; k++) out[k * rows + r] = x[o + k];
  }
}

/** Column means of row-major `x` (`[n, d]`), in float64. */
export function columnMeans(x: Float32Array, n: number, d: number): Float64Array {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let k = 0; k < d; k++) mean[k] += x[o + k];
  }
  for (let k = 0; k < d; k++) mean[k] /= n;
  return mean;
}

/**
 * Partial selection: writes into `outIndex`/`outValue` (length ≥ `k`) the `k` largest of
 * `values[offset .. offset+count)` (indices relative to `offset`), skipping relative index `skip`
 * (pass −1 to skip nothing). Uses a size-k min-heap, so most entries cost one comparison with the
 * heap root: O(count + k·log k·log(count/k)) instead of a full sort. The result is in heap order,
 * not sorted. Returns how many were selected (`min(k, count − skipped)`).
 */
export function selectLargest(
  values: Float32Array,
  offset: number,
  count: number,
  k: number,
  outIndex: Int32Array,
  outValue: Float64Array,
  skip = -1,
): number {
  let size = 0;
  let j = 0;
  // Fill the heap with the first k admissible entries.
  for (; j < count && size < k; j++) {
    if (j === skip) continue;
    outIndex[size] = j;
    outValue[size] = values[offset + j];
    size++;
  }
  for (let p = (size >> 1) - 1; p >= 0; p--) siftDown(outIndex, outValue, p, size);
  for (; j < count; j++) {
    const v = values[offset + j];
    if (v <= outValue[0] || j === skip) continue;
    outIndex[0] = j;
    outValue[0] = v;
    siftDown(outIndex, outValue, 0, size);
  }
  return size;
}

function siftDown(index: Int32Array, value: Float64Array, start: number, size: number): void {
  let p = start;
  const v = value[p];
  const id = index[p];
  for (;;) {
    let c = 2 * p + 1;
    if (c >= size) break;
    if (c + 1 < size && value[c + 1] < value[c]) c++;
    if (value[c] >= v) break;
    value[p] = value[c];
    index[p] = index[c];
    p = c;
  }
  value[p] = v;
  index[p] = id;
}

/** Exact nearest neighbours of every row among the other rows. */
export interface NeighbourLists {
  /** Neighbour count per row. */
  readonly k: number;
  /** `[n, k]` row indices, nearest first; a row is never its own neighbour. */
  readonly indices: Int32Array;
  /** `[n, k]` squared Euclidean distances matching `indices`. */
  readonly squaredDistances: Float64Array;
}

/**
 * Exact k-nearest neighbours (squared Euclidean) of every row of `x` (`[n, d]`) among the other
 * rows, computed in chunks of rows with `‖x‖² + ‖y‖² − 2x·y` and heap selection. O(n²·d) time,
 * O(chunk·n) memory. Requires `1 ≤ k < n`.
 */
export function exactNearestNeighbours(
  x: Float32Array,
  n: number,
  d: number,
  k: number,
): NeighbourLists {
  if (!Number.isInteger(k) || k < 1 || k >= n) {
    throw new Error(`exactNearestNeighbours: k must be an integer in [1, ${n - 1}], got ${k}`);
  }
  const norms = rowSquaredNorms(x, n, d);
  const chunk = 256;
  const scores = new Float32Array(chunk * n);
  const indices = new Int32Array(n * k);
  const squaredDistances = new Float64Array(n * k);
  const heapIndex = new Int32Array(k);
  const heapValue = new Float64Array(k);
  const order = new Int32Array(k);
  for (let r0 = 0; r0 < n; r0 += chunk) {
    const rows = Math.min(chunk, n - r0);
    matMulABt(x.subarray(r0 * d, (r0 + rows) * d), rows, x, n, d, scores);
    for (let r = 0; r < rows; r++) {
      const o = r * n;
      // Largest 2x·y − ‖y‖² is the smallest distance (‖x‖² is the same for the whole row).
      for (let j = 0; j < n; j++) scores[o + j] = 2 * scores[o + j] - norms[j];
      const i = r0 + r;
      selectLargest(scores, o, n, k, heapIndex, heapValue, i);
      for (let t = 0; t < k; t++) order[t] = t;
      sortByValueDescending(order, heapValue);
      for (let t = 0; t < k; t++) {
        indices[i * k + t] = heapIndex[order[t]];
        squaredDistances[i * k + t] = Math.max(0, norms[i] - heapValue[order[t]]);
      }
    }
  }
  return { k, indices, squaredDistances };
}

/** Insertion sort of `order` by `value[order[·]]`, largest first (k is small here). */
function sortByValueDescending(order: Int32Array, value: Float64Array): void {
  for (let a = 1; a < order.length; a++) {
    const o = order[a];
    const v = value[o];
    let b = a - 1;
    while (b >= 0 && value[order[b]] < v) {
      order[b + 1] = order[b];
      b--;
    }
    order[b + 1] = o;
  }
}
