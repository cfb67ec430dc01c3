/**
 * Host-side SimCLR augmentations with torchvision semantics, on one HWC float image (values in
 * [0, 1]) at a time, driven by a seeded {@linkcode Rng}:
 *
 * RandomResizedCrop(32, scale (0.08, 1), ratio (3/4, 4/3), bilinear) → RandomHorizontalFlip(0.5)
 * → RandomApply(ColorJitter(0.4, 0.4, 0.4, 0.1), p = 0.8) → RandomGrayscale(0.2) → Normalize.
 *
 * Colour ops work in place on any number of pixels; every op clamps to [0, 1] as torchvision's
 * float-tensor path does. Randomness is drawn in the same order as torchvision draws it (crop
 * attempts, flip, jitter apply, jitter order then factors, grayscale), but from our own generator,
 * so results match torchvision's distribution, not its exact samples.
 *
 * @module
 */

import { Rng } from "@simclr/core";

/** Side of the images this module augments by default (CIFAR-10). */
export const AUGMENT_IMAGE_SIZE = 32;
const IMAGE_FLOATS = AUGMENT_IMAGE_SIZE * AUGMENT_IMAGE_SIZE * 3;

/** CIFAR-10 train per-channel mean (R, G, B) on the [0, 1] scale: (125.27, 122.93, 113.86) / 255. */
export const CIFAR10_MEAN: readonly [number, number, number] = [
  125.27 / 255,
  122.93 / 255,
  113.86 / 255,
];
/** CIFAR-10 train per-channel standard deviation on the [0, 1] scale: (62.57, 61.92, 66.48) / 255. */
export const CIFAR10_STD: readonly [number, number, number] = [
  62.57 / 255,
  61.92 / 255,
  66.48 / 255,
];

/** ITU-R 601 luma weights used for grayscale, as in torchvision/PIL. */
export const GRAY_WEIGHTS: readonly [number, number, number] = [0.299, 0.587, 0.114];

/** Settings of the SimCLR augmentation pipeline. */
export interface AugmentConfig {
  /** RandomResizedCrop area fraction range; default [0.08, 1]. */
  readonly cropScale: readonly [number, number];
  /** RandomResizedCrop aspect-ratio (width / height) range; default [3/4, 4/3]. */
  readonly cropRatio: readonly [number, number];
  /** Probability of a horizontal flip; default 0.5. */
  readonly flipProb: number;
  /** Probability that colour jitter is applied at all; default 0.8. */
  readonly jitterProb: number;
  /** Brightness strength b: factor uniform in [max(0, 1 − b), 1 + b]; default 0.4. */
  readonly brightness: number;
  /** Contrast strength, same factor rule as brightness; default 0.4. */
  readonly contrast: number;
  /** Saturation strength, same factor rule as brightness; default 0.4. */
  readonly saturation: number;
  /** Hue strength h in [0, 0.5]: shift uniform in [−h, h] of a full turn; default 0.1. */
  readonly hue: number;
  /** Probability of converting to grayscale; default 0.2. */
  readonly grayscaleProb: number;
  /** Normalise with {@linkcode CIFAR10_MEAN}/{@linkcode CIFAR10_STD} at the end; default true. */
  readonly normalize: boolean;
}

/** The SimCLR CIFAR-10 defaults (Chen et al. 2020, torchvision names). */
export const DEFAULT_AUGMENT_CONFIG: AugmentConfig = Object.freeze({
  cropScale: [0.08, 1] as const,
  cropRatio: [3 / 4, 4 / 3] as const,
  flipProb: 0.5,
  jitterProb: 0.8,
  brightness: 0.4,
  contrast: 0.4,
  saturation: 0.4,
  hue: 0.1,
  grayscaleProb: 0.2,
  normalize: true,
});

/** Configs already checked, so hot loops can skip re-validation. */
const resolvedConfigs = new WeakSet<object>([DEFAULT_AUGMENT_CONFIG]);

