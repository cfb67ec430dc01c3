/**
 * Class-coloured scatter plots of 2-D projections of test features (PCA and t-SNE).
 *
 * @module
 */
// @ts-types="@types/d3"
import * as d3 from "d3";
import type { Embedding2D, PcaView, TsneView } from "./types.ts";
import { classColor } from "./palette.ts";
import {
  addLabel,
  type ChartOptions,
  createSvg,
  DEFAULT_WIDTH,
  drawLegend,
  round,
  styleAxis,
  svgToString,
} from "./svg.ts";
import { requireClassNames, requireLabels, requireNonEmpty } from "./validate.ts";

/** Options of {@link scatterChart}. */
export interface ScatterOptions extends ChartOptions {
  /** x-axis label, with units. */
  xLabel?: string;
  /** y-axis label, with units. */
  yLabel?: string;
  /** Circle radius in px (default 2). */
  radius?: number;
  /** Circle fill opacity (default 0.65). */
  opacity?: number;
  /** Small grey note under the title (e.g. a quality figure). */
  subtitle?: string;
}

/**
 * Draw order that interleaves classes: sorting indices by a multiplicative hash (a bijection on
 * 32-bit integers) is a fixed pseudo-random permutation, so the last class does not paint over
 * all the others and the output is deterministic.
 */
function scrambledOrder(n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const key = (i: number) => Math.imul(i + 1, 0x9e3779b1) >>> 0;
  return order.sort((a, b) => key(a) - key(b));
}

/**
 * Scatter of flat `[x0, y0, x1, y1, …]` points coloured by class with a legend of class names:
 * one `<circle>` per point and equal units on both axes so distances are not distorted.
 */
export function scatterChart(
  embedding: Embedding2D,
  classNames: string[],
  options: ScatterOptions = {},
): string {
  requireClassNames(classNames);
  const { points, labels } = embedding;
  requireNonEmpty("embedding labels", labels);
  if (points.length !== 2 * labels.length) {
    throw new RangeError(
      `viz: embedding points must hold 2 × ${labels.length} = ${
        2 * labels.length
      } numbers (flat x, y pairs), got ${points.length}`,
    );
  }
  requireLabels("embedding labels", labels, classNames.length);
  const n = labels.length;
  let xMin = Infinity, xMax = -Infinity, yMin = Infinity, yMax = -Infinity;
  for (let i = 0; i < n; i++) {
    const px = points[2 * i], py = points[2 * i + 1];
    if (!Number.isFinite(px) || !Number.isFinite(py)) {
      throw new RangeError(`viz: embedding point ${i} is not finite (${px}, ${py})`);
    }
    xMin = Math.min(xMin, px);
    xMax = Math.max(xMax, px);
    yMin = Math.min(yMin, py);
    yMax = Math.max(yMax, py);
  }
  const width = options.width ?? DEFAULT_WIDTH;
  const legendWidth = 118;
  const margin = { left: 62, top: options.subtitle ? 54 : 44, bottom: 52 };
  const size = width - margin.left - legendWidth - 16;
  const height = margin.top + size + margin.bottom;
  const svg = createSvg(width, height, options.title ?? "2-D projection of test features");
  if (options.subtitle) {
    addLabel(svg, options.subtitle, width / 2, 40, {
      size: 11,
      color: "#555555",
      className: "subtitle",
    });
  }
  // Same span on both axes so one unit is the same length horizontally and vertically.
  const span = Math.max(xMax - xMin, yMax - yMin, 1e-12) * 1.06;
  const cx = (xMin + xMax) / 2, cy = (yMin + yMax) / 2;
  const x = d3.scaleLinear().domain([cx - span / 2, cx + span / 2]).range([0, size]);
  const y = d3.scaleLinear().domain([cy - span / 2, cy + span / 2]).range([size, 0]);
  const plot = svg.append("g").attr("class", "plot")
    .attr("transform", `translate(${margin.left},${margin.top})`);
  plot.append("rect").attr("class", "frame").attr("width", size).attr("height", size)
    .attr("fill", "none").attr("stroke", "#dddddd");
  const radius = options.radius ?? 2;
  const group = plot.append("g").attr("class", "points")
    .attr("fill-opacity", options.opacity ?? 0.65);
  for (const i of scrambledOrder(n)) {
    group.append("circle")
      .attr("cx", round(x(points[2 * i])))
      .attr("cy", round(y(points[2 * i + 1])))
      .attr("r", radius)
      .attr("fill", classColor(labels[i]));
  }
  styleAxis(
    plot.append("g").attr("transform", `translate(0,${size})`).call(d3.axisBottom(x).ticks(6)),
  );
  styleAxis(plot.append("g").call(d3.axisLeft(y).ticks(6)), "y-axis");
  addLabel(svg, options.xLabel ?? "dimension 1", margin.left + size / 2, margin.top + size + 40);
  addLabel(svg, options.yLabel ?? "dimension 2", 16, margin.top + size / 2, { rotate: -90 });
  addLabel(svg, "true class", width - legendWidth + 4, margin.top + 6, {
    anchor: "start",
    weight: "bold",
  });
  drawLegend(
    svg,
    classNames.map((name, c) => ({ label: name, color: classColor(c) })),
    width - legendWidth,
    margin.top + 26,
    { rowHeight: 20 },
  );
  return svgToString(svg);
}

/** PCA scatter: axes are the first two principal-component scores with their variance share. */
export function pcaScatterChart(
  pca: PcaView,
  classNames: string[],
  options: ScatterOptions & { variantLabel?: string } = {},
): string {
  const ratio = (i: number) =>
    pca.explainedRatio?.[i] !== undefined
      ? `, ${(pca.explainedRatio[i] * 100).toFixed(1)}% of variance`
      : "";
  return scatterChart(pca, classNames, {
    title: `PCA of ${options.variantLabel ?? "SimCLR"} test features`,
    xLabel: `PC 1 score (feature units${ratio(0)})`,
    yLabel: `PC 2 score (feature units${ratio(1)})`,
    ...options,
  });
}

/** t-SNE scatter; the subtitle reports the neighbour preservation of the embedding. */
export function tsneScatterChart(
  tsne: TsneView,
  classNames: string[],
  options: ScatterOptions & { variantLabel?: string } = {},
): string {
  return scatterChart(tsne, classNames, {
    title: `t-SNE of ${options.variantLabel ?? "SimCLR"} test features`,
    xLabel: "t-SNE dimension 1 (arbitrary units)",
    yLabel: "t-SNE dimension 2 (arbitrary units)",
    subtitle: Number.isFinite(tsne.neighbourPreservation)
      ? `${labelsCount(tsne)} points; neighbour preservation ${
        (tsne.neighbourPreservation * 100).toFixed(1)
      }%`
      : undefined,
    ...options,
  });
}

function labelsCount(e: Embedding2D): string {
  return d3.format(",")(e.labels.length);
}
