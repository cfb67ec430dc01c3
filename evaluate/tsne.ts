/**
 * t-SNE (van der Maaten & Hinton 2008) to two dimensions with the Barnes–Hut approximation
 * (van der Maaten 2014), for pictures of up to ~5,000 feature vectors, plus a neighbour-preservation
 * score of an embedding.
 *
 * Pipeline: optional PCA to 50 dimensions → exact 3·perplexity nearest neighbours → per-point
 * Gaussian bandwidth by binary search to the target perplexity → symmetrised sparse P →
 * gradient descent with early exaggeration, momentum and delta-bar-delta gains, the repulsive
 * forces summed over a quadtree (cells of width w at distance r are merged when w/r < θ).
 * Defaults follow scikit-learn (`learning_rate="auto"`, `init="random"`), whose gradient keeps the
 * factor 4 of the t-SNE gradient, hence the `/4` in the automatic learning rate.
 *
 * @module
 */

import { type Backend, Rng } from "@simclr/core";
import { checkMatrix } from "./features.ts";
import { exactNearestNeighbours } from "./linalg.ts";
import { fitPca } from "./pca.ts";

/** Options of {@linkcode tsne}. */
export interface TsneOptions {
  /** Effective number of neighbours (default 30); needs more than 3·perplexity + 1 points. */
  readonly perplexity?: number;
  /** Gradient-descent iterations (default 1,000). */
  readonly iterations?: number;
  /** Factor on P during the first iterations (default 12). */
  readonly earlyExaggeration?: number;
  /** Iterations with exaggeration and the initial momentum (default 250). */
  readonly exaggerationIterations?: number;
  /** Momentum during exaggeration (default 0.5). */
  readonly initialMomentum?: number;
  /** Momentum afterwards (default 0.8). */
  readonly finalMomentum?: number;
  /** Step size, or `auto` = max(n / earlyExaggeration / 4, 50) (default `auto`). */
  readonly learningRate?: number | "auto";
  /** Barnes–Hut accuracy θ (default 0.5; 0 gives the exact O(n²) gradient). */
  readonly theta?: number;
  /** Reduce the input to this many dimensions with PCA first when d is larger (default 50; 0 = never). */
  readonly pcaDims?: number;
  /** Source of the initial layout, N(0, 10⁻⁴·I) (default `new Rng(0)`). */
  readonly rng?: Rng;
  /** Used for the PCA step when given. */
  readonly backend?: Backend;
  /** Report progress (with a KL estimate) every this many iterations (default 50). */
  readonly progressEvery?: number;
  /** Progress callback. */
  readonly onProgress?: (progress: TsneProgress) => void;
}

/** Progress report of {@linkcode tsne}. */
export interface TsneProgress {
  /** Iterations done. */
  readonly iteration: number;
  /** Estimate of KL(P‖Q) (with the un-exaggerated P and the Barnes–Hut normaliser). */
  readonly kl: number;
}

/** Result of {@linkcode tsne}. */
export interface TsneResult {
  /** Row-major `[n, 2]` embedding. */
  readonly embedding: Float32Array;
  /** KL(P‖Q) estimate after the last iteration. */
  readonly kl: number;
  /** The learning rate used. */
  readonly learningRate: number;
}

/** Sparse symmetric joint probabilities P in compressed-row form (each row's columns unsorted). */
export interface SparseAffinities {
  /** Number of points. */
  readonly n: number;
  /** Row start offsets into `columns`/`values`, length n + 1. */
  readonly rowStart: Int32Array;
  /** Column of every stored entry. */
  readonly columns: Int32Array;
  /** `p_ij`; all entries sum to 1. */
  readonly values: Float64Array;
}

/**
 * Embeds the rows of `x` (`[n, d]`) in two dimensions with Barnes–Hut t-SNE; see the module
 * documentation. About a minute for 5,000 points on one core.
 */
