/**
 * Principal component analysis of a feature matrix: top-k directions of largest variance, their
 * variances and explained-variance ratios, and projections onto them.
 *
 * Two solvers:
 * - **exact** (default for d ≤ 1,024): the d × d covariance `XcᵀXc / (n−1)` of the centred data
 *   (backend `matMul` when given, else a blocked host product) and a full symmetric eigen
 *   decomposition (Householder + implicit QL, {@linkcode symmetricEigen}); O(n·d² + d³).
 * - **randomized** (default for d > 1,024, where d³ and the d × d matrix get too big, e.g. d = 8,192
 *   for the seed's SimpleCNN features): block subspace (power) iteration on the covariance
 *   operator, never forming it (Halko, Martinsson & Tropp 2011, Alg. 4.4 with Rayleigh–Ritz).
 *   A random `l = k + oversample` column block is repeatedly multiplied by `XcᵀXc` and
 *   re-orthonormalised; the top-k eigenpairs of the small `l × l` projected matrix then give the
 *   components. Each step costs two passes over the data, O(n·d·l); accuracy of component i
 *   improves like `(λ_{l+1}/λ_i)^iterations`.
 *
 * @module
 */

import { type Backend, Rng } from "@simclr/core";
import { symmetricEigen } from "./eigen.ts";
import { checkMatrix } from "./features.ts";
import { columnMeans, matMulABt, matMulAtB } from "./linalg.ts";

/** Options of {@linkcode fitPca}. */
export interface PcaOptions {
  /** Number of components k to keep (default 2, at most min(n, d)). */
  readonly components?: number;
  /** Solver: `auto` (default) picks `exact` for d ≤ 1,024 and `randomized` above. */
  readonly method?: "auto" | "exact" | "randomized";
  /** Computes the large products with this backend's `matMul` when given. */
  readonly backend?: Backend;
  /** Randomized solver: power iterations (default 10). */
  readonly iterations?: number;
  /** Randomized solver: extra columns beyond k in the iterated block (default 10). */
  readonly oversample?: number;
  /** Randomized solver: random start block source (default `new Rng(0)`). */
  readonly rng?: Rng;
}

/** A fitted PCA. */
export interface PcaModel {
  /** Feature width d. */
  readonly dim: number;
  /** Number of components k. */
  readonly k: number;
  /** Column means subtracted before projecting, length d. */
  readonly mean: Float64Array;
  /**
   * Row-major `[k, d]` unit principal axes, largest variance first; each axis's largest-magnitude
   * entry is positive so results are reproducible.
   */
  readonly components: Float32Array;
  /** Variance along each axis (eigenvalues of the covariance, divisor n−1), length k. */
  readonly eigenvalues: Float64Array;
  /** Share of the total variance along each axis, length k. */
  readonly explainedVarianceRatio: Float64Array;
  /** Total variance (trace of the covariance). */
  readonly totalVariance: number;
  /** The solver that produced the model. */
  readonly method: "exact" | "randomized";
}

/** Result of {@linkcode fitPca}: the model and the fitted data projected onto it. */
export interface PcaFit {
  /** The fitted model. */
  readonly model: PcaModel;
  /** Row-major `[n, k]` coordinates of the fitted rows on the k components. */
  readonly projection: Float32Array;
}

/** Largest d for which `auto` uses the exact covariance eigen decomposition. */
export const PCA_EXACT_MAX_DIM = 1024;

/**
 * Fits PCA on `x` (`[n, d]`) and projects it. See the module documentation for the two solvers.
 * Requires n ≥ 2.
 */
export async function fitPca(
  x: Float32Array,
  n: number,
  d: number,
  options: PcaOptions = {},
): Promise<PcaFit> {
  checkMatrix(x, n, d, "fitPca features");
  if (n < 2) throw new Error(`fitPca: need at least 2 rows, got ${n}`);
  const k = options.components ?? 2;
  if (!Number.isInteger(k) || k < 1 || k > Math.min(n, d)) {
    throw new Error(`fitPca: components must be an integer in [1, ${Math.min(n, d)}], got ${k}`);
  }
  const method = options.method ?? "auto";
  if (!["auto", "exact", "randomized"].includes(method)) {
    throw new Error(`fitPca: method must be auto, exact or randomized, got ${method}`);
  }
  const useExact = method === "exact" || (method === "auto" && d <= PCA_EXACT_MAX_DIM);

  const mean = columnMeans(x, n, d);
  const totalVariance = columnVarianceSum(x, n, d, mean);
  let axes: Float64Array;
  let eigenvalues: Float64Array;
  if (useExact) {
    const scatter = await scatterMatrix(x, n, d, mean, options.backend);
    const eig = symmetricEigen(scatter, d);
    axes = eig.vectors.slice(0, k * d);
    eigenvalues = eig.values.slice(0, k).map((v) => Math.max(0, v) / (n - 1));
  } else {
    const result = await subspaceIteration(x, n, d, mean, k, options);
    axes = result.axes;
    eigenvalues = result.eigenvalues;
  }
  const components = new Float32Array(k * d);
  for (let c = 0; c < k; c++) {
    const row = axes.subarray(c * d, c * d + d);
    let big = 0;
    for (let j = 1; j < d; j++) if (Math.abs(row[j]) > Math.abs(row[big])) big = j;
    const sign = row[big] < 0 ? -1 : 1;
    for (let j = 0; j < d; j++) components[c * d + j] = sign * row[j];
  }
  const explainedVarianceRatio = eigenvalues.map((
    v,
  ) => (totalVariance > 0 ? v / totalVariance : 0));
  const model: PcaModel = {
    dim: d,
    k,
    mean,
    components,
    eigenvalues,
    explainedVarianceRatio,
    totalVariance,
    method: useExact ? "exact" : "randomized",
  };
  return { model, projection: pcaTransform(model, x, n) };
}

