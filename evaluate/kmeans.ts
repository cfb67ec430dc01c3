/**
 * k-means clustering (Lloyd's algorithm) with greedy k-means++ seeding and several seeded
 * restarts, keeping the run of lowest inertia. For the exercise, cluster L2-normalised features
 * ({@linkcode l2Normalize}) fitted on the training split, then {@linkcode assignToCentroids} the
 * (equally normalised) test features.
 *
 * Squared distances are `‖x‖² + ‖c‖² − 2·x·c`, the cross term being one `[n, k]` matrix product
 * per iteration (backend `matMul` when given, else the blocked host kernel).
 *
 * @module
 */

import { type Backend, type DeviceTensor, Rng } from "@simclr/core";
import { checkMatrix } from "./features.ts";
import { columnMeans, matMulABt, rowSquaredNorms } from "./linalg.ts";

/** Options of {@linkcode kMeans}. */
export interface KMeansOptions {
  /** Independent seedings; the lowest-inertia run is kept (default 5). */
  readonly restarts?: number;
  /** Lloyd iterations per run (default 100). */
  readonly maxIterations?: number;
  /**
   * Convergence threshold on the total squared centroid movement, relative to the mean per-feature
   * variance of the data, as in scikit-learn (default 1e-4). A run also stops when no point
   * changes cluster.
   */
  readonly tolerance?: number;
  /** Source of randomness for seeding (default `new Rng(0)`). */
  readonly rng?: Rng;
  /** Computes the point–centroid products with this backend's `matMul` when given. */
  readonly backend?: Backend;
  /** Called after every Lloyd iteration. */
  readonly onProgress?: (progress: KMeansProgress) => void;
}

/** Progress report of {@linkcode kMeans}. */
export interface KMeansProgress {
  /** Restart index, from 0. */
  readonly restart: number;
  /** Iteration within the restart, from 1. */
  readonly iteration: number;
  /** Inertia after the iteration. */
  readonly inertia: number;
}

/** Result of {@linkcode kMeans}. */
export interface KMeansResult {
  /** Number of clusters. */
  readonly k: number;
  /** Feature width. */
  readonly dim: number;
  /** Row-major `[k, dim]` centroids of the best run. */
  readonly centroids: Float32Array;
  /** Cluster of every fitted row under `centroids`. */
  readonly assignments: Int32Array;
  /** Sum of squared distances of the rows to their centroids. */
  readonly inertia: number;
  /** Lloyd iterations the best run took. */
  readonly iterations: number;
  /** Whether the best run met the stopping rule before `maxIterations`. */
  readonly converged: boolean;
  /** Final inertia of every restart, in order. */
  readonly restartInertias: Float64Array;
}

/** Nearest-centroid assignment of a set of rows. */
export interface CentroidAssignment {
  /** Index of the nearest centroid per row. */
  readonly assignments: Int32Array;
  /** Squared distance to that centroid per row. */
  readonly squaredDistances: Float64Array;
}

/**
 * Clusters the rows of `x` (`[n, d]`) into `k` groups. Each restart seeds with greedy k-means++
 * (each new centre is the best of `2 + ⌊ln k⌋` candidates drawn with probability ∝ squared
 * distance to the nearest chosen centre, as in scikit-learn), then runs Lloyd iterations. A
 * cluster that becomes empty is moved to the point currently farthest from its centroid.
 */