/** Fills in defaults and checks ranges; throws a RangeError naming the bad setting. */
export function resolveAugmentConfig(config: Partial<AugmentConfig> = {}): AugmentConfig {
  if (resolvedConfigs.has(config)) return config as AugmentConfig;
  const c: AugmentConfig = { ...DEFAULT_AUGMENT_CONFIG, ...config };
  const bad = (name: string, v: unknown, want: string) => {
    throw new RangeError(`augment config: ${name} = ${JSON.stringify(v)}, expected ${want}`);
  };
  const [s0, s1] = c.cropScale;
  if (!(s0 > 0 && s0 <= s1 && s1 <= 1)) bad("cropScale", c.cropScale, "0 < min <= max <= 1");
  const [r0, r1] = c.cropRatio;
  if (!(r0 > 0 && r0 <= r1 && Number.isFinite(r1))) bad("cropRatio", c.cropRatio, "0 < min <= max");
  for (const k of ["flipProb", "jitterProb", "grayscaleProb"] as const) {
    if (!(c[k] >= 0 && c[k] <= 1)) bad(k, c[k], "a probability in [0, 1]");
  }
  for (const k of ["brightness", "contrast", "saturation"] as const) {
    if (!(c[k] >= 0 && Number.isFinite(c[k]))) bad(k, c[k], "a finite strength >= 0");
  }
  if (!(c.hue >= 0 && c.hue <= 0.5)) bad("hue", c.hue, "a strength in [0, 0.5]");
  if (typeof c.normalize !== "boolean") bad("normalize", c.normalize, "true or false");
  Object.freeze(c);
  resolvedConfigs.add(c);
  return c;
}

/** A crop rectangle in pixels: rows `top … top+height−1`, columns `left … left+width−1`. */
export interface CropBox {
  /** First row. */
  top: number;
  /** First column. */
  left: number;
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
}

/** Python's `round`: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/**
 * torchvision `RandomResizedCrop.get_params`: up to 10 attempts drawing an area fraction uniform in
 * `scale` and a log-uniform aspect ratio in `ratio`; the first box that fits is placed uniformly.
 * If none fits, the centre crop of the whole image, clamped to the ratio bounds.
 */
export function sampleCropBox(
  rng: Rng,
  height: number,
  width: number,
  scale: readonly [number, number] = DEFAULT_AUGMENT_CONFIG.cropScale,
  ratio: readonly [number, number] = DEFAULT_AUGMENT_CONFIG.cropRatio,
): CropBox {
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.range(scale[0], scale[1]);
    const aspect = Math.exp(rng.range(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) {
    h = roundHalfEven(w / ratio[0]);
  } else if (inRatio > ratio[1]) {
    w = roundHalfEven(h * ratio[1]);
  }
  return {
    top: Math.floor((height - h) / 2),
    left: Math.floor((width - w) / 2),
    height: h,
    width: w,
  };
}

/** Source index and weight table for one axis of a bilinear resize (align_corners = False). */
function axisTable(inSize: number, outSize: number, offset: number) {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const frac = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    // PyTorch's area_pixel_compute_source_index for linear modes: negative sources clamp to 0.
    const src = Math.max(0, scale * (o + 0.5) - 0.5);
    const lo = Math.min(Math.floor(src), inSize - 1);
    i0[o] = offset + lo;
    i1[o] = offset + Math.min(lo + 1, inSize - 1);
    frac[o] = src - lo;
  }
  return { i0, i1, frac };
}

/**
 * Crops `box` out of `src` (HWC, `srcWidth` columns, 3 channels) and resizes it to
 * `outHeight × outWidth` into `dst` with bilinear interpolation, align_corners = False and no
 * antialiasing (PyTorch `interpolate(mode="bilinear")`). `src` and `dst` must not overlap.
 */