/**
 * Projects the rows of `x` (`[n, model.dim]`) onto the first `dims` components (default all k):
 * `(x − mean)·componentsᵀ`, a row-major `[n, dims]` matrix.
 */
export function pcaTransform(
  model: PcaModel,
  x: Float32Array,
  n: number,
  dims: number = model.k,
): Float32Array {
  const d = model.dim;
  checkMatrix(x, n, d, "pcaTransform features");
  if (!Number.isInteger(dims) || dims < 1 || dims > model.k) {
    throw new Error(`pcaTransform: dims must be an integer in [1, ${model.k}], got ${dims}`);
  }
  const chunk = 1024;
  const out = new Float32Array(n * dims);
  const centred = new Float32Array(Math.min(chunk, n) * d);
  for (let r0 = 0; r0 < n; r0 += chunk) {
    const rows = Math.min(chunk, n - r0);
    for (let r = 0; r < rows; r++) {
      const o = (r0 + r) * d;
      for (let j = 0; j < d; j++) centred[r * d + j] = x[o + j] - model.mean[j];
    }
    matMulABt(
      centred,
      rows,
      model.components,
      dims,
      d,
      out.subarray(r0 * dims, (r0 + rows) * dims),
    );
  }
  return out;
}

function columnVarianceSum(x: Float32Array, n: number, d: number, mean: Float64Array): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) {
      const c = x[o + j] - mean[j];
      total += c * c;
    }
  }
  return total / (n - 1);
}

/** `XcᵀXc` (not yet divided by n−1), float64 `[d, d]`. */
async function scatterMatrix(
  x: Float32Array,
  n: number,
  d: number,
  mean: Float64Array,
  backend: Backend | undefined,
): Promise<Float64Array> {
  if (!backend) return matMulAtB(x, d, x, d, n, mean, mean);
  // Centred row blocks go up one at a time so device memory stays at a block plus d × d.
  const chunk = Math.max(1, Math.min(n, Math.floor((1 << 24) / d)));
  const scatter = new Float64Array(d * d);
  const centred = new Float32Array(chunk * d);
  for (let r0 = 0; r0 < n; r0 += chunk) {
    const rows = Math.min(chunk, n - r0);
    for (let r = 0; r < rows; r++) {
      const o = (r0 + r) * d;
      for (let j = 0; j < d; j++) centred[r * d + j] = x[o + j] - mean[j];
    }
    const block = backend.upload(centred.slice(0, rows * d), [rows, d]);
    try {
      const product = backend.matMul(block, block, true, false);
      try {
        const values = await backend.read(product);
        for (let e = 0; e < d * d; e++) scatter[e] += values[e];
      } finally {
        backend.dispose(product);
      }
    } finally {
      backend.dispose(block);
    }
  }
  return scatter;
}

/**
 * Applies the scatter operator to a block: returns `Z` (`[l, d]`, float64) with row j equal to
 * `XcᵀXc q_j` for the rows q_j of `q` (`[l, d]`). `Y = X·Qᵀ` is centred on the host by subtracting
 * `Q·mean` from every row, which is exact algebra: `(X − 1μᵀ)Qᵀ = XQᵀ − 1(Qμ)ᵀ`; then
 * `Z = Ycᵀ·X` (Yc's columns sum to zero, so the mean term of the second factor drops out).
 */
