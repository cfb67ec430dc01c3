/**
 * Synthetic data for this package's tests: Gaussian blobs and random rotations. Not exported from
 * `mod.ts`.
 *
 * @module
 */

import { Rng } from "@simclr/core";

/** Labelled points drawn around separated centres. */
export interface Blobs {
  /** Row-major `[n, d]` points. */
  readonly x: Float32Array;
  /** Blob of every point. */
  readonly labels: Int32Array;
  /** Number of points. */
  readonly n: number;
  /** Dimension. */
  readonly d: number;
}

/**
 * `perBlob` points around each of `centres` random centres with coordinates N(0, spread²), noise
 * N(0, noise²) per coordinate; points are interleaved (point i belongs to blob i mod blobs).
 */
export function gaussianBlobs(
  blobs: number,
  perBlob: number,
  d: number,
  spread: number,
  noise: number,
  seed: number,
): Blobs {
  const rng = new Rng(seed);
  const centres = Float64Array.from({ length: blobs * d }, () => spread * rng.normal());
  const n = blobs * perBlob;
  const x = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const b = i % blobs;
    labels[i] = b;
    for (let j = 0; j < d; j++) x[i * d + j] = centres[b * d + j] + noise * rng.normal();
  }
  return { x, labels, n, d };
}

/** A random `d × d` rotation (row-major; rows orthonormal), by Gram–Schmidt on Gaussian rows. */
export function randomRotation(d: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const r = Float64Array.from({ length: d * d }, () => rng.normal());
  for (let i = 0; i < d; i++) {
    for (let p = 0; p < i; p++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += r[i * d + k] * r[p * d + k];
      for (let k = 0; k < d; k++) r[i * d + k] -= dot * r[p * d + k];
    }
    let norm = 0;
    for (let k = 0; k < d; k++) norm += r[i * d + k] ** 2;
    for (let k = 0; k < d; k++) r[i * d + k] /= Math.sqrt(norm);
  }
  return r;
}

/** Uniform random labels in `[0, classes)`. */
export function randomLabels(n: number, classes: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => rng.int(classes));
}
