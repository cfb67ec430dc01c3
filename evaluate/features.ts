/**
 * Host-side helpers for feature matrices: input checks, row gathering, L2 normalisation,
 * standardisation fitted on a training set, class-balanced subsets and train/validation splits.
 *
 * A feature matrix is a row-major `Float32Array` of `n` rows and `d` columns, with `n` and `d`
 * passed explicitly; labels are any array-like of non-negative integers (`Int32Array`,
 * `Uint8Array`, …).
 *
 * @module
 */

import type { Rng } from "@simclr/core";

/** Class labels: non-negative integers, one per row. */
export type Labels = ArrayLike<number>;

/**
 * Checks that `x` holds exactly `n·d` values with `n ≥ 1`, `d ≥ 1` integers.
 * Throws an error naming `what` (the caller and argument) otherwise.
 */
export function checkMatrix(x: Float32Array, n: number, d: number, what: string): void {
  if (!(x instanceof Float32Array)) {
    throw new Error(`${what}: expected a Float32Array, got ${Object.prototype.toString.call(x)}`);
  }
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(d) || d < 1) {
    throw new Error(`${what}: expected positive integer rows and columns, got n=${n}, d=${d}`);
  }
  if (x.length !== n * d) {
    throw new Error(`${what}: expected n·d = ${n}·${d} = ${n * d} values, got ${x.length}`);
  }
}

/**
 * Checks that `labels` has `n` entries, all integers in `[0, 2³¹)`, and returns the number of
 * classes implied by them (largest label + 1). Throws naming `what` otherwise.
 */
export function checkLabels(labels: Labels, n: number, what: string): number {
  if (labels.length !== n) {
    throw new Error(`${what}: expected ${n} labels, got ${labels.length}`);
  }
  let max = -1;
  for (let i = 0; i < n; i++) {
    const v = labels[i];
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
      throw new Error(`${what}: label ${i} is ${v}; expected a non-negative integer`);
    }
    if (v > max) max = v;
  }
  return max + 1;
}

/** Number of classes implied by `labels` (largest label + 1; 0 when empty). */
export function numClassesOf(labels: Labels): number {
  let max = -1;
  for (let i = 0; i < labels.length; i++) if (labels[i] > max) max = labels[i];
  return max + 1;
}

/**
 * Copies the rows `indices` of `x` (row-major, `d` columns) into a new `[indices.length, d]`
 * matrix.
 */
export function gatherRows(x: Float32Array, d: number, indices: ArrayLike<number>): Float32Array {
  const n = x.length / d;
  const out = new Float32Array(indices.length * d);
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r];
    if (!Number.isInteger(i) || i < 0 || i >= n) {
      throw new Error(`gatherRows: index ${i} at position ${r} is outside [0, ${n})`);
    }
    out.set(x.subarray(i * d, i * d + d), r * d);
  }
  return out;
}

/** Copies the entries `indices` of `labels` into a new `Int32Array`. */
export function gatherLabels(labels: Labels, indices: ArrayLike<number>): Int32Array {
  const out = new Int32Array(indices.length);
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r];
    if (!Number.isInteger(i) || i < 0 || i >= labels.length) {
      throw new Error(`gatherLabels: index ${i} at position ${r} is outside [0, ${labels.length})`);
    }
    out[r] = labels[i];
  }
  return out;
}

/**
 * Returns a copy of `x` with every row scaled to unit Euclidean length. All-zero rows stay zero
 * (there is no direction to keep), rather than becoming NaN.
 */
export function l2Normalize(x: Float32Array, n: number, d: number): Float32Array {
  checkMatrix(x, n, d, "l2Normalize features");
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let s = 0;
    for (let k = 0; k < d; k++) s += x[o + k] * x[o + k];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let k = 0; k < d; k++) out[o + k] = x[o + k] * inv;
  }
  return out;
}

/** Per-feature mean and standard deviation, fitted on training features. */
export interface Standardizer {
  /** Feature count. */
  readonly dim: number;
  /** Per-feature mean, length `dim`. */
  readonly mean: Float64Array;
  /**
   * Per-feature standard deviation (population, divisor n), length `dim`. Constant features get
   * 1 so that applying the standardiser maps them to 0 instead of dividing by zero.
   */
  readonly std: Float64Array;
}