export function resizedCrop(
  src: Float32Array,
  srcWidth: number,
  box: CropBox,
  dst: Float32Array,
  outHeight: number = AUGMENT_IMAGE_SIZE,
  outWidth: number = AUGMENT_IMAGE_SIZE,
): void {
  const srcHeight = src.length / (3 * srcWidth);
  if (
    box.top < 0 || box.left < 0 || box.height < 1 || box.width < 1 ||
    box.top + box.height > srcHeight || box.left + box.width > srcWidth
  ) {
    throw new RangeError(
      `resizedCrop: box ${JSON.stringify(box)} outside ${srcHeight}x${srcWidth}`,
    );
  }
  if (dst.length !== outHeight * outWidth * 3) {
    throw new RangeError(
      `resizedCrop: dst holds ${dst.length} floats, expected ${outHeight * outWidth * 3}`,
    );
  }
  const ys = axisTable(box.height, outHeight, box.top);
  const xs = axisTable(box.width, outWidth, box.left);
  let o = 0;
  for (let y = 0; y < outHeight; y++) {
    const row0 = ys.i0[y] * srcWidth;
    const row1 = ys.i1[y] * srcWidth;
    const fy = ys.frac[y];
    for (let x = 0; x < outWidth; x++) {
      const fx = xs.frac[x];
      const a = (row0 + xs.i0[x]) * 3;
      const b = (row0 + xs.i1[x]) * 3;
      const c = (row1 + xs.i0[x]) * 3;
      const d = (row1 + xs.i1[x]) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const top = (1 - fx) * src[a + ch] + fx * src[b + ch];
        const bottom = (1 - fx) * src[c + ch] + fx * src[d + ch];
        dst[o++] = (1 - fy) * top + fy * bottom;
      }
    }
  }
}

/**
 * RandomResizedCrop: samples a box with {@linkcode sampleCropBox} on the `srcWidth`-wide square-or-not
 * `src` and writes the resized crop (`AUGMENT_IMAGE_SIZE` square unless told) into `dst`.
 * Returns the box.
 */
export function randomResizedCrop(
  src: Float32Array,
  dst: Float32Array,
  rng: Rng,
  scale: readonly [number, number] = DEFAULT_AUGMENT_CONFIG.cropScale,
  ratio: readonly [number, number] = DEFAULT_AUGMENT_CONFIG.cropRatio,
  srcWidth: number = AUGMENT_IMAGE_SIZE,
  outSize: number = AUGMENT_IMAGE_SIZE,
): CropBox {
  const box = sampleCropBox(rng, src.length / (3 * srcWidth), srcWidth, scale, ratio);
  resizedCrop(src, srcWidth, box, dst, outSize, outSize);
  return box;
}

/** Mirrors an HWC image left–right in place. */
export function flipHorizontal(image: Float32Array, width: number = AUGMENT_IMAGE_SIZE): void {
  const height = image.length / (3 * width);
  for (let y = 0; y < height; y++) {
    let l = y * width * 3;
    let r = l + (width - 1) * 3;
    while (l < r) {
      for (let c = 0; c < 3; c++) {
        const t = image[l + c];
        image[l + c] = image[r + c];
        image[r + c] = t;
      }
      l += 3;
      r -= 3;
    }
  }
}