export async function kMeans(
  x: Float32Array,
  n: number,
  d: number,
  k: number,
  options: KMeansOptions = {},
): Promise<KMeansResult> {
  checkMatrix(x, n, d, "kMeans features");
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new Error(`kMeans: k must be an integer in [1, ${n}], got ${k}`);
  }
  const restarts = options.restarts ?? 5;
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-4;
  if (!Number.isInteger(restarts) || restarts < 1) {
    throw new Error(`kMeans: restarts must be a positive integer, got ${restarts}`);
  }
  if (!Number.isInteger(maxIterations) || maxIterations < 1) {
    throw new Error(`kMeans: maxIterations must be a positive integer, got ${maxIterations}`);
  }
  if (!(tolerance >= 0)) throw new Error(`kMeans: tolerance must be ≥ 0, got ${tolerance}`);
  const rng = options.rng ?? new Rng(0);
  const norms = rowSquaredNorms(x, n, d);
  const shiftThreshold = tolerance * meanColumnVariance(x, n, d);
  const backend = options.backend;
  const xDevice = backend?.upload(x, [n, d]);
  try {
    const distance = new Distances(x, n, d, norms, backend, xDevice);
    let best: KMeansResult | undefined;
    const restartInertias = new Float64Array(restarts);
    for (let restart = 0; restart < restarts; restart++) {
      let centroids = seedPlusPlus(x, n, d, k, norms, rng);
      let { assignments, squaredDistances } = await distance.assign(centroids, k);
      let inertia = sum(squaredDistances);
      let iterations = 0;
      let converged = false;
      while (iterations < maxIterations) {
        iterations++;
        const next = updateCentroids(x, n, d, k, assignments, squaredDistances);
        let shift = 0;
        for (let e = 0; e < k * d; e++) shift += (next[e] - centroids[e]) ** 2;
        centroids = next;
        const step = await distance.assign(centroids, k);
        let changed = false;
        for (let i = 0; i < n && !changed; i++) changed = step.assignments[i] !== assignments[i];
        assignments = step.assignments;
        squaredDistances = step.squaredDistances;
        inertia = sum(squaredDistances);
        options.onProgress?.({ restart, iteration: iterations, inertia });
        if (!changed || shift <= shiftThreshold) {
          converged = true;
          break;
        }
      }
      restartInertias[restart] = inertia;
      if (!best || inertia < best.inertia) {
        best = {
          k,
          dim: d,
          centroids,
          assignments,
          inertia,
          iterations,
          converged,
          restartInertias,
        };
      }
    }
    return best!;
  } finally {
    if (backend && xDevice) backend.dispose(xDevice);
  }
}

/**
 * Assigns every row of `x` (`[n, d]`) to its nearest centroid among `centroids` (`[k, d]`),
 * e.g. test features to the centroids fitted on training features.
 */
export async function assignToCentroids(
  centroids: Float32Array,
  k: number,
  x: Float32Array,
  n: number,
  d: number,
  backend?: Backend,
): Promise<CentroidAssignment> {
  checkMatrix(centroids, k, d, "assignToCentroids centroids");
  checkMatrix(x, n, d, "assignToCentroids features");
  const xDevice = backend?.upload(x, [n, d]);
  try {
    const distance = new Distances(x, n, d, rowSquaredNorms(x, n, d), backend, xDevice);
    return await distance.assign(centroids, k);
  } finally {
    if (backend && xDevice) backend.dispose(xDevice);
  }
}

/** Squared point–centroid distances for one data set, on the host or a backend. */
class Distances {
  #dots: Float32Array | undefined;
  constructor(
    readonly x: Float32Array,
    readonly n: number,
    readonly d: number,
    readonly norms: Float64Array,
    readonly backend: Backend | undefined,
    readonly xDevice: DeviceTensor | undefined,
  ) {}

  async assign(centroids: Float32Array, k: number): Promise<CentroidAssignment> {
    const { n, d, norms, backend, xDevice } = this;
    let dots: Float32Array;
    if (backend && xDevice) {
      const c = backend.upload(centroids, [k, d]);
      try {
        const product = backend.matMul(xDevice, c, false, true);
        try {
          dots = await backend.read(product);
        } finally {
          backend.dispose(product);
        }
      } finally {
        backend.dispose(c);
      }
    } else {
      if (!this.#dots || this.#dots.length !== n * k) this.#dots = new Float32Array(n * k);
      dots = matMulABt(this.x, n, centroids, k, d, this.#dots);
    }
    const centroidNorms = rowSquaredNorms(centroids, k, d);
    const assignments = new Int32Array(n);
    const squaredDistances = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestScore = Infinity;
      for (let c = 0; c < k; c++) {
        const score = centroidNorms[c] - 2 * dots[i * k + c];
        if (score < bestScore) {
          bestScore = score;
          best = c;
        }
      }
      assignments[i] = best;
      // Rounding can make a tiny true distance slightly negative.
      squaredDistances[i] = Math.max(0, norms[i] + bestScore);
    }
    return { assignments, squaredDistances };
  }
}

function sum(values: Float64Array): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

function meanColumnVariance(x: Float32Array, n: number, d: number): number {
  const mean = columnMeans(x, n, d);
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) total += (x[i * d + j] - mean[j]) ** 2;
  }
  return total / (n * d);
}

