/**
 * Shared SVG plumbing for the charts: a detached linkedom document to let d3-selection build
 * elements without a browser, axis styling, labels, legends and number formatting.
 *
 * @module
 */
// @ts-types="@types/d3"
import * as d3 from "d3";
import { parseHTML } from "linkedom";

/**
 * A node of the detached linkedom document. viz is type-checked without the DOM lib (Deno's
 * default, and what members importing viz use), where d3's and linkedom's DOM element types are
 * opaque, so the one property used on nodes is declared here.
 */
export interface DetachedNode {
  /** Serialised markup of the node and its children. */
  outerHTML: string;
}

/** A d3 selection of the root `<svg>` element. */
export type SvgSelection = d3.Selection<DetachedNode & d3.BaseType, unknown, null, undefined>;
/** A d3 selection of a `<g>` group. */
export type GroupSelection = d3.Selection<DetachedNode & d3.BaseType, unknown, null, undefined>;

/** SVG namespace, written as the `xmlns` attribute so standalone files are valid SVG. */
export const SVG_NS = "http://www.w3.org/2000/svg";
/** Font stack: common sans fonts first, DejaVu/Liberation for bare Linux, then the generic. */
export const FONT_FAMILY = "Helvetica, Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif";
/** Default text colour. */
export const TEXT_COLOR = "#222222";
/** Colour of axis lines and secondary text. */
export const MUTED_COLOR = "#555555";
/** Colour of grid lines. */
export const GRID_COLOR = "#e3e3e3";
/** Font sizes (px); nothing is smaller than 11 px so charts stay readable at 600 px wide. */
export const FONT = { tick: 11, label: 12, title: 15, panelTitle: 12.5 } as const;
/** Default chart width in px. */
export const DEFAULT_WIDTH = 600;

/** Options shared by every chart. */
export interface ChartOptions {
  /** Width in px (default 600). */
  width?: number;
  /** Title drawn at the top (each chart has a sensible default). */
  title?: string;
}

/**
 * A new detached `<svg>` with `xmlns`, size, viewBox, a white background (so PNG renders are not
 * transparent), an accessible `<title>` and a visible title line.
 */
export function createSvg(width: number, height: number, title: string): SvgSelection {
  if (!(width >= 200) || !(height > 0)) {
    throw new RangeError(`viz: chart size must be at least 200 px wide, got ${width}×${height}`);
  }
  const window = parseHTML("<!DOCTYPE html><html><body></body></html>") as unknown as {
    document: { body: DetachedNode & d3.BaseType };
  };
  const svg = d3.select(window.document.body).append<DetachedNode & d3.BaseType>("svg")
    .attr("xmlns", SVG_NS)
    .attr("width", width)
    .attr("height", height)
    .attr("viewBox", `0 0 ${width} ${height}`)
    .attr("font-family", FONT_FAMILY)
    .attr("font-size", FONT.label)
    .attr("role", "img");
  svg.append("title").text(title);
  svg.append("rect").attr("class", "background").attr("width", width).attr("height", height)
    .attr("fill", "#ffffff");
  svg.append("text").attr("class", "chart-title")
    .attr("x", width / 2).attr("y", 22)
    .attr("text-anchor", "middle")
    .attr("font-size", FONT.title)
    .attr("font-weight", "bold")
    .attr("fill", TEXT_COLOR)
    .text(title);
  return svg;
}

/** Serialises the svg to a string. */
export function svgToString(svg: SvgSelection): string {
  return svg.node()!.outerHTML;
}

/**
 * Makes a d3 axis group readable and self-contained: 11 px ticks in the chart font and explicit
 * colours instead of `currentColor` (which some renderers resolve differently); the group gets
 * the classes `axis` and `className` (`x-axis` by default, `y-axis` for vertical axes).
 */
export function styleAxis(g: GroupSelection, className = "x-axis"): GroupSelection {
  g.attr("class", `axis ${className}`).attr("font-size", FONT.tick).attr("font-family", null);
  g.selectAll("text").attr("fill", TEXT_COLOR);
  g.selectAll("line").attr("stroke", MUTED_COLOR);
  g.selectAll("path.domain").attr("stroke", MUTED_COLOR);
  return g;
}

/** Adds a text label; `rotate` −90 gives a vertical y-axis label centred on (x, y). */
export function addLabel(
  parent: SvgSelection | GroupSelection,
  text: string,
  x: number,
  y: number,
  options: {
    rotate?: number;
    anchor?: "start" | "middle" | "end";
    size?: number;
    weight?: string;
    color?: string;
    className?: string;
  } = {},
): void {
  const label = (parent as GroupSelection).append("text")
    .attr("class", options.className ?? "axis-label")
    .attr("text-anchor", options.anchor ?? "middle")
    .attr("font-size", options.size ?? FONT.label)
    .attr("fill", options.color ?? TEXT_COLOR)
    .text(text);
  if (options.weight) label.attr("font-weight", options.weight);
  if (options.rotate) {
    label.attr("transform", `translate(${round(x)},${round(y)}) rotate(${options.rotate})`);
  } else {
    label.attr("x", round(x)).attr("y", round(y));
  }
}