/** RandomHorizontalFlip: flips in place when a uniform draw is below `p`; returns whether it did. */
export function randomFlip(
  image: Float32Array,
  rng: Rng,
  p: number = DEFAULT_AUGMENT_CONFIG.flipProb,
  width: number = AUGMENT_IMAGE_SIZE,
): boolean {
  const flip = rng.uniform() < p;
  if (flip) flipHorizontal(image, width);
  return flip;
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Brightness: blend with black, `v ← clamp(factor · v)`, in place. */
export function adjustBrightness(image: Float32Array, factor: number): void {
  for (let i = 0; i < image.length; i++) image[i] = clamp01(factor * image[i]);
}

/** Contrast: blend with the mean of the grayscale image, `v ← clamp(f·v + (1−f)·mean)`, in place. */
export function adjustContrast(image: Float32Array, factor: number): void {
  let sum = 0;
  for (let i = 0; i < image.length; i += 3) {
    sum += GRAY_WEIGHTS[0] * image[i] + GRAY_WEIGHTS[1] * image[i + 1] +
      GRAY_WEIGHTS[2] * image[i + 2];
  }
  const mean = sum / (image.length / 3);
  const offset = (1 - factor) * mean;
  for (let i = 0; i < image.length; i++) image[i] = clamp01(factor * image[i] + offset);
}

/** Saturation: blend each pixel with its own gray value, `v ← clamp(f·v + (1−f)·gray)`, in place. */
export function adjustSaturation(image: Float32Array, factor: number): void {
  for (let i = 0; i < image.length; i += 3) {
    const r = image[i];
    const g = image[i + 1];
    const b = image[i + 2];
    const gray = (1 - factor) * (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b);
    image[i] = clamp01(factor * r + gray);
    image[i + 1] = clamp01(factor * g + gray);
    image[i + 2] = clamp01(factor * b + gray);
  }
}

/**
 * Hue: converts each pixel to HSV, adds `hueFactor` (a fraction of a full turn, in [−0.5, 0.5])
 * to the hue modulo 1, and converts back, in place — torchvision's `_rgb2hsv`/`_hsv2rgb`.
 */
export function adjustHue(image: Float32Array, hueFactor: number): void {
  if (!(hueFactor >= -0.5 && hueFactor <= 0.5)) {
    throw new RangeError(`adjustHue: hueFactor ${hueFactor} is not in [-0.5, 0.5]`);
  }
  for (let i = 0; i < image.length; i += 3) {
    const r = image[i];
    const g = image[i + 1];
    const b = image[i + 2];
    // Ternaries and explicit wrap-arounds instead of Math.max/min and float `%`: this loop is the
    // most expensive op of the pipeline and those are several times slower in V8.
    const maxc = r > g ? (r > b ? r : b) : (g > b ? g : b);
    const minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
    const cr = maxc - minc;
    const eq = cr === 0;
    const s = cr / (eq ? 1 : maxc);
    const div = eq ? 1 : cr;
    const rc = (maxc - r) / div;
    const gc = (maxc - g) / div;
    const bc = (maxc - b) / div;
    let h: number;
    if (maxc === r) h = bc - gc;
    else if (maxc === g) h = 2 + rc - bc;
    else h = 4 + gc - rc;
    // torchvision: h = fmod(h / 6 + 1, 1), then (h + hueFactor) mod 1 (non-negative).
    h = h / 6 + 1;
    if (h >= 1) h -= 1;
    h += hueFactor;
    if (h >= 1) h -= 1;
    else if (h < 0) h += 1;
    const v = maxc;
    const h6 = h * 6;
    let sector = Math.floor(h6);
    const f = h6 - sector;
    if (sector >= 6) sector -= 6; // h just below 1 can round up to 6
    const p = clamp01(v * (1 - s));
    const q = clamp01(v * (1 - s * f));
    const t = clamp01(v * (1 - s * (1 - f)));
    // The (r, g, b) table of torchvision's _hsv2rgb, one case per 60-degree sector.
    switch (sector) {
      case 0:
        image[i] = v, image[i + 1] = t, image[i + 2] = p;
        break;
      case 1:
        image[i] = q, image[i + 1] = v, image[i + 2] = p;
        break;
      case 2:
        image[i] = p, image[i + 1] = v, image[i + 2] = t;
        break;
      case 3:
        image[i] = p, image[i + 1] = q, image[i + 2] = v;
        break;
      case 4:
        image[i] = t, image[i + 1] = p, image[i + 2] = v;
        break;
      default:
        image[i] = v, image[i + 1] = p, image[i + 2] = q;
    }
  }
}

/** Replaces every pixel by its gray value `0.299 R + 0.587 G + 0.114 B` in all three channels. */
export function toGrayscale(image: Float32Array): void {
  for (let i = 0; i < image.length; i += 3) {
    const gray = GRAY_WEIGHTS[0] * image[i] + GRAY_WEIGHTS[1] * image[i + 1] +
      GRAY_WEIGHTS[2] * image[i + 2];
    image[i] = gray;
    image[i + 1] = gray;
    image[i + 2] = gray;
  }
}

/** RandomGrayscale: converts in place when a uniform draw is below `p`; returns whether it did. */
export function randomGrayscale(
  image: Float32Array,
  rng: Rng,
  p: number = DEFAULT_AUGMENT_CONFIG.grayscaleProb,
): boolean {
  const gray = rng.uniform() < p;
  if (gray) toGrayscale(image);
  return gray;
}

/** Jitter strengths of {@linkcode colorJitter}. */
export type JitterStrengths = Pick<AugmentConfig, "brightness" | "contrast" | "saturation" | "hue">;

/** The random choices of one {@linkcode colorJitter} call. */
export interface JitterParams {
  /** Op order: 0 brightness, 1 contrast, 2 saturation, 3 hue. */
  order: Int32Array;
  /** Brightness factor (1 when the strength is 0). */
  brightness: number;
  /** Contrast factor (1 when the strength is 0). */
  contrast: number;
  /** Saturation factor (1 when the strength is 0). */
  saturation: number;
  /** Hue shift (0 when the strength is 0). */
  hue: number;
}

/**
 * torchvision `ColorJitter.get_params`: a random order of the four ops, then each factor uniform in
 * its range; a strength of 0 draws nothing and leaves that op out, as torchvision does.
 */
export function sampleJitterParams(rng: Rng, strengths: JitterStrengths): JitterParams {
  const order = rng.permutation(4);
  const factor = (s: number) => (s > 0 ? rng.range(Math.max(0, 1 - s), 1 + s) : 1);
  const brightness = factor(strengths.brightness);
  const contrast = factor(strengths.contrast);
  const saturation = factor(strengths.saturation);
  const hue = strengths.hue > 0 ? rng.range(-strengths.hue, strengths.hue) : 0;
  return { order, brightness, contrast, saturation, hue };
}

/** Applies sampled jitter params in their order, in place; ops with a zero strength are skipped. */
export function applyJitter(
  image: Float32Array,
  params: JitterParams,
  strengths: JitterStrengths,
): void {
  for (const op of params.order) {
    if (op === 0 && strengths.brightness > 0) adjustBrightness(image, params.brightness);
    else if (op === 1 && strengths.contrast > 0) adjustContrast(image, params.contrast);
    else if (op === 2 && strengths.saturation > 0) adjustSaturation(image, params.saturation);
    else if (op === 3 && strengths.hue > 0) adjustHue(image, params.hue);
  }
}

/** ColorJitter with random op order (torchvision), in place; returns the params used. */
export function colorJitter(
  image: Float32Array,
  rng: Rng,
  strengths: JitterStrengths,
): JitterParams {
  const params = sampleJitterParams(rng, strengths);
  applyJitter(image, params, strengths);
  return params;
}

/** Per-channel normalisation `(v − mean[c]) / std[c]` of an HWC image, in place. */
export function normalize(
  image: Float32Array,
  mean: readonly [number, number, number] = CIFAR10_MEAN,
  std: readonly [number, number, number] = CIFAR10_STD,
): void {
  const inv = [1 / std[0], 1 / std[1], 1 / std[2]];
  for (let i = 0; i < image.length; i += 3) {
    for (let c = 0; c < 3; c++) image[i + c] = (image[i + c] - mean[c]) * inv[c];
  }
}

/**
 * One SimCLR view of a 32×32×3 HWC image in [0, 1]: random resized crop → flip → colour jitter
 * (with probability `jitterProb`) → grayscale (with probability `grayscaleProb`) → normalise
 * (unless `normalize: false`). Writes into `dst` (same size, not overlapping `src`).
 * A config from {@linkcode resolveAugmentConfig} is used as is; a partial one is checked each call.
 */
export function simclrAugment(
  src: Float32Array,
  dst: Float32Array,
  rng: Rng,
  config: Partial<AugmentConfig> = DEFAULT_AUGMENT_CONFIG,
): void {
  const c = resolveAugmentConfig(config);
  if (src.length !== IMAGE_FLOATS || dst.length !== IMAGE_FLOATS) {
    throw new RangeError(
      `simclrAugment: src/dst hold ${src.length}/${dst.length} floats, expected ${IMAGE_FLOATS}`,
    );
  }
  randomResizedCrop(src, dst, rng, c.cropScale, c.cropRatio);
  randomFlip(dst, rng, c.flipProb);
  if (rng.uniform() < c.jitterProb) colorJitter(dst, rng, c);
  randomGrayscale(dst, rng, c.grayscaleProb);
  if (c.normalize) normalize(dst);
}

/** Folds a non-negative integer seed (up to 2^53) and a batch position into one 32-bit seed. */
export function imageSeed(seed: number, position: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  let h = Math.imul(lo ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(hi + 0x27d4eb2f, 0x85ebca6b);
  h ^= Math.imul(position + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Two augmented views of a batch, NHWC float32. */
export interface ViewPair {
  /** First views, `batch × 32 × 32 × 3`. */
  view1: Float32Array;
  /** Second views, same layout. */
  view2: Float32Array;
}

/**
 * Writes the views of batch positions `start … end−1` into `view1`/`view2` at offsets
 * `(position − outStart) × 3072`. Position `p` uses its own generator `new Rng(imageSeed(seed, p))`,
 * first for view 1 then view 2, so any split of a batch (across workers) gives the same result.
 * `images` is NHWC uint8 (as loaded by `loadCifar10`); `config` must be resolved.
 */
export function augmentRange(
  images: Uint8Array,
  indices: Int32Array,
  seed: number,
  start: number,
  end: number,
  config: AugmentConfig,
  view1: Float32Array,
  view2: Float32Array,
  outStart = start,
): void {
  const count = images.length / IMAGE_FLOATS;
  const src = new Float32Array(IMAGE_FLOATS);
  for (let p = start; p < end; p++) {
    const index = indices[p];
    if (!(index >= 0 && index < count)) {
      throw new RangeError(
        `augment: index ${index} at batch position ${p} is outside 0..${count - 1}`,
      );
    }
    const base = index * IMAGE_FLOATS;
    for (let i = 0; i < IMAGE_FLOATS; i++) src[i] = images[base + i] / 255;
    const rng = new Rng(imageSeed(seed, p));
    const o = (p - outStart) * IMAGE_FLOATS;
    simclrAugment(src, view1.subarray(o, o + IMAGE_FLOATS), rng, config);
    simclrAugment(src, view2.subarray(o, o + IMAGE_FLOATS), rng, config);
  }
}

/**
 * Two SimCLR views of each image `images[indices[p]]` (NHWC uint8, 32×32×3 each), normalised
 * NHWC float32, deterministic for a given `seed` (see {@linkcode augmentRange}).
 */
export function makeViews(
  images: Uint8Array,
  indices: Int32Array,
  seed: number,
  config: Partial<AugmentConfig> = {},
): ViewPair {
  if (images.length % IMAGE_FLOATS !== 0) {
    throw new RangeError(
      `makeViews: images hold ${images.length} bytes, not a multiple of ${IMAGE_FLOATS}`,
    );
  }
  const resolved = resolveAugmentConfig(config);
  const n = indices.length;
  const view1 = new Float32Array(n * IMAGE_FLOATS);
  const view2 = new Float32Array(n * IMAGE_FLOATS);
  augmentRange(images, indices, seed, 0, n, resolved, view1, view2);
  return { view1, view2 };
}