async function applyScatter(
  x: Float32Array,
  xDevice: ReturnType<Backend["upload"]> | undefined,
  n: number,
  d: number,
  mean: Float64Array,
  q: Float64Array,
  l: number,
  backend: Backend | undefined,
): Promise<Float64Array> {
  const q32 = Float32Array.from(q);
  const qMean = new Float64Array(l);
  for (let j = 0; j < l; j++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += q[j * d + t] * mean[t];
    qMean[j] = s;
  }
  let y: Float32Array;
  if (backend && xDevice) {
    const qDevice = backend.upload(q32, [l, d]);
    try {
      const yDevice = backend.matMul(xDevice, qDevice, false, true);
      try {
        y = await backend.read(yDevice);
      } finally {
        backend.dispose(yDevice);
      }
    } finally {
      backend.dispose(qDevice);
    }
  } else {
    y = matMulABt(x, n, q32, l, d);
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < l; j++) y[i * l + j] -= qMean[j];
  if (backend && xDevice) {
    const yDevice = backend.upload(y, [n, l]);
    try {
      const zDevice = backend.matMul(yDevice, xDevice, true, false);
      try {
        return Float64Array.from(await backend.read(zDevice));
      } finally {
        backend.dispose(zDevice);
      }
    } finally {
      backend.dispose(yDevice);
    }
  }
  return matMulAtB(y, l, x, d, n);
}

/**
 * Orthonormalises the `l` rows (length d) of `q` in place by modified Gram–Schmidt, run twice for
 * stability. A row that collapses (numerically in the span of the earlier ones) is replaced by a
 * fresh random direction.
 */
function orthonormalizeRows(q: Float64Array, l: number, d: number, rng: Rng): void {
  for (let j = 0; j < l; j++) {
    const row = q.subarray(j * d, j * d + d);
    for (let attempt = 0;; attempt++) {
      let before = 0;
      for (let t = 0; t < d; t++) before += row[t] * row[t];
      for (let pass = 0; pass < 2; pass++) {
        for (let p = 0; p < j; p++) {
          const prev = q.subarray(p * d, p * d + d);
          let dot = 0;
          for (let t = 0; t < d; t++) dot += row[t] * prev[t];
          for (let t = 0; t < d; t++) row[t] -= dot * prev[t];
        }
      }
      let after = 0;
      for (let t = 0; t < d; t++) after += row[t] * row[t];
      if (after > 1e-20 * Math.max(before, 1e-300) && after > 0) {
        const inv = 1 / Math.sqrt(after);
        for (let t = 0; t < d; t++) row[t] *= inv;
        break;
      }
      if (attempt > 10) throw new Error("fitPca: could not orthonormalise the subspace block");
      for (let t = 0; t < d; t++) row[t] = rng.normal();
    }
  }
}

async function subspaceIteration(
  x: Float32Array,
  n: number,
  d: number,
  mean: Float64Array,
  k: number,
  options: PcaOptions,
): Promise<{ axes: Float64Array; eigenvalues: Float64Array }> {
  const iterations = options.iterations ?? 10;
  const oversample = options.oversample ?? 10;
  if (!Number.isInteger(iterations) || iterations < 1) {
    throw new Error(`fitPca: iterations must be a positive integer, got ${iterations}`);
  }
  if (!Number.isInteger(oversample) || oversample < 0) {
    throw new Error(`fitPca: oversample must be a non-negative integer, got ${oversample}`);
  }
  const l = Math.min(d, n, k + oversample);
  const rng = options.rng ?? new Rng(0);
  const backend = options.backend;
  let q: Float64Array = new Float64Array(l * d);
  for (let e = 0; e < q.length; e++) q[e] = rng.normal();
  orthonormalizeRows(q, l, d, rng);
  const xDevice = backend?.upload(x, [n, d]);
  try {
    for (let it = 0; it < iterations; it++) {
      q = await applyScatter(x, xDevice, n, d, mean, q, l, backend);
      orthonormalizeRows(q, l, d, rng);
    }
    // Rayleigh–Ritz: eigenpairs of T = Q·S·Qᵀ (l × l) give the best approximations in span(Q).
    const z = await applyScatter(x, xDevice, n, d, mean, q, l, backend);
    const t = new Float64Array(l * l);
    for (let a = 0; a < l; a++) {
      for (let b = 0; b <= a; b++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += q[a * d + j] * z[b * d + j];
        t[a * l + b] = s;
        t[b * l + a] = s;
      }
    }
    const eig = symmetricEigen(t, l);
    const axes = new Float64Array(k * d);
    for (let c = 0; c < k; c++) {
      for (let a = 0; a < l; a++) {
        const w = eig.vectors[c * l + a];
        for (let j = 0; j < d; j++) axes[c * d + j] += w * q[a * d + j];
      }
    }
    const eigenvalues = eig.values.slice(0, k).map((v) => Math.max(0, v) / (n - 1));
    return { axes, eigenvalues };
  } finally {
    if (backend && xDevice) backend.dispose(xDevice);
  }
}