/** One entry of a legend. */
export interface LegendEntry {
  /** Text shown next to the swatch. */
  label: string;
  /** Swatch colour. */
  color: string;
  /** Swatch shape: a filled square (default), a line, a dashed line, or a vertical tick. */
  kind?: "square" | "line" | "dashed" | "tick";
}

/**
 * Draws a legend as `<g class="legend">` with one `<g class="legend-entry">` per entry, laid out
 * in rows of `columns` entries starting at (x, y); with `columnWidth: "auto"` entries follow each
 * other on one row, spaced by their estimated text width. Swatches are rects or lines, never
 * circles, so circle counts in scatter plots equal the number of points.
 */
export function drawLegend(
  parent: SvgSelection | GroupSelection,
  entries: LegendEntry[],
  x: number,
  y: number,
  options: { columns?: number; columnWidth?: number | "auto"; rowHeight?: number } = {},
): GroupSelection {
  const columns = options.columns ?? 1;
  const rowHeight = options.rowHeight ?? 18;
  const legend = (parent as GroupSelection).append("g").attr("class", "legend")
    .attr("transform", `translate(${round(x)},${round(y)})`);
  let flowX = 0;
  entries.forEach((entry, i) => {
    let offset: [number, number];
    if (options.columnWidth === "auto") {
      offset = [round(flowX), 0];
      flowX += 22 + estimateTextWidth(entry.label, FONT.tick) + 18;
    } else {
      const columnWidth = options.columnWidth ?? 120;
      offset = [(i % columns) * columnWidth, Math.floor(i / columns) * rowHeight];
    }
    const g = legend.append("g").attr("class", "legend-entry")
      .attr("transform", `translate(${offset[0]},${offset[1]})`);
    if (entry.kind === "tick") {
      g.append("line").attr("x1", 8).attr("x2", 8).attr("y1", -7).attr("y2", 7)
        .attr("stroke", entry.color).attr("stroke-width", 2);
    } else if (entry.kind === "line" || entry.kind === "dashed") {
      const line = g.append("line").attr("x1", 0).attr("x2", 16).attr("y1", 0).attr("y2", 0)
        .attr("stroke", entry.color).attr("stroke-width", 2.5);
      if (entry.kind === "dashed") line.attr("stroke-dasharray", "5,3");
    } else {
      g.append("rect").attr("x", 2).attr("y", -6).attr("width", 12).attr("height", 12)
        .attr("fill", entry.color);
    }
    g.append("text").attr("x", 22).attr("y", 0).attr("dy", "0.35em")
      .attr("font-size", FONT.tick).attr("fill", TEXT_COLOR).text(entry.label);
  });
  return legend;
}

/** Estimated width of a legend laid out with `columnWidth: "auto"` (see {@link drawLegend}). */
export function legendFlowWidth(entries: LegendEntry[]): number {
  return entries.reduce((w, e) => w + 22 + estimateTextWidth(e.label, FONT.tick) + 18, 0) - 18;
}

/** Horizontal grid lines at the y ticks, drawn under the data. */
export function drawHorizontalGrid(
  g: GroupSelection,
  yTicks: number[],
  y: (v: number) => number,
  width: number,
): void {
  const grid = g.append("g").attr("class", "grid").attr("stroke", GRID_COLOR);
  for (const t of yTicks) {
    grid.append("line").attr("x1", 0).attr("x2", width)
      .attr("y1", round(y(t))).attr("y2", round(y(t)));
  }
}

/** Rounds to 0.1 px: keeps files small without visible change. */
export function round(v: number): number {
  return Math.round(v * 10) / 10;
}

/**
 * Approximate rendered width of `text` at `fontSize`: there is no layout engine here, so use
 * 0.62 em per character (DejaVu Sans, the widest font of the stack, averages about that).
 */
export function estimateTextWidth(text: string, fontSize: number): number {
  return text.length * fontSize * 0.62;
}

/** Shortens `text` with an ellipsis so it fits in about `maxWidth` px at `fontSize`. */
export function truncateText(text: string, maxWidth: number, fontSize: number): string {
  const maxChars = Math.max(4, Math.floor(maxWidth / (fontSize * 0.6)));
  return text.length <= maxChars ? text : `${text.slice(0, maxChars - 1)}…`;
}

/** Formats a fraction in [0, 1] as a percentage, e.g. 0.8234 → "82.3%". */
export function formatPercent(fraction: number, digits = 1): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(digits)}%` : "n/a";
}

/** Formats seconds as e.g. "1 h 02 min", "3 min 05 s" or "42.0 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "n/a";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0
    ? `${h} h ${String(m).padStart(2, "0")} min`
    : `${m} min ${String(sec).padStart(2, "0")} s`;
}
