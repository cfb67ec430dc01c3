/**
 * Finite-difference gradients for checking analytic ones.
 *
 * @module
 */

/**
 * The gradient of `f` at `x` by central differences:
 * `g[i] = (f(x + eps·e_i) − f(x − eps·e_i)) / (2·eps)`.
 *
 * `f` is called `2·x.length` times on a working copy of `x` with one entry moved; the caller's
 * `x` is never changed. The error is O(eps²) for smooth `f` (exact for linear `f`) plus the
 * noise of `f` divided by `eps`; the default `eps = 1e-3` suits objectives computed through
 * float32 kernels, where `f` carries ~1e-7 relative noise. Pick `eps` below the gap to the
 * nearest kink for piecewise functions such as relu or max.
 */
export function numericalGradient(
  f: (x: Float64Array) => number,
  x: Float64Array,
  eps = 1e-3,
): Float64Array {
  if (!(eps > 0) || !Number.isFinite(eps)) {
    throw new Error(`numericalGradient: eps must be a positive finite number, got ${eps}`);
  }
  const probe = x.slice();
  const gradient = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    probe[i] = x[i] + eps;
    const up = f(probe);
    probe[i] = x[i] - eps;
    const down = f(probe);
    probe[i] = x[i];
    gradient[i] = (up - down) / (2 * eps);
  }
  return gradient;
}