/**
 * Fits per-feature mean and standard deviation on `x` (`[n, d]`). Fit on the training split only
 * and apply the same standardiser to validation and test features, so no test statistics leak in.
 * Uses a two-pass computation in float64 for accuracy.
 */
export function fitStandardizer(x: Float32Array, n: number, d: number): Standardizer {
  checkMatrix(x, n, d, "fitStandardizer features");
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let k = 0; k < d; k++) mean[k] += x[o + k];
  }
  for (let k = 0; k < d; k++) mean[k] /= n;
  const variance = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let k = 0; k < d; k++) {
      const c = x[o + k] - mean[k];
      variance[k] += c * c;
    }
  }
  const std = new Float64Array(d);
  for (let k = 0; k < d; k++) {
    const s = Math.sqrt(variance[k] / n);
    // A feature is treated as constant when its spread is negligible against its magnitude.
    std[k] = s > 1e-12 * Math.max(1, Math.abs(mean[k])) ? s : 1;
  }
  return { dim: d, mean, std };
}

/** Returns `(x − mean) / std` row by row, as a new `[n, d]` matrix. */
export function applyStandardizer(
  standardizer: Standardizer,
  x: Float32Array,
  n: number,
): Float32Array {
  const d = standardizer.dim;
  checkMatrix(x, n, d, "applyStandardizer features");
  const out = new Float32Array(x.length);
  const { mean, std } = standardizer;
  for (let i = 0; i < n; i++) {
    const o = i * d;
    for (let k = 0; k < d; k++) out[o + k] = (x[o + k] - mean[k]) / std[k];
  }
  return out;
}

/**
 * Picks up to `perClass` random indices of every class (drawn with `rng`, without replacement)
 * and returns them in ascending order. A class with fewer members contributes all of them.
 * Used to subsample e.g. 500 images per class for a t-SNE picture.
 */
export function classBalancedSubset(labels: Labels, perClass: number, rng: Rng): Int32Array {
  if (!Number.isInteger(perClass) || perClass < 1) {
    throw new Error(`classBalancedSubset: perClass must be a positive integer, got ${perClass}`);
  }
  const numClasses = checkLabels(labels, labels.length, "classBalancedSubset labels");
  const byClass = groupByClass(labels, numClasses);
  const picked: number[] = [];
  for (const members of byClass) {
    rng.shuffle(members);
    for (let r = 0; r < Math.min(perClass, members.length); r++) picked.push(members[r]);
  }
  return Int32Array.from(picked).sort();
}

/** Index sets of a train/validation split. */
export interface Split {
  /** Training indices, ascending. */
  readonly train: Int32Array;
  /** Validation indices, ascending. */
  readonly validation: Int32Array;
}

/**
 * Splits `0..n−1` into training and validation indices with `validationFraction` of the rows
 * (rounded) held out. When `labels` is given, the split is stratified: each class gives the same
 * rounded fraction, so class proportions match in both parts.
 */
export function trainValidationSplit(
  n: number,
  validationFraction: number,
  rng: Rng,
  labels?: Labels,
): Split {
  if (!Number.isInteger(n) || n < 2) {
    throw new Error(`trainValidationSplit: need an integer n ≥ 2, got ${n}`);
  }
  if (!(validationFraction > 0 && validationFraction < 1)) {
    throw new Error(
      `trainValidationSplit: validationFraction must be in (0, 1), got ${validationFraction}`,
    );
  }
  const groups = labels === undefined
    ? [Array.from({ length: n }, (_, i) => i)]
    : groupByClass(labels, checkLabels(labels, n, "trainValidationSplit labels"));
  const train: number[] = [];
  const validation: number[] = [];
  for (const members of groups) {
    rng.shuffle(members);
    const held = Math.round(members.length * validationFraction);
    for (let r = 0; r < members.length; r++) (r < held ? validation : train).push(members[r]);
  }
  if (train.length === 0 || validation.length === 0) {
    throw new Error(
      `trainValidationSplit: fraction ${validationFraction} of ${n} rows leaves an empty part`,
    );
  }
  return { train: Int32Array.from(train).sort(), validation: Int32Array.from(validation).sort() };
}

function groupByClass(labels: Labels, numClasses: number): number[][] {
  const groups: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) groups[labels[i]].push(i);
  return groups;
}
