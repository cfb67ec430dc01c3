/**
 * Frozen-encoder features of a set of images, in batches, batch norm in evaluation mode.
 *
 * @module
 */
import type { SimclrModel } from "./models.ts";

/** Options of {@linkcode encodeImages}. */
export interface EncodeOptions {
  /** Per-channel mean of the [0,1] pixels, subtracted before the encoder. */
  mean: readonly [number, number, number];
  /** Per-channel std, divided by after the mean. */
  std: readonly [number, number, number];
  /** Images a forward pass (default 256). */
  batchSize?: number;
  /** Which images (positions into `images`); default all. */
  indices?: ArrayLike<number>;
  /** Called after every batch with images done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Encoder features `[n, featureDim]` of NHWC uint8 32×32×3 images, normalised as in training.
 * No augmentation; batch norm uses its running statistics.
 */
export async function encodeImages(
  model: SimclrModel,
  images: Uint8Array,
  opts: EncodeOptions,
): Promise<Float32Array> {
  const g = model.params()[0].value.graph;
  const pixels = 32 * 32 * 3;
  const total = opts.indices ? opts.indices.length : images.length / pixels;
  const batch = opts.batchSize ?? 256;
  const d = model.featureDim;
  const out = new Float32Array(total * d);
  const inv = opts.std.map((s) => 1 / (255 * s));
  const shift = opts.mean.map((m, c) => m / opts.std[c]);
  for (let start = 0; start < total; start += batch) {
    const n = Math.min(batch, total - start);
    const x = new Float32Array(n * pixels);
    for (let i = 0; i < n; i++) {
      const src = (opts.indices ? opts.indices[start + i] : start + i) * pixels;
      for (let j = 0; j < pixels; j++) {
        const c = j % 3;
        x[i * pixels + j] = images[src + j] * inv[c] - shift[c];
      }
    }
    const features = await g.tidy(async () =>
      await g.noGrad(() => model.features(g.constant(x, [n, 32, 32, 3]), false)).read()
    );
    out.set(features, start * d);
    opts.onProgress?.(start + n, total);
  }
  return out;
}
