/**
 * Count heatmaps: the k-means contingency table (clusters in Hungarian order against classes) and
 * the linear-probe confusion matrix.
 *
 * @module
 */
// @ts-types="@types/d3"
import * as d3 from "d3";
import type { ClusterScores } from "@simclr/core";
import type { ProbeView } from "./types.ts";
import {
  addLabel,
  type ChartOptions,
  createSvg,
  DEFAULT_WIDTH,
  estimateTextWidth,
  FONT,
  MUTED_COLOR,
  round,
  svgToString,
  TEXT_COLOR,
  truncateText,
} from "./svg.ts";
import { requireClassNames, requireCountMatrix } from "./validate.ts";

/** Highlight colour for matched cells (vermillion: stands out against the blue scale). */
const HIGHLIGHT_COLOR = "#D55E00";

interface HeatmapSpec {
  title: string;
  subtitle?: string;
  rowLabels: string[];
  columnLabels: string[];
  /** Numbers written in the cells. */
  counts: number[][];
  /** Values mapped to colour, in [0, colorMax]. */
  colorValues: number[][];
  colorMax: number;
  legendTitle: string;
  legendFormat: (v: number) => string;
  xLabel: string;
  yLabel: string;
  highlight?: (row: number, column: number) => boolean;
  highlightLabel?: string;
  width: number;
}

/**
 * Grid of `<rect class="cell">` coloured by a sequential blue scale (readable in greyscale and for
 * colour-blind viewers), counts written in each cell, and a stepped colour legend on the right.
 */
function drawHeatmap(spec: HeatmapSpec): string {
  const rows = spec.rowLabels.length;
  const cols = spec.columnLabels.length;
  const rowLabelWidth = Math.min(
    110,
    Math.max(...spec.rowLabels.map((l) => estimateTextWidth(l, FONT.tick))) + 12,
  );
  const legendWidth = 84;
  const left = 30 + rowLabelWidth;
  const top = spec.subtitle ? 58 : 44;
  const cellWidth = Math.floor((spec.width - left - legendWidth - 10) / cols);
  const cellHeight = Math.max(18, Math.min(cellWidth * 0.8, 34, Math.floor(440 / rows)));
  const gridWidth = cellWidth * cols;
  const gridHeight = cellHeight * rows;
  const columnLabelHeight = Math.min(
    80,
    // Labels are rotated 40°, so they reach down by about sin 40° ≈ 0.64 of their width.
    Math.max(...spec.columnLabels.map((l) => estimateTextWidth(l, FONT.tick))) * 0.64 + 14,
  );
  const height = top + gridHeight + columnLabelHeight + 28;
  const svg = createSvg(spec.width, height, spec.title);
  if (spec.subtitle) {
    addLabel(svg, spec.subtitle, spec.width / 2, 40, {
      size: FONT.tick,
      color: MUTED_COLOR,
      className: "subtitle",
    });
  }
  const color = d3.scaleSequential(d3.interpolateBlues).domain([0, spec.colorMax || 1]);
  const grid = svg.append("g").attr("class", "heatmap")
    .attr("transform", `translate(${left},${top})`);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = spec.colorValues[r][c];
      grid.append("rect").attr("class", "cell")
        .attr("x", c * cellWidth).attr("y", r * cellHeight)
        .attr("width", cellWidth).attr("height", cellHeight)
        .attr("fill", color(v)).attr("stroke", "#ffffff").attr("stroke-width", 1);
      grid.append("text").attr("class", "cell-count")
        .attr("x", round(c * cellWidth + cellWidth / 2))
        .attr("y", round(r * cellHeight + cellHeight / 2))
        .attr("dy", "0.35em").attr("text-anchor", "middle").attr("font-size", FONT.tick)
        // Light text on the dark half of the scale keeps contrast everywhere.
        .attr("fill", v > 0.55 * (spec.colorMax || 1) ? "#ffffff" : TEXT_COLOR)
        .text(d3.format("~d")(Math.round(spec.counts[r][c])));
    }
  }
  if (spec.highlight) {
    const outline = grid.append("g").attr("class", "highlight").attr("fill", "none")
      .attr("stroke", HIGHLIGHT_COLOR).attr("stroke-width", 2);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        if (spec.highlight(r, c)) {
          outline.append("rect").attr("x", c * cellWidth + 1).attr("y", r * cellHeight + 1)
            .attr("width", cellWidth - 2).attr("height", cellHeight - 2);
        }
      }
    }
  }
  const rowAxis = grid.append("g").attr("class", "row-labels").attr("font-size", FONT.tick)
    .attr("fill", TEXT_COLOR).attr("text-anchor", "end");
  spec.rowLabels.forEach((label, r) => {
    rowAxis.append("text").attr("x", -6).attr("y", round(r * cellHeight + cellHeight / 2))
      .attr("dy", "0.35em").text(truncateText(label, rowLabelWidth - 8, FONT.tick));
  });
  const colAxis = grid.append("g").attr("class", "column-labels").attr("font-size", FONT.tick)
    .attr("fill", TEXT_COLOR).attr("text-anchor", "end");
  spec.columnLabels.forEach((label, c) => {
    const cx = round(c * cellWidth + cellWidth / 2 + 4);
    colAxis.append("text")
      .attr("transform", `translate(${cx},${gridHeight + 8}) rotate(-40)`)
      .attr("dy", "0.35em")
      .text(truncateText(label, 100, FONT.tick));
  });
  addLabel(svg, spec.xLabel, left + gridWidth / 2, top + gridHeight + columnLabelHeight + 16);
  addLabel(svg, spec.yLabel, 14, top + gridHeight / 2, { rotate: -90 });

  // Stepped colour legend: ten swatches from 0 to the maximum.
  const legend = svg.append("g").attr("class", "color-legend")
    .attr("transform", `translate(${left + gridWidth + 18},${top})`);
  const steps = 10;
  const swatchHeight = Math.min(18, gridHeight / steps);
  addLabel(legend, spec.legendTitle, 0, -8, { anchor: "start", size: FONT.tick });
  for (let i = 0; i < steps; i++) {
    const v = (spec.colorMax || 1) * (steps - 1 - i + 0.5) / steps;
    legend.append("rect").attr("class", "legend-swatch").attr("x", 0)
      .attr("y", round(i * swatchHeight)).attr("width", 14).attr("height", round(swatchHeight))
      .attr("fill", color(v));
  }
  addLabel(legend, spec.legendFormat(spec.colorMax), 20, 8, { anchor: "start", size: FONT.tick });
  addLabel(legend, spec.legendFormat(0), 20, steps * swatchHeight, {
    anchor: "start",
    size: FONT.tick,
  });
  if (spec.highlightLabel) {
    const y = steps * swatchHeight + 26;
    legend.append("rect").attr("x", 1).attr("y", y - 6).attr("width", 12).attr("height", 12)
      .attr("fill", "none").attr("stroke", HIGHLIGHT_COLOR).attr("stroke-width", 2);
    addLabel(legend, spec.highlightLabel, 20, y + 4, { anchor: "start", size: FONT.tick });
  }
  return svgToString(svg);
}

