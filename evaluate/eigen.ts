/**
 * Eigen decomposition of a real symmetric matrix: Householder reduction to tridiagonal form
 * followed by the implicit-shift QL algorithm (the EISPACK `tred2`/`tql2` pair, as in JAMA).
 * O(d³); about a second for d = 512 in V8.
 *
 * @module
 */

/** Eigenvalues and eigenvectors of a symmetric matrix. */
export interface SymmetricEigen {
  /** Eigenvalues, largest first. */
  readonly values: Float64Array;
  /** Row-major `[d, d]`; row i is the unit eigenvector of `values[i]`. */
  readonly vectors: Float64Array;
}

/**
 * Eigen decomposition of the symmetric row-major `d × d` matrix `matrix` (only its lower triangle
 * is read; the input is not changed). Eigenvalues come largest first; each eigenvector's sign is
 * fixed so that its largest-magnitude entry is positive, which makes results reproducible.
 */
export function symmetricEigen(matrix: ArrayLike<number>, d: number): SymmetricEigen {
  if (!Number.isInteger(d) || d < 1 || matrix.length !== d * d) {
    throw new Error(`symmetricEigen: expected a ${d}×${d} matrix, got ${matrix.length} entries`);
  }
  const v: Float64Array[] = [];
  for (let i = 0; i < d; i++) {
    const row = new Float64Array(d);
    for (let j = 0; j <= i; j++) {
      const x = matrix[i * d + j];
      if (!Number.isFinite(x)) {
        throw new Error(`symmetricEigen: entry (${i}, ${j}) is ${x}; expected a finite number`);
      }
      row[j] = x;
    }
    v.push(row);
  }
  for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) v[i][j] = v[j][i];
  const diag = new Float64Array(d);
  const off = new Float64Array(d);
  tridiagonalize(v, diag, off);
  // QL rotates pairs of eigenvector columns; rows of the transpose are contiguous, so work there.
  const w = transpose(v);
  tridiagonalQl(w, diag, off);

  const order = Array.from({ length: d }, (_, i) => i).sort((a, b) => diag[b] - diag[a]);
  const values = new Float64Array(d);
  const vectors = new Float64Array(d * d);
  for (let r = 0; r < d; r++) {
    const src = w[order[r]];
    values[r] = diag[order[r]];
    let big = 0;
    for (let k = 1; k < d; k++) if (Math.abs(src[k]) > Math.abs(src[big])) big = k;
    const sign = src[big] < 0 ? -1 : 1;
    for (let k = 0; k < d; k++) vectors[r * d + k] = sign * src[k];
  }
  return { values, vectors };
}

function transpose(v: Float64Array[]): Float64Array[] {
  const n = v.length;
  const out = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[j][i] = v[i][j];
  return out;
}

function hypot(a: number, b: number): number {
  const x = Math.abs(a), y = Math.abs(b);
  if (x > y) return x * Math.sqrt(1 + (y / x) * (y / x));
  if (y === 0) return 0;
  return y * Math.sqrt(1 + (x / y) * (x / y));
}

/**
 * Householder tridiagonalisation (EISPACK tred2). On return `v` holds the accumulated orthogonal
 * transformation (columns), `d` the diagonal and `e` the sub-diagonal (in e[1..n−1]).
 */
function tridiagonalize(v: Float64Array[], d: Float64Array, e: Float64Array): void {
  const n = v.length;
  for (let j = 0; j < n; j++) d[j] = v[n - 1][j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = v[i - 1][j];
        v[i][j] = 0;
        v[j][i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        v[j][i] = f;
        g = e[j] + v[j][j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += v[k][j] * d[k];
          e[k] += v[k][j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) v[k][j] -= f * e[k] + g * d[k];
        d[j] = v[i - 1][j];
        v[i][j] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  const col = new Float64Array(n);
  for (let i = 0; i < n - 1; i++) {
    v[n - 1][i] = v[i][i];
    v[i][i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) {
        col[k] = v[k][i + 1];
        d[k] = col[k] / h;
      }
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += col[k] * v[k][j];
        for (let k = 0; k <= i; k++) v[k][j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) v[k][i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[n - 1][j];
    v[n - 1][j] = 0;
  }
  v[n - 1][n - 1] = 1;
  e[0] = 0;
}

/**
 * Implicit-shift QL on the tridiagonal matrix (EISPACK tql2). `w` holds the transformation from
 * {@linkcode tridiagonalize} transposed (eigenvectors as rows) and is rotated in place; `d`
 * receives the eigenvalues (unsorted).
 */
function tridiagonalQl(w: Float64Array[], d: Float64Array, e: Float64Array): void {
  const n = w.length;
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iterations = 0;
      do {
        if (++iterations > 100) {
          throw new Error("symmetricEigen: QL iteration did not converge in 100 sweeps");
        }
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1, c2 = 1, c3 = 1;
        const el1 = e[l + 1];
        let s = 0, s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          const wi = w[i], wi1 = w[i + 1];
          for (let k = 0; k < n; k++) {
            const t = wi1[k];
            wi1[k] = s * wi[k] + c * t;
            wi[k] = c * wi[k] - s * t;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}
