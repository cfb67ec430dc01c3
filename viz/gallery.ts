/**
 * Augmentation gallery: each original image next to its two random views, embedded as PNG data
 * URIs and scaled up with nearest-neighbour sampling so the 32 × 32 pixels stay crisp.
 *
 * @module
 */
import type { AugmentationSample } from "./types.ts";
import { pngDataUri } from "./png.ts";
import {
  addLabel,
  type ChartOptions,
  createSvg,
  DEFAULT_WIDTH,
  FONT,
  MUTED_COLOR,
  truncateText,
} from "./svg.ts";
import { svgToString } from "./svg.ts";
import { requireNonEmpty } from "./validate.ts";

/** Options of {@link augmentationGallery}. */
export interface GalleryOptions extends ChartOptions {
  /** Class names to label each sample that has a `label`. */
  classNames?: string[];
  /** Samples side by side per row (default 2, fewer when the width does not allow). */
  columns?: number;
  /** Integer upscaling factor (default: the largest of 1..4 that fits the width). */
  scale?: number;
}

/** Side length of a square RGB image stored as `side × side × 3` bytes. */
export function imageSide(pixels: Uint8Array, field: string): number {
  if (!(pixels instanceof Uint8Array)) {
    throw new TypeError(`viz: ${field} must be a Uint8Array of RGB bytes`);
  }
  const side = Math.round(Math.sqrt(pixels.length / 3));
  if (side === 0 || side * side * 3 !== pixels.length) {
    throw new RangeError(
      `viz: ${field} must hold a square RGB image (side × side × 3 bytes, e.g. 3072 for 32×32), got ${pixels.length} bytes`,
    );
  }
  return side;
}

const GAP = 6;
const GROUP_GAP = 26;
const PAD = 14;

/**
 * Rows of "original | view 1 | view 2" triplets, each image an `<image>` with a PNG data URI,
 * drawn with `image-rendering` set to pixelated / optimizeSpeed for crisp upscaling.
 */
export function augmentationGallery(
  samples: AugmentationSample[],
  options: GalleryOptions = {},
): string {
  requireNonEmpty("gallery samples", samples);
  const side = imageSide(samples[0].original, "gallery[0].original");
  samples.forEach((s, i) => {
    for (const key of ["original", "view1", "view2"] as const) {
      if (imageSide(s[key], `gallery[${i}].${key}`) !== side) {
        throw new RangeError(`viz: gallery[${i}].${key} is not ${side}×${side} like gallery[0]`);
      }
    }
  });
  const width = options.width ?? DEFAULT_WIDTH;
  const fits = (columns: number, scale: number) =>
    2 * PAD + columns * (3 * side * scale + 2 * GAP) + (columns - 1) * GROUP_GAP <= width;
  let columns = Math.max(1, Math.min(options.columns ?? 2, samples.length));
  while (columns > 1 && !fits(columns, options.scale ?? 1)) columns--;
  let scale = options.scale ?? 4;
  if (options.scale === undefined) while (scale > 1 && !fits(columns, scale)) scale--;
  const size = side * scale;
  const groupWidth = 3 * size + 2 * GAP;
  const headerHeight = 18;
  const labelHeight = 18;
  const rowHeight = headerHeight + size + labelHeight + 10;
  const rows = Math.ceil(samples.length / columns);
  const top = 44;
  const height = top + rows * rowHeight + 6;
  const svg = createSvg(width, height, options.title ?? "SimCLR augmentations: original and two views");
  const totalWidth = columns * groupWidth + (columns - 1) * GROUP_GAP;
  const left = (width - totalWidth) / 2;
  samples.forEach((sample, i) => {
    const gx = left + (i % columns) * (groupWidth + GROUP_GAP);
    const gy = top + Math.floor(i / columns) * rowHeight;
    const group = svg.append("g").attr("class", "sample")
      .attr("transform", `translate(${gx},${gy})`);
    (["original", "view1", "view2"] as const).forEach((key, k) => {
      const ix = k * (size + GAP);
      addLabel(group, key === "original" ? "original" : key === "view1" ? "view 1" : "view 2", ix + size / 2, headerHeight - 5, {
        size: FONT.tick,
        color: MUTED_COLOR,
      });
      group.append("image")
        .attr("x", ix).attr("y", headerHeight)
        .attr("width", size).attr("height", size)
        .attr("preserveAspectRatio", "none")
        .attr("image-rendering", "optimizeSpeed")
        .attr("style", "image-rendering:pixelated")
        .attr("href", pngDataUri(sample[key], side, side, 3));
      group.append("rect").attr("x", ix).attr("y", headerHeight).attr("width", size)
        .attr("height", size).attr("fill", "none").attr("stroke", "#cccccc");
    });
    const name = sample.label !== undefined
      ? options.classNames?.[sample.label] ?? `class ${sample.label}`
      : `sample ${i + 1}`;
    addLabel(group, truncateText(name, groupWidth, FONT.label), groupWidth / 2, headerHeight + size + 15, {
      size: FONT.label,
    });
  });
  return svgToString(svg);
}