/**
 * Clusters in Hungarian order: `matchedOrder` first (cluster matched to class 0, 1, …), then any
 * cluster it leaves out, in index order. Throws on out-of-range or repeated clusters.
 */
export function orderClusters(matchedOrder: number[], clusterCount: number): number[] {
  const seen = new Set<number>();
  for (const [i, c] of matchedOrder.entries()) {
    if (!Number.isInteger(c) || c < 0 || c >= clusterCount) {
      throw new RangeError(
        `viz: kmeans.matchedOrder[${i}] = ${c} is not a cluster index in 0..${clusterCount - 1}`,
      );
    }
    if (seen.has(c)) throw new RangeError(`viz: kmeans.matchedOrder repeats cluster ${c}`);
    seen.add(c);
  }
  const rest = Array.from({ length: clusterCount }, (_, c) => c).filter((c) => !seen.has(c));
  return [...matchedOrder, ...rest];
}

/**
 * k-means contingency heatmap: one row per cluster (Hungarian order, so the matched pairs lie on
 * the diagonal and are outlined), one column per true class, counts in the cells.
 */
export function contingencyHeatmap(
  kmeans: ClusterScores,
  classNames: string[],
  options: ChartOptions & { variantLabel?: string; method?: string } = {},
): string {
  const method = options.method ?? "k-means";
  requireClassNames(classNames);
  requireCountMatrix("kmeans.contingency", kmeans.contingency, undefined, classNames.length);
  const order = orderClusters(kmeans.matchedOrder ?? [], kmeans.contingency.length);
  const counts = order.map((c) => kmeans.contingency[c]);
  const matchedCount = Math.min(kmeans.matchedOrder?.length ?? 0, classNames.length);
  return drawHeatmap({
    title: options.title ?? `${method} clusters vs classes (${options.variantLabel ?? "SimCLR"})`,
    subtitle: `NMI ${kmeans.nmi.toFixed(3)} · ARI ${kmeans.ari.toFixed(3)} · cluster accuracy ${
      (kmeans.accuracy * 100).toFixed(1)
    }%`,
    rowLabels: order.map((c) => `cluster ${c}`),
    columnLabels: classNames,
    counts,
    colorValues: counts,
    colorMax: d3.max(counts.flat()) ?? 1,
    legendTitle: "images",
    legendFormat: d3.format(",d"),
    xLabel: "true class",
    yLabel: `${method} cluster (Hungarian order)`,
    highlight: (r, c) => r === c && r < matchedCount,
    highlightLabel: "matched",
    width: options.width ?? DEFAULT_WIDTH,
  });
}

/**
 * Linear-probe confusion matrix: rows are true classes, columns predictions, counts in the cells,
 * colour by the fraction of the true class (row-normalised, so the diagonal is per-class recall).
 */
export function confusionHeatmap(
  probe: ProbeView,
  classNames: string[],
  options: ChartOptions & { variantLabel?: string } = {},
): string {
  requireClassNames(classNames);
  const n = classNames.length;
  requireCountMatrix("probe.confusion", probe.confusion, n, n);
  const fractions = probe.confusion.map((row) => {
    const total = d3.sum(row);
    return row.map((v) => (total > 0 ? v / total : 0));
  });
  return drawHeatmap({
    title: options.title ??
      `Linear-probe confusion matrix (${options.variantLabel ?? "SimCLR"})`,
    subtitle: `test accuracy ${
      (probe.testAccuracy * 100).toFixed(1)
    }%; colour = share of the true class`,
    rowLabels: classNames,
    columnLabels: classNames,
    counts: probe.confusion,
    colorValues: fractions,
    colorMax: 1,
    legendTitle: "% of row",
    legendFormat: (v) => `${Math.round(v * 100)}%`,
    xLabel: "predicted class",
    yLabel: "true class",
    width: options.width ?? DEFAULT_WIDTH,
  });
}
