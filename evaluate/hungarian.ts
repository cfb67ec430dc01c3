/**
 * The Hungarian algorithm (Kuhn–Munkres with potentials, O(N³) for an N×N problem) for the
 * linear assignment problem, written out here so the evaluation has no dependency for it.
 *
 * @module
 */

/** Result of {@linkcode hungarian}. */
export interface Assignment {
  /** For each row, the column it is assigned to, or −1 when there are more rows than columns. */
  readonly rowToColumn: Int32Array;
  /** For each column, the row assigned to it, or −1 when there are more columns than rows. */
  readonly columnToRow: Int32Array;
  /** Sum of the original matrix entries over the assigned pairs. */
  readonly total: number;
}

/** Options of {@linkcode hungarian}. */
export interface HungarianOptions {
  /** Maximise the total instead of minimising it (default false). */
  readonly maximize?: boolean;
}

/**
 * Solves the linear assignment problem for a row-major `rows × cols` matrix: picks
 * `min(rows, cols)` entries, at most one per row and per column, with the smallest total (or the
 * largest when `maximize`). A rectangular matrix is padded to square with zero-cost dummy rows or
 * columns, whose assignments are reported as −1.
 *
 * This is the shortest-augmenting-path form with row and column potentials: each row is added in
 * turn and the potentials keep all reduced costs non-negative, which makes the whole run O(N³)
 * with N = max(rows, cols).
 */
export function hungarian(
  matrix: ArrayLike<number>,
  rows: number,
  cols: number,
  options: HungarianOptions = {},
): Assignment {
  if (!Number.isInteger(rows) || rows < 1 || !Number.isInteger(cols) || cols < 1) {
    throw new Error(`hungarian: expected positive integer rows and cols, got ${rows}×${cols}`);
  }
  if (matrix.length !== rows * cols) {
    throw new Error(
      `hungarian: expected ${rows}·${cols} = ${rows * cols} entries, got ${matrix.length}`,
    );
  }
  const sign = options.maximize ? -1 : 1;
  const size = Math.max(rows, cols);
  // 1-based square cost matrix; row 0 and column 0 are the algorithm's sentinels.
  const stride = size + 1;
  const cost = new Float64Array(stride * stride);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = matrix[r * cols + c];
      if (!Number.isFinite(v)) {
        throw new Error(`hungarian: entry (${r}, ${c}) is ${v}; expected a finite number`);
      }
      cost[(r + 1) * stride + c + 1] = sign * v;
    }
  }

  const rowPotential = new Float64Array(stride);
  const colPotential = new Float64Array(stride);
  const colOwner = new Int32Array(stride); // colOwner[j] = row matched to column j (0 = none)
  const previousCol = new Int32Array(stride);
  const minSlack = new Float64Array(stride);
  const visited = new Uint8Array(stride);
  for (let i = 1; i <= size; i++) {
    colOwner[0] = i;
    let col = 0;
    minSlack.fill(Infinity);
    visited.fill(0);
    // Grow a tree of tight edges from row i until it reaches a free column.
    do {
      visited[col] = 1;
      const row = colOwner[col];
      let delta = Infinity;
      let nextCol = 0;
      for (let j = 1; j <= size; j++) {
        if (visited[j]) continue;
        const reduced = cost[row * stride + j] - rowPotential[row] - colPotential[j];
        if (reduced < minSlack[j]) {
          minSlack[j] = reduced;
          previousCol[j] = col;
        }
        if (minSlack[j] < delta) {
          delta = minSlack[j];
          nextCol = j;
        }
      }
      for (let j = 0; j <= size; j++) {
        if (visited[j]) {
          rowPotential[colOwner[j]] += delta;
          colPotential[j] -= delta;
        } else {
          minSlack[j] -= delta;
        }
      }
      col = nextCol;
    } while (colOwner[col] !== 0);
    // Flip the augmenting path back to the root.
    do {
      const prev = previousCol[col];
      colOwner[col] = colOwner[prev];
      col = prev;
    } while (col !== 0);
  }

  const rowToColumn = new Int32Array(rows).fill(-1);
  const columnToRow = new Int32Array(cols).fill(-1);
  let total = 0;
  for (let j = 1; j <= size; j++) {
    const r = colOwner[j] - 1;
    const c = j - 1;
    if (r < rows && c < cols) {
      rowToColumn[r] = c;
      columnToRow[c] = r;
      total += matrix[r * cols + c];
    }
  }
  return { rowToColumn, columnToRow, total };
}