/** Greedy k-means++ seeding; returns `[k, d]` centroids copied from data rows. */
function seedPlusPlus(
  x: Float32Array,
  n: number,
  d: number,
  k: number,
  norms: Float64Array,
  rng: Rng,
): Float32Array {
  const centroids = new Float32Array(k * d);
  const trials = 2 + Math.floor(Math.log(k));
  const first = rng.int(n);
  centroids.set(x.subarray(first * d, first * d + d), 0);
  const closest = distancesToRows(x, n, d, norms, Int32Array.of(first))[0];
  const cumulative = new Float64Array(n);
  const candidates = new Int32Array(trials);
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      total += closest[i];
      cumulative[i] = total;
    }
    for (let t = 0; t < trials; t++) {
      // All points coincide with chosen centres: any pick is as good as another.
      candidates[t] = total > 0 ? searchCumulative(cumulative, rng.uniform() * total) : rng.int(n);
    }
    const candidateDistances = distancesToRows(x, n, d, norms, candidates);
    let bestTrial = 0;
    let bestPotential = Infinity;
    for (let t = 0; t < trials; t++) {
      let potential = 0;
      const dist = candidateDistances[t];
      for (let i = 0; i < n; i++) potential += Math.min(closest[i], dist[i]);
      if (potential < bestPotential) {
        bestPotential = potential;
        bestTrial = t;
      }
    }
    const chosen = candidates[bestTrial];
    centroids.set(x.subarray(chosen * d, chosen * d + d), c * d);
    const dist = candidateDistances[bestTrial];
    for (let i = 0; i < n; i++) closest[i] = Math.min(closest[i], dist[i]);
  }
  return centroids;
}

/** First index whose cumulative sum exceeds `target`. */
function searchCumulative(cumulative: Float64Array, target: number): number {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] > target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Squared distances of all rows to each of the rows `picks`; one Float64Array per pick. */
function distancesToRows(
  x: Float32Array,
  n: number,
  d: number,
  norms: Float64Array,
  picks: Int32Array,
): Float64Array[] {
  const t = picks.length;
  const centres = new Float32Array(t * d);
  for (let p = 0; p < t; p++) centres.set(x.subarray(picks[p] * d, picks[p] * d + d), p * d);
  const dots = matMulABt(x, n, centres, t, d);
  const out: Float64Array[] = [];
  for (let p = 0; p < t; p++) {
    const dist = new Float64Array(n);
    const cn = norms[picks[p]];
    for (let i = 0; i < n; i++) dist[i] = Math.max(0, norms[i] + cn - 2 * dots[i * t + p]);
    out.push(dist);
  }
  return out;
}

/** Means of the clusters; empty clusters take the points farthest from their centroids. */
function updateCentroids(
  x: Float32Array,
  n: number,
  d: number,
  k: number,
  assignments: Int32Array,
  squaredDistances: Float64Array,
): Float32Array {
  const sums = new Float64Array(k * d);
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const c = assignments[i];
    counts[c]++;
    const o = i * d;
    const s = c * d;
    for (let j = 0; j < d; j++) sums[s + j] += x[o + j];
  }
  const centroids = new Float32Array(k * d);
  const empty: number[] = [];
  for (let c = 0; c < k; c++) {
    if (counts[c] === 0) {
      empty.push(c);
      continue;
    }
    for (let j = 0; j < d; j++) centroids[c * d + j] = sums[c * d + j] / counts[c];
  }
  if (empty.length > 0) {
    const farthest = Array.from({ length: n }, (_, i) => i)
      .sort((a, b) => squaredDistances[b] - squaredDistances[a]);
    empty.forEach((c, r) => centroids.set(x.subarray(farthest[r] * d, farthest[r] * d + d), c * d));
  }
  return centroids;
}