export async function tsne(
  x: Float32Array,
  n: number,
  d: number,
  options: TsneOptions = {},
): Promise<TsneResult> {
  checkMatrix(x, n, d, "tsne features");
  const perplexity = options.perplexity ?? 30;
  const iterations = options.iterations ?? 1000;
  const exaggeration = options.earlyExaggeration ?? 12;
  const exaggerationIterations = options.exaggerationIterations ?? 250;
  const theta = options.theta ?? 0.5;
  const pcaDims = options.pcaDims ?? 50;
  const progressEvery = options.progressEvery ?? 50;
  if (!(perplexity > 0)) throw new Error(`tsne: perplexity must be positive, got ${perplexity}`);
  const neighbours = Math.min(n - 1, Math.floor(3 * perplexity));
  if (!(neighbours > perplexity)) {
    throw new Error(
      `tsne: ${n} points are too few for perplexity ${perplexity} (need more than 3·perplexity + 1)`,
    );
  }
  if (!Number.isInteger(iterations) || iterations < 1) {
    throw new Error(`tsne: iterations must be a positive integer, got ${iterations}`);
  }
  // Above 1/√2 a cell could be summarised while containing the point itself.
  if (!(theta >= 0 && theta <= 0.7)) {
    throw new Error(`tsne: theta must be in [0, 0.7], got ${theta}`);
  }
  const learningRate = options.learningRate === undefined || options.learningRate === "auto"
    ? Math.max(n / exaggeration / 4, 50)
    : options.learningRate;
  if (!(learningRate > 0)) {
    throw new Error(`tsne: learningRate must be positive, got ${learningRate}`);
  }

  let input = x;
  let dim = d;
  if (pcaDims > 0 && d > pcaDims && n > pcaDims) {
    input = (await fitPca(x, n, d, { components: pcaDims, backend: options.backend })).projection;
    dim = pcaDims;
  }
  const knn = exactNearestNeighbours(input, n, dim, neighbours);
  const p = jointProbabilities(knn.indices, knn.squaredDistances, n, neighbours, perplexity);

  const rng = options.rng ?? new Rng(0);
  const y = new Float64Array(2 * n);
  for (let e = 0; e < 2 * n; e++) y[e] = 1e-4 * rng.normal();
  const update = new Float64Array(2 * n);
  const gains = new Float64Array(2 * n).fill(1);
  const gradient = new Float64Array(2 * n);
  let kl = NaN;
  for (let it = 1; it <= iterations; it++) {
    const early = it <= exaggerationIterations;
    const wantKl = it % progressEvery === 0 || it === iterations;
    const z = tsneGradient(y, n, p, early ? exaggeration : 1, theta, gradient);
    if (wantKl) kl = klDivergence(y, p, z);
    const momentum = early ? (options.initialMomentum ?? 0.5) : (options.finalMomentum ?? 0.8);
    for (let e = 0; e < 2 * n; e++) {
      const g = gradient[e];
      gains[e] = (update[e] * g < 0) ? gains[e] + 0.2 : Math.max(gains[e] * 0.8, 0.01);
      update[e] = momentum * update[e] - learningRate * gains[e] * g;
      y[e] += update[e];
    }
    if (wantKl) options.onProgress?.({ iteration: it, kl });
  }
  return { embedding: Float32Array.from(y), kl, learningRate };
}

/**
 * Symmetric t-SNE affinities from each point's nearest neighbours:
 * {@linkcode conditionalProbabilities} then `p_ij = (p_{j|i} + p_{i|j}) / 2n`.
 * `indices`/`squaredDistances` are `[n, k]` as returned by {@linkcode exactNearestNeighbours}.
 */
export function jointProbabilities(
  indices: Int32Array,
  squaredDistances: Float64Array,
  n: number,
  k: number,
  perplexity: number,
): SparseAffinities {
  const conditional = conditionalProbabilities(squaredDistances, n, k, perplexity);
  return symmetrizeAffinities(indices, conditional, n, k);
}

/**
 * Row-stochastic `p_{j|i} ∝ exp(−β_i·‖x_i − x_j‖²)` over each point's `k` neighbours
 * (`squaredDistances` `[n, k]`), with β_i found by binary search so that the row's entropy is
 * `ln(perplexity)` nats (to 1e-5). Returns `[n, k]`.
 */
