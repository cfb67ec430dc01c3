/**
 * Assertions shared by the viz tests: strict well-formedness, DOM queries on a parsed SVG, the
 * 11 px font floor, and a resvg render that must have the declared size and not be blank.
 *
 * @module
 */
import assert from "node:assert/strict";
import { DOMParser } from "linkedom";
import { checkWellFormedXml } from "./xml.ts";
import { rasterizeSvg } from "./raster.ts";

/** Minimal view of a parsed element, enough for the tests' queries. */
export interface Node {
  querySelectorAll(selector: string): Node[];
  querySelector(selector: string): Node | null;
  getAttribute(name: string): string | null;
  textContent: string | null;
  parentNode: Node | null;
}

/** Checks `svg` is well-formed XML with an `<svg xmlns=…>` root and returns it parsed. */
export function parseSvg(svg: string): Node {
  const summary = checkWellFormedXml(svg);
  assert.equal(summary.root, "svg");
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml") as unknown as {
    documentElement: Node;
  };
  const root = doc.documentElement;
  assert.equal(root.getAttribute("xmlns"), "http://www.w3.org/2000/svg");
  return root;
}

/** Every element under `root` matching `selector`, as an array. */
export function all(root: Node, selector: string): Node[] {
  return [...root.querySelectorAll(selector)];
}

/** Text of every element matching `selector`. */
export function texts(root: Node, selector: string): string[] {
  return all(root, selector).map((n) => n.textContent ?? "");
}

/** Every `font-size` in the document is at least 11 px (readability at 600 px wide). */
export function assertMinFontSize(root: Node, min = 11): void {
  const sizes = [...root.querySelectorAll("[font-size]")].map((n) =>
    Number(n.getAttribute("font-size"))
  );
  assert.ok(sizes.length > 0, "some font sizes are set");
  for (const size of sizes) assert.ok(size >= min, `font-size ${size} < ${min}`);
}

/** Number of pixels that are not (nearly) white, and the number of distinct colours. */
export function inkStats(rgba: Uint8Array): { inked: number; colours: number } {
  let inked = 0;
  const colours = new Set<number>();
  for (let i = 0; i < rgba.length; i += 4) {
    if (rgba[i] < 240 || rgba[i + 1] < 240 || rgba[i + 2] < 240) inked++;
    colours.add((rgba[i] << 16) | (rgba[i + 1] << 8) | rgba[i + 2]);
  }
  return { inked, colours: colours.size };
}

/**
 * Renders `svg` with resvg: the PNG must have the size the svg declares (checked in the PNG
 * header too) and at least `minInk` of its pixels must be non-white with several colours.
 */
export function assertRenders(svg: string, minInk = 0.02): { width: number; height: number } {
  const root = parseSvg(svg);
  const width = Number(root.getAttribute("width"));
  const height = Number(root.getAttribute("height"));
  const raster = rasterizeSvg(svg);
  assert.equal(raster.width, Math.round(width));
  assert.equal(raster.height, Math.round(height));
  const header = new DataView(raster.png.buffer, raster.png.byteOffset + 16, 8);
  assert.equal(header.getUint32(0), raster.width, "PNG IHDR width");
  assert.equal(header.getUint32(4), raster.height, "PNG IHDR height");
  const { inked, colours } = inkStats(raster.rgba);
  const fraction = inked / (raster.width * raster.height);
  assert.ok(fraction >= minInk, `only ${(fraction * 100).toFixed(2)}% of pixels are inked`);
  assert.ok(fraction < 0.95, `${(fraction * 100).toFixed(2)}% inked: background missing?`);
  assert.ok(colours >= 8, `only ${colours} distinct colours`);
  return { width: raster.width, height: raster.height };
}
