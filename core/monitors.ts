/**
 * Collapse monitors on host features (plain arrays), after Wang & Isola (2020): per-dimension
 * standard deviation of L2-normalised features (→ 0 under collapse; ≈ 1/√d when features spread
 * over the sphere), alignment of positive pairs and uniformity of the whole set.
 *
 * @module
 */

/** L2-normalised copy of `n` rows of width `d`. */
export function normalizeRows(x: Float32Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[i * d + j] ** 2;
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let j = 0; j < d; j++) out[i * d + j] = x[i * d + j] * inv;
  }
  return out;
}

/** Mean over dimensions of the per-dimension std of the L2-normalised rows. */
export function featureStd(x: Float32Array, n: number, d: number): number {
  const u = normalizeRows(x, n, d);
  let total = 0;
  for (let j = 0; j < d; j++) {
    let s = 0, s2 = 0;
    for (let i = 0; i < n; i++) {
      const v = u[i * d + j];
      s += v;
      s2 += v * v;
    }
    const mean = s / n;
    total += Math.sqrt(Math.max(0, s2 / n - mean * mean));
  }
  return total / d;
}

/** Alignment: mean ‖u − v‖² over positive pairs (rows i of `a` and `b`), normalised rows. */
export function alignment(a: Float32Array, b: Float32Array, n: number, d: number): number {
  const u = normalizeRows(a, n, d), v = normalizeRows(b, n, d);
  let total = 0;
  for (let i = 0; i < n * d; i++) total += (u[i] - v[i]) ** 2;
  return total / n;
}

/** Uniformity: log of the mean of exp(−2‖uᵢ − uⱼ‖²) over pairs i < j, normalised rows. */
export function uniformity(x: Float32Array, n: number, d: number): number {
  const u = normalizeRows(x, n, d);
  let total = 0, pairs = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let dist = 0;
      for (let k = 0; k < d; k++) dist += (u[i * d + k] - u[j * d + k]) ** 2;
      total += Math.exp(-2 * dist);
      pairs++;
    }
  }
  return Math.log(total / Math.max(pairs, 1));
}

/**
 * Collapse thresholds. Healthy features spread over the sphere have a per-dimension std near
 * 1/√d; below a fifth of that, the batch occupies a sliver of it. Uniformity near 0 means
 * exp(−2‖uᵢ − uⱼ‖²) ≈ 1 for the typical pair: every image maps to nearly the same point
 * (−0.1 means a mean squared pairwise distance of about 0.05, against ≈ 2 for spread features).
 */
export const COLLAPSE_THRESHOLDS = { stdFractionOfHealthy: 0.2, uniformityAbove: -0.1 } as const;

/** Why the monitors look collapsed (empty when they do not), for a `d`-dimensional feature. */
export function collapseSigns(m: { featureStd: number; uniformity: number }, d: number): string[] {
  const signs: string[] = [];
  const stdFloor = COLLAPSE_THRESHOLDS.stdFractionOfHealthy / Math.sqrt(d);
  if (!(m.featureStd >= stdFloor)) {
    signs.push(`feature std ${m.featureStd.toPrecision(3)} < ${stdFloor.toPrecision(3)} (0.2/√d)`);
  }
  if (!(m.uniformity <= COLLAPSE_THRESHOLDS.uniformityAbove)) {
    signs.push(
      `uniformity ${m.uniformity.toFixed(3)} > ${COLLAPSE_THRESHOLDS.uniformityAbove}`,
    );
  }
  return signs;
}
