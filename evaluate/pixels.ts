/**
 * The raw-pixel baseline: images as features, normalised per channel like the encoder's input.
 *
 * @module
 */

/**
 * Raw pixels, normalised per channel like the encoder's input: the no-learning floor. `images`
 * holds `n` (or more) HWC uint8 images of 32×32×3; `mean` and `std` are per channel in [0, 1]
 * units (the data package's `CIFAR10_MEAN` and `CIFAR10_STD`). Returns `[n, 3072]`.
 */
export function pixelFeatures(
  images: Uint8Array,
  n: number,
  mean: readonly number[],
  std: readonly number[],
): Float32Array {
  const out = new Float32Array(n * 3072);
  for (let i = 0; i < n * 3072; i++) {
    const c = i % 3;
    out[i] = (images[i] / 255 - mean[c]) / std[c];
  }
  return out;
}