export function conditionalProbabilities(
  squaredDistances: Float64Array,
  n: number,
  k: number,
  perplexity: number,
): Float64Array {
  const conditional = new Float64Array(n * k);
  const target = Math.log(perplexity);
  for (let i = 0; i < n; i++) {
    const o = i * k;
    // Shifting by the nearest distance leaves p_{j|i} unchanged and keeps exp from underflowing.
    let nearest = Infinity;
    for (let t = 0; t < k; t++) nearest = Math.min(nearest, squaredDistances[o + t]);
    let beta = 1;
    let betaLow = -Infinity;
    let betaHigh = Infinity;
    for (let step = 0; step < 200; step++) {
      let sum = 0;
      let weighted = 0;
      for (let t = 0; t < k; t++) {
        const shifted = squaredDistances[o + t] - nearest;
        const w = Math.exp(-shifted * beta);
        conditional[o + t] = w;
        sum += w;
        weighted += shifted * w;
      }
      const entropy = Math.log(sum) + (beta * weighted) / sum;
      for (let t = 0; t < k; t++) conditional[o + t] /= sum;
      const gap = entropy - target;
      if (Math.abs(gap) < 1e-5) break;
      if (gap > 0) {
        betaLow = beta;
        beta = betaHigh === Infinity ? beta * 2 : (beta + betaHigh) / 2;
      } else {
        betaHigh = beta;
        beta = betaLow === -Infinity ? beta / 2 : (beta + betaLow) / 2;
      }
    }
  }
  return conditional;
}

/**
 * `p_ij = (p_{j|i} + p_{i|j}) / 2n` in compressed-row form from the `[n, k]` neighbour lists and
 * their conditional probabilities; a pair appearing in both lists is merged into one entry.
 */
export function symmetrizeAffinities(
  indices: Int32Array,
  conditional: Float64Array,
  n: number,
  k: number,
): SparseAffinities {
  // Symmetrise: row i gets its own k entries plus every (j → i) entry, merged by column.
  const rowCount = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    rowCount[i] += k;
    for (let t = 0; t < k; t++) rowCount[indices[i * k + t]]++;
  }
  const rawStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) rawStart[i + 1] = rawStart[i] + rowCount[i];
  const rawColumns = new Int32Array(rawStart[n]);
  const rawValues = new Float64Array(rawStart[n]);
  const fill = rawStart.slice(0, n);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const j = indices[i * k + t];
      const v = conditional[i * k + t];
      rawColumns[fill[i]] = j;
      rawValues[fill[i]++] = v;
      rawColumns[fill[j]] = i;
      rawValues[fill[j]++] = v;
    }
  }
  const slot = new Int32Array(n).fill(-1);
  const rowStart = new Int32Array(n + 1);
  const columns = new Int32Array(rawStart[n]);
  const values = new Float64Array(rawStart[n]);
  let size = 0;
  for (let i = 0; i < n; i++) {
    rowStart[i] = size;
    for (let e = rawStart[i]; e < rawStart[i + 1]; e++) {
      const j = rawColumns[e];
      if (slot[j] < 0) {
        slot[j] = size;
        columns[size] = j;
        values[size++] = rawValues[e];
      } else {
        values[slot[j]] += rawValues[e];
      }
    }
    for (let e = rowStart[i]; e < size; e++) slot[columns[e]] = -1;
  }
  rowStart[n] = size;
  const out = values.slice(0, size);
  for (let e = 0; e < size; e++) out[e] /= 2 * n;
  return { n, rowStart, columns: columns.slice(0, size), values: out };
}

/**
 * The t-SNE gradient `4·(exaggeration·Σ_j p_ij q̃_ij (y_i − y_j) − Σ_j q̃_ij² (y_i − y_j) / Z)`
 * with `q̃_ij = 1/(1 + ‖y_i − y_j‖²)` and `Z = Σ_{i≠j} q̃_ij`, written into `out` (`[n, 2]`).
 * The repulsive part uses {@linkcode repulsiveForces}. Returns Z.
 */
export function tsneGradient(
  y: Float64Array,
  n: number,
  p: SparseAffinities,
  exaggeration: number,
  theta: number,
  out: Float64Array,
): number {
  const { forces, z } = repulsiveForces(y, n, theta);
  const { rowStart, columns, values } = p;
  for (let i = 0; i < n; i++) {
    const yx = y[2 * i], yy = y[2 * i + 1];
    let ax = 0, ay = 0;
    for (let e = rowStart[i]; e < rowStart[i + 1]; e++) {
      const j = columns[e];
      const dx = yx - y[2 * j], dy = yy - y[2 * j + 1];
      const w = values[e] / (1 + dx * dx + dy * dy);
      ax += w * dx;
      ay += w * dy;
    }
    out[2 * i] = 4 * (exaggeration * ax - forces[2 * i] / z);
    out[2 * i + 1] = 4 * (exaggeration * ay - forces[2 * i + 1] / z);
  }
  return z;
}

