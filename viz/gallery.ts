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

/** Nearest-neighbour upscaling of a square RGB image by an integer factor. */
export function upscaleNearest(pixels: Uint8Array, side: number, scale: number): Uint8Array {
  const outSide = side * scale;
  const out = new Uint8Array(outSide * outSide * 3);
  for (let y = 0; y < outSide; y++) {
    const sy = Math.floor(y / scale);
    for (let x = 0; x < outSide; x++) {
      const src = (sy * side + Math.floor(x / scale)) * 3;
      const dst = (y * outSide + x) * 3;
      out[dst] = pixels[src];
      out[dst + 1] = pixels[src + 1];
      out[dst + 2] = pixels[src + 2];
    }
  }
  return out;
}

const GAP = 6;
const GROUP_GAP = 26;
const PAD = 14;

/**
 * Rows of "original | view 1 | view 2" triplets, each image an `<image>` with a PNG data URI of
 * the picture upscaled by nearest neighbour (crisp pixels), labelled with its class.
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
  if (options.scale !== undefined && !(Number.isInteger(options.scale) && options.scale >= 1)) {
    throw new RangeError(`viz: gallery scale must be an integer ≥ 1, got ${options.scale}`);
  }
  const width = options.width ?? DEFAULT_WIDTH;
  const fits = (columns: number, scale: number) =>
    2 * PAD + columns * (3 * side * scale + 2 * GAP) + (columns - 1) * GROUP_GAP <= width;
  let columns = Math.max(1, Math.min(options.columns ?? 2, samples.length));
  while (columns > 1 && !fits(columns, options.scale ?? 1)) columns--;
  let scale = options.scale ?? 4;
  if (options.scale === undefined) { while (scale > 1 && !fits(columns, scale)) scale--; }
  const size = side * scale;
  const groupWidth = 3 * size + 2 * GAP;
  const headerHeight = 18;
  const labelHeight = 18;
  const rowHeight = headerHeight + size + labelHeight + 10;
  const rows = Math.ceil(samples.length / columns);
  const top = 44;
  const height = top + rows * rowHeight + 6;
  const svg = createSvg(
    width,
    height,
    options.title ?? "SimCLR augmentations: original and two views",
  );
  const totalWidth = columns * groupWidth + (columns - 1) * GROUP_GAP;
  const left = (width - totalWidth) / 2;
  samples.forEach((sample, i) => {
    const gx = left + (i % columns) * (groupWidth + GROUP_GAP);
    const gy = top + Math.floor(i / columns) * rowHeight;
    const group = svg.append("g").attr("class", "sample")
      .attr("transform", `translate(${gx},${gy})`);
    (["original", "view1", "view2"] as const).forEach((key, k) => {
      const ix = k * (size + GAP);
      addLabel(
        group,
        key === "original" ? "original" : key === "view1" ? "view 1" : "view 2",
        ix + size / 2,
        headerHeight - 5,
        {
          size: FONT.tick,
          color: MUTED_COLOR,
        },
      );
      group.append("image")
        .attr("x", ix).attr("y", headerHeight)
        .attr("width", size).attr("height", size)
        .attr("preserveAspectRatio", "none")
        // The PNG is already upscaled, so it is crisp at its nominal size in any renderer;
        // optimizeSpeed (nearest neighbour in browsers and resvg) keeps it crisp when zoomed. A
        // CSS "pixelated" style is not used: resvg does not know it and would fall back to
        // smoothing, overriding the attribute.
        .attr("image-rendering", "optimizeSpeed")
        .attr("href", pngDataUri(upscaleNearest(sample[key], side, scale), size, size, 3));
      // Frame drawn half a pixel outside so its stroke never covers the image's edge pixels.
      group.append("rect").attr("x", ix - 0.5).attr("y", headerHeight - 0.5)
        .attr("width", size + 1).attr("height", size + 1)
        .attr("fill", "none").attr("stroke", "#cccccc");
    });
    const name = sample.label !== undefined
      ? options.classNames?.[sample.label] ?? `class ${sample.label}`
      : `sample ${i + 1}`;
    addLabel(
      group,
      truncateText(name, groupWidth, FONT.label),
      groupWidth / 2,
      headerHeight + size + 15,
      {
        size: FONT.label,
      },
    );
  });
  return svgToString(svg);
}
