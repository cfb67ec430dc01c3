/**
 * SCAN clustering charts: the neighbour-purity curve of each representation, and the image grid
 * of the test images each cluster is most confident about.
 *
 * @module
 */
// @ts-types="@types/d3"
import * as d3 from "d3";
import type { ClusterImages } from "./types.ts";
import { imageSide, upscaleNearest } from "./gallery.ts";
import { variantColor, variantLabel } from "./palette.ts";
import { pngDataUri } from "./png.ts";
import {
  addLabel,
  type ChartOptions,
  createSvg,
  DEFAULT_WIDTH,
  drawHorizontalGrid,
  drawLegend,
  FONT,
  MUTED_COLOR,
  round,
  styleAxis,
  svgToString,
  truncateText,
} from "./svg.ts";
import { requireFinite, requireNonEmpty } from "./validate.ts";

/** One curve of {@link neighbourPurityChart}. */
export interface PurityCurve {
  /** Representation name (coloured and labelled like the other charts). */
  name: string;
  /** `purity[j]`: share of the `j + 1` nearest neighbours with the same class, in [0, 1]. */
  purity: number[];
}

/**
 * Neighbour purity against k, one line per representation, with a dashed marker at the k SCAN
 * trained with (when given).
 */
export function neighbourPurityChart(
  curves: PurityCurve[],
  options: ChartOptions & { k?: number } = {},
): string {
  requireNonEmpty("neighbour purity curves", curves);
  curves.forEach((c, i) => {
    requireNonEmpty(`curves[${i}].purity`, c.purity);
    c.purity.forEach((v, j) => {
      requireFinite(`curves[${i}].purity[${j}]`, v);
      if (v < 0 || v > 1) {
        throw new RangeError(`viz: curves[${i}].purity[${j}] = ${v} is not a fraction in [0, 1]`);
      }
    });
  });
  const width = options.width ?? DEFAULT_WIDTH;
  const height = 360;
  const margin = { top: 64, right: 20, bottom: 46, left: 58 };
  const svg = createSvg(width, height, options.title ?? "Neighbour purity of the mined neighbours");
  const innerW = width - margin.left - margin.right;
  const innerH = height - margin.top - margin.bottom;
  const maxK = d3.max(curves, (c) => c.purity.length)!;
  const x = d3.scaleLinear().domain([1, Math.max(2, maxK)]).range([0, innerW]);
  const y = d3.scaleLinear().domain([0, 1]).range([innerH, 0]);
  const g = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);
  const yTicks = y.ticks(5);
  drawHorizontalGrid(g, yTicks, y, innerW);
  styleAxis(
    g.append("g").attr("transform", `translate(0,${innerH})`).call(d3.axisBottom(x).ticks(10)),
  );
  styleAxis(
    g.append("g").call(d3.axisLeft(y).tickValues(yTicks).tickFormat(d3.format(".0%"))),
    "y-axis",
  );
  if (options.k !== undefined && options.k >= 1 && options.k <= maxK) {
    g.append("line").attr("class", "k-marker")
      .attr("x1", round(x(options.k))).attr("x2", round(x(options.k)))
      .attr("y1", 0).attr("y2", innerH)
      .attr("stroke", MUTED_COLOR).attr("stroke-dasharray", "4,3");
    addLabel(g, `SCAN k = ${options.k}`, x(options.k) + 4, 12, {
      anchor: "start",
      size: FONT.tick,
      color: MUTED_COLOR,
    });
  }
  const line = d3.line<number>().x((_, j) => round(x(j + 1))).y((v) => round(y(v)));
  for (const c of curves) {
    g.append("path").attr("class", "purity-line")
      .attr("fill", "none").attr("stroke", variantColor(c.name)).attr("stroke-width", 2)
      .attr("d", line(c.purity));
  }
  drawLegend(
    svg,
    curves.map((c) => ({
      label: `${variantLabel(c.name)} (k=1 ${(100 * c.purity[0]).toFixed(1)}%)`,
      color: variantColor(c.name),
      kind: "line" as const,
    })),
    margin.left,
    44,
    { columnWidth: "auto" },
  );
  addLabel(svg, "k (neighbours mined per train image)", margin.left + innerW / 2, height - 8);
  addLabel(svg, "same class as the image", 16, margin.top + innerH / 2, { rotate: -90 });
  return svgToString(svg);
}

/**
 * One row per cluster: the test images the cluster is most confident about, left to right,
 * each with its true class under it (in the matched class's colour when they agree).
 */
export function clusterImageGrid(
  rows: ClusterImages[],
  classNames: string[],
  options: ChartOptions & { scale?: number } = {},
): string {
  requireNonEmpty("cluster image rows", rows);
  let side = 0;
  rows.forEach((r, i) => {
    if (r.images.length !== r.labels.length) {
      throw new RangeError(
        `viz: clusterImages[${i}] has ${r.images.length} images but ${r.labels.length} labels`,
      );
    }
    r.images.forEach((img, j) => {
      const s = imageSide(img, `clusterImages[${i}].images[${j}]`);
      if (side === 0) side = s;
      if (s !== side) throw new RangeError(`viz: clusterImages[${i}].images[${j}] is not ${side}²`);
    });
  });
  if (side === 0) throw new RangeError("viz: clusterImages hold no images");
  const width = options.width ?? DEFAULT_WIDTH;
  const perRow = d3.max(rows, (r) => r.images.length)!;
  const labelW = 118;
  const gap = 3;
  const scale = options.scale ??
    Math.max(1, Math.floor((width - labelW - 16 - gap * perRow) / (perRow * side)));
  const size = side * scale;
  const rowH = size + 16;
  const top = 40;
  const svg = createSvg(
    width,
    top + rows.length * rowH + 8,
    options.title ?? "Most confident test images per SCAN cluster",
  );
  rows.forEach((r, i) => {
    const gy = top + i * rowH;
    const group = svg.append("g").attr("class", "cluster-row")
      .attr("transform", `translate(8,${gy})`);
    const matched = r.matchedClass !== undefined && r.matchedClass >= 0
      ? classNames[r.matchedClass] ?? `class ${r.matchedClass}`
      : "unmatched";
    addLabel(group, `cluster ${r.cluster}`, 0, size / 2 - 2, { anchor: "start", weight: "bold" });
    addLabel(group, truncateText(`→ ${matched}`, labelW - 6, FONT.tick), 0, size / 2 + 12, {
      anchor: "start",
      size: FONT.tick,
      color: MUTED_COLOR,
    });
    r.images.forEach((img, j) => {
      const ix = labelW + j * (size + gap);
      group.append("image")
        .attr("x", ix).attr("y", 0).attr("width", size).attr("height", size)
        .attr("preserveAspectRatio", "none")
        .attr("image-rendering", "optimizeSpeed")
        .attr("href", pngDataUri(upscaleNearest(img, side, scale), size, size, 3));
      const right = r.labels[j] === r.matchedClass;
      addLabel(
        group,
        truncateText(classNames[r.labels[j]] ?? String(r.labels[j]), size + gap, 9),
        ix + size / 2,
        size + 10,
        { size: 9, color: right ? "#0072B2" : "#D55E00" },
      );
    });
  });
  return svgToString(svg);
}