/** KL(P‖Q) over the stored entries of P, with `q_ij = q̃_ij / Z`. */
function klDivergence(y: Float64Array, p: SparseAffinities, z: number): number {
  const { n, rowStart, columns, values } = p;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    for (let e = rowStart[i]; e < rowStart[i + 1]; e++) {
      const j = columns[e];
      const dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
      const q = 1 / (1 + dx * dx + dy * dy) / z;
      const pv = values[e];
      if (pv > 0) kl += pv * Math.log(pv / Math.max(q, 1e-300));
    }
  }
  return kl;
}

/** Deepest quadtree level; points closer than 2⁻⁴⁰ of the layout's extent share a leaf. */
const MAX_DEPTH = 40;

/**
 * Barnes–Hut repulsion for a 2-D layout `y` (`[n, 2]`): per point `Σ_j q̃_ij² (y_i − y_j)` in
 * `forces` and the normaliser `z = Σ_{i≠j} q̃_ij`, where a quadtree cell of side w whose centre of
 * mass is at distance r from the point is treated as one body when `w < θ·r`. θ = 0 is exact;
 * θ must stay below 1/√2 so that no cell containing the point itself is summarised.
 */
export function repulsiveForces(
  y: Float64Array,
  n: number,
  theta: number,
): { forces: Float64Array; z: number } {
  const tree = new QuadTree(y, n);
  const forces = new Float64Array(2 * n);
  const theta2 = theta * theta;
  const { mass, comX, comY, side, firstChild } = tree;
  const stack = new Int32Array(4 * MAX_DEPTH + 8);
  let z = 0;
  for (let i = 0; i < n; i++) {
    const yx = y[2 * i], yy = y[2 * i + 1];
    const ownLeaf = tree.leafOf[i];
    let fx = 0, fy = 0, zi = 0;
    let top = 0;
    stack[top++] = 0;
    while (top > 0) {
      const node = stack[--top];
      let m = mass[node];
      const dx = yx - comX[node], dy = yy - comY[node];
      const d2 = dx * dx + dy * dy;
      const child = firstChild[node];
      if (child < 0 || side[node] * side[node] < theta2 * d2) {
        if (node === ownLeaf) m -= 1; // a point does not repel itself
        if (m <= 0) continue;
        const q = 1 / (1 + d2);
        zi += m * q;
        const mq2 = m * q * q;
        fx += mq2 * dx;
        fy += mq2 * dy;
      } else {
        for (let c = 0; c < 4; c++) if (mass[child + c] > 0) stack[top++] = child + c;
      }
    }
    forces[2 * i] = fx;
    forces[2 * i + 1] = fy;
    z += zi;
  }
  return { forces, z };
}

/** A point-region quadtree in flat arrays; leaves hold one point (or coincident points). */
class QuadTree {
  centreX: Float64Array;
  centreY: Float64Array;
  /** Full side length of the cell. */
  side: Float64Array;
  mass: Float64Array;
  comX: Float64Array;
  comY: Float64Array;
  /** Index of the first of four consecutive children, or −1 for a leaf. */
  firstChild: Int32Array;
  /** Representative point of a leaf, or −1. */
  point: Int32Array;
  /** Leaf that holds each point. */
  leafOf: Int32Array;
  size = 1;

