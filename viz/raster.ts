/**
 * Rasterises SVG strings to PNG with resvg (a native addon; needs `--allow-ffi`, or `-A`). Used by
 * the tests and `demo.ts` to check that charts render, not by the report itself, so the library
 * stays free of native code.
 *
 * @module
 */
import { Resvg } from "@resvg/resvg-js";

/** A rendered image. */
export interface Raster {
  /** Width in px. */
  width: number;
  /** Height in px. */
  height: number;
  /** Encoded PNG file. */
  png: Uint8Array;
  /** Raw RGBA pixels, row-major. */
  rgba: Uint8Array;
}

/**
 * Renders `svg` at `scale` × its intrinsic size with the system fonts (DejaVu Sans as the fallback
 * for the generic `sans-serif`, which resvg would otherwise map to a font that may be missing).
 */
export function rasterizeSvg(svg: string, scale = 1): Raster {
  const resvg = new Resvg(svg, {
    font: {
      loadSystemFonts: true,
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
    },
    fitTo: scale === 1 ? { mode: "original" } : { mode: "zoom", value: scale },
    background: "rgba(255, 255, 255, 0)",
  });
  const image = resvg.render();
  return {
    width: image.width,
    height: image.height,
    png: new Uint8Array(image.asPng()),
    rgba: new Uint8Array(image.pixels),
  };
}