  constructor(readonly y: Float64Array, n: number) {
    const capacity = Math.max(16, 4 * n);
    this.centreX = new Float64Array(capacity);
    this.centreY = new Float64Array(capacity);
    this.side = new Float64Array(capacity);
    this.mass = new Float64Array(capacity);
    this.comX = new Float64Array(capacity);
    this.comY = new Float64Array(capacity);
    this.firstChild = new Int32Array(capacity).fill(-1);
    this.point = new Int32Array(capacity).fill(-1);
    this.leafOf = new Int32Array(n);
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      minX = Math.min(minX, y[2 * i]);
      maxX = Math.max(maxX, y[2 * i]);
      minY = Math.min(minY, y[2 * i + 1]);
      maxY = Math.max(maxY, y[2 * i + 1]);
    }
    const extent = Math.max(maxX - minX, maxY - minY);
    this.centreX[0] = (minX + maxX) / 2;
    this.centreY[0] = (minY + maxY) / 2;
    this.side[0] = extent * (1 + 1e-6) + 1e-12;
    for (let i = 0; i < n; i++) this.insert(i);
    // Locate every point's leaf once the tree is final (splits move leaf contents down).
    for (let i = 0; i < n; i++) {
      let node = 0;
      while (this.firstChild[node] >= 0) {
        node = this.firstChild[node] + this.quadrant(node, y[2 * i], y[2 * i + 1]);
      }
      this.leafOf[i] = node;
    }
    for (let node = 0; node < this.size; node++) {
      if (this.mass[node] > 0) {
        this.comX[node] /= this.mass[node];
        this.comY[node] /= this.mass[node];
      }
    }
  }

  insert(i: number): void {
    const px = this.y[2 * i], py = this.y[2 * i + 1];
    let node = 0;
    for (let depth = 0;; depth++) {
      if (this.firstChild[node] < 0) {
        const q = this.point[node];
        if (q < 0) {
          this.point[node] = i;
          this.addMass(node, px, py, 1);
          return;
        }
        if (depth >= MAX_DEPTH || (this.y[2 * q] === px && this.y[2 * q + 1] === py)) {
          this.addMass(node, px, py, 1);
          return;
        }
        this.split(node, q);
      }
      this.addMass(node, px, py, 1);
      node = this.firstChild[node] + this.quadrant(node, px, py);
    }
  }

  /** Turns leaf `node` (holding point `q` and possibly coincident ones) into four children. */
  split(node: number, q: number): void {
    if (this.size + 4 > this.mass.length) this.grow();
    const first = this.size;
    this.size += 4;
    const half = this.side[node] / 2;
    for (let c = 0; c < 4; c++) {
      const e = first + c;
      this.centreX[e] = this.centreX[node] + ((c & 1) ? half / 2 : -half / 2);
      this.centreY[e] = this.centreY[node] + ((c & 2) ? half / 2 : -half / 2);
      this.side[e] = half;
    }
    this.firstChild[node] = first;
    // The whole leaf content (q and its coincident twins) moves down as one body.
    const target = first + this.quadrant(node, this.y[2 * q], this.y[2 * q + 1]);
    this.point[target] = q;
    this.mass[target] = this.mass[node];
    this.comX[target] = this.comX[node];
    this.comY[target] = this.comY[node];
    this.point[node] = -1;
  }

  quadrant(node: number, px: number, py: number): number {
    return (px >= this.centreX[node] ? 1 : 0) + (py >= this.centreY[node] ? 2 : 0);
  }

  addMass(node: number, px: number, py: number, m: number): void {
    this.mass[node] += m;
    this.comX[node] += m * px;
    this.comY[node] += m * py;
  }

  grow(): void {
    const capacity = this.mass.length * 2;
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(capacity);
      b.set(a);
      return b;
    };
    const i32 = (a: Int32Array) => {
      const b = new Int32Array(capacity).fill(-1);
      b.set(a);
      return b;
    };
    this.centreX = f64(this.centreX);
    this.centreY = f64(this.centreY);
    this.side = f64(this.side);
    this.mass = f64(this.mass);
    this.comX = f64(this.comX);
    this.comY = f64(this.comY);
    this.firstChild = i32(this.firstChild);
    this.point = i32(this.point);
  }
}

/**
 * Neighbourhood preservation of an embedding: the mean over points of the share of each point's
 * `k` nearest neighbours in feature space (Euclidean, `features` `[n, d]`) that are also among its
 * `k` nearest in the embedding (`[n, embeddingDim]`). 1 means every neighbourhood is kept;
 * a random layout scores about k/(n−1).
 */
export function neighbourPreservation(
  features: Float32Array,
  n: number,
  d: number,
  embedding: Float32Array,
  embeddingDim = 2,
  k = 10,
): number {
  checkMatrix(features, n, d, "neighbourPreservation features");
  checkMatrix(embedding, n, embeddingDim, "neighbourPreservation embedding");
  if (!Number.isInteger(k) || k < 1 || k >= n) {
    throw new Error(`neighbourPreservation: k must be an integer in [1, ${n - 1}], got ${k}`);
  }
  const high = exactNearestNeighbours(features, n, d, k).indices;
  const low = exactNearestNeighbours(embedding, n, embeddingDim, k).indices;
  const mark = new Int32Array(n).fill(-1);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) mark[high[i * k + t]] = i;
    for (let t = 0; t < k; t++) if (mark[low[i * k + t]] === i) kept++;
  }
  return kept / (n * k);
}
