/**
 * Bar charts: per-class linear-probe accuracy of SimCLR against the baselines, and the backend
 * verification chart (relative error per tensor on a log scale against its tolerance).
 *
 * @module
 */
// @ts-types="@types/d3"
import * as d3 from "d3";
import type { VariantResult, VerifyRow } from "./types.ts";
import { STATUS_COLORS, variantColor, variantLabel } from "./palette.ts";
import {
  addLabel,
  type ChartOptions,
  createSvg,
  DEFAULT_WIDTH,
  drawHorizontalGrid,
  drawLegend,
  estimateTextWidth,
  FONT,
  legendFlowWidth,
  MUTED_COLOR,
  round,
  styleAxis,
  svgToString,
  TEXT_COLOR,
  truncateText,
} from "./svg.ts";
import { requireClassNames, requireFinite, requireNonEmpty } from "./validate.ts";

/** Variant fields the per-class chart needs. */
export type PerClassInput = Pick<VariantResult, "name"> & {
  probe: Pick<VariantResult["probe"], "perClassAccuracy" | "testAccuracy">;
};

/** Grouped bars: per-class linear-probe accuracy (%) for each variant, SimCLR first. */
export function perClassAccuracyChart(
  variants: PerClassInput[],
  classNames: string[],
  options: ChartOptions = {},
): string {
  requireClassNames(classNames);
  requireNonEmpty("results.variants", variants);
  variants.forEach((v, i) => {
    const acc = v.probe?.perClassAccuracy;
    if (!Array.isArray(acc) || acc.length !== classNames.length) {
      throw new RangeError(
        `viz: variants[${i}] (${v.name}).probe.perClassAccuracy must have ${classNames.length} entries, got ${acc?.length}`,
      );
    }
    acc.forEach((a, c) => requireFinite(`variants[${i}].probe.perClassAccuracy[${c}]`, a));
  });
  // SimCLR first, then the baselines in their given order.
  const ordered = [...variants].sort((a, b) =>
    Number(b.name === "simclr") - Number(a.name === "simclr")
  );
  const width = options.width ?? DEFAULT_WIDTH;
  const height = 380;
  const margin = { left: 62, right: 16, top: 66, bottom: 92 };
  const innerWidth = width - margin.left - margin.right;
  const innerHeight = height - margin.top - margin.bottom;
  const svg = createSvg(width, height, options.title ?? "Linear-probe accuracy per class");
  const x = d3.scaleBand<number>().domain(classNames.map((_, c) => c)).range([0, innerWidth])
    .paddingInner(0.22).paddingOuter(0.1);
  const inner = d3.scaleBand<string>().domain(ordered.map((v) => v.name))
    .range([0, x.bandwidth()]).padding(0.06);
  const y = d3.scaleLinear().domain([0, 100]).range([innerHeight, 0]);
  const g = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);
  drawHorizontalGrid(g, y.ticks(5), y, innerWidth);
  for (const v of ordered) {
    const bars = g.append("g").attr("class", "bars").attr("fill", variantColor(v.name));
    v.probe.perClassAccuracy.forEach((acc, c) => {
      const pct = Math.max(0, Math.min(100, acc * 100));
      bars.append("rect").attr("class", "bar")
        .attr("x", round(x(c)! + inner(v.name)!)).attr("y", round(y(pct)))
        .attr("width", round(inner.bandwidth())).attr("height", round(innerHeight - y(pct)));
    });
  }
  styleAxis(g.append("g").call(d3.axisLeft(y).ticks(5).tickFormat((v) => `${v}%`)), "y-axis");
  const xAxis = styleAxis(
    g.append("g").attr("transform", `translate(0,${innerHeight})`)
      .call(d3.axisBottom(x).tickFormat((c) => classNames[c])),
  );
  xAxis.selectAll("text").attr("text-anchor", "end").attr("dy", "0.35em")
    .attr("transform", "translate(-4,10) rotate(-35)");
  addLabel(svg, "test accuracy (% of class images)", 16, margin.top + innerHeight / 2, {
    rotate: -90,
  });
  addLabel(svg, "true class", margin.left + innerWidth / 2, height - 10);
  const legendEntries = ordered.map((v) => ({
    label: `${variantLabel(v.name)} (${(v.probe.testAccuracy * 100).toFixed(1)}%)`,
    color: variantColor(v.name),
  }));
  const prefix = "overall accuracy:";
  const prefixWidth = estimateTextWidth(prefix, FONT.tick) + 10;
  const legendX = Math.max(8, (width - prefixWidth - legendFlowWidth(legendEntries)) / 2);
  addLabel(svg, prefix, legendX, 48, { anchor: "start", size: FONT.tick, color: MUTED_COLOR });
  drawLegend(svg, legendEntries, legendX + prefixWidth, 44, { columnWidth: "auto" });
  return svgToString(svg);
}

/** Options of {@link verifyChart}. */
export interface VerifyChartOptions extends ChartOptions {
  /** Relative differences below this are drawn at this floor (default: two decades under the smallest value). */
  floor?: number;
}

/**
 * One row per compared tensor: a bar to its relative difference on a log axis, a black tick at
 * its tolerance, and a status word (OK / NOT OK) in blue or vermillion so colour is not the only
 * cue. Exact zeros and non-finite values are pinned to the axis ends and labelled.
 */
export function verifyChart(rows: VerifyRow[], options: VerifyChartOptions = {}): string {
  requireNonEmpty("verify rows", rows);
  rows.forEach((r, i) => {
    if (typeof r.name !== "string") throw new TypeError(`viz: verify[${i}].name must be a string`);
    requireFinite(`verify[${i}].tolerance`, r.tolerance);
    if (!(r.tolerance > 0)) {
      throw new RangeError(`viz: verify[${i}].tolerance must be > 0, got ${r.tolerance}`);
    }
  });
  const width = options.width ?? DEFAULT_WIDTH;
  const rowHeight = rows.length > 30 ? 18 : 24;
  // Names that already carry their shapes (e.g. "conv2d [2,9,9,3]*[3,3,3,5]") are shown as given.
  const labels = rows.map((r) =>
    r.name.includes("[") ? r.name : `${r.name} [${
      !Array.isArray(r.shape) ? "?" : r.shape.length === 0 ? "scalar" : r.shape.join("×")
    }]`
  );
  const labelWidth = Math.min(
    260,
    Math.max(...labels.map((l) => estimateTextWidth(l, FONT.tick))) + 10,
  );
  const margin = { left: labelWidth + 12, right: 64, top: 70, bottom: 56 };
  const innerWidth = width - margin.left - margin.right;
  const innerHeight = rows.length * rowHeight;
  const height = margin.top + innerHeight + margin.bottom;
  const passed = rows.filter((r) => r.ok).length;
  const svg = createSvg(
    width,
    height,
    options.title ?? `Backend verification: ${passed}/${rows.length} tensors within tolerance`,
  );

  const positive = rows.flatMap((r) => [r.relDiff, r.tolerance])
    .filter((v) => Number.isFinite(v) && v > 0);
  const lo = options.floor ?? Math.pow(10, Math.floor(Math.log10(d3.min(positive)!)) - 1);
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(d3.max(positive)!, lo * 10))) + 0.0001);
  const x = d3.scaleLog().domain([lo, hi]).range([0, innerWidth]).clamp(true);
  const y = d3.scaleBand<number>().domain(rows.map((_, i) => i)).range([0, innerHeight])
    .padding(0.25);
  const g = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);
  // Vertical grid at each decade.
  const decades = d3.range(Math.round(Math.log10(lo)), Math.round(Math.log10(hi)) + 1);
  const every = Math.ceil(decades.length / 8);
  const tickValues = decades.filter((_, i) => i % every === 0).map((d) => Math.pow(10, d));
  const grid = g.append("g").attr("class", "grid").attr("stroke", "#e3e3e3");
  for (const t of tickValues) {
    grid.append("line").attr("x1", round(x(t))).attr("x2", round(x(t))).attr("y1", 0)
      .attr("y2", innerHeight);
  }
  rows.forEach((row, i) => {
    const color = row.ok ? STATUS_COLORS.ok : STATUS_COLORS.fail;
    const band = y(i)!;
    const value = Number.isNaN(row.relDiff) ? hi : row.relDiff;
    const rowG = g.append("g").attr("class", row.ok ? "verify-row ok" : "verify-row fail");
    rowG.append("rect").attr("class", "bar").attr("x", 0).attr("y", round(band))
      .attr("width", Math.max(1.5, round(x(Math.max(value, lo))))).attr(
        "height",
        round(y.bandwidth()),
      )
      .attr("fill", color).attr("fill-opacity", 0.85);
    const tx = round(x(row.tolerance));
    rowG.append("line").attr("class", "tolerance")
      .attr("x1", tx).attr("x2", tx).attr("y1", round(band - 3)).attr(
        "y2",
        round(band + y.bandwidth() + 3),
      )
      .attr("stroke", "#000000").attr("stroke-width", 2);
    const note = row.relDiff === 0
      ? " (= 0)"
      : Number.isNaN(row.relDiff)
      ? " (NaN)"
      : !Number.isFinite(row.relDiff)
      ? " (∞)"
      : "";
    rowG.append("text").attr("x", innerWidth + 6).attr("y", round(band + y.bandwidth() / 2))
      .attr("dy", "0.35em").attr("font-size", FONT.tick).attr("font-weight", "bold")
      .attr("fill", color).text((row.ok ? "OK" : "NOT OK") + note);
    rowG.append("text").attr("x", -8).attr("y", round(band + y.bandwidth() / 2))
      .attr("dy", "0.35em").attr("text-anchor", "end").attr("font-size", FONT.tick)
      .attr("fill", TEXT_COLOR).text(truncateText(labels[i], labelWidth, FONT.tick));
    rowG.append("title").text(
      `${row.name}: relDiff ${row.relDiff}, maxAbsDiff ${row.maxAbsDiff}, tolerance ${row.tolerance}`,
    );
  });
  styleAxis(
    g.append("g").attr("transform", `translate(0,${innerHeight})`)
      .call(d3.axisBottom(x).tickValues(tickValues).tickFormat(d3.format("~e"))),
  );
  addLabel(
    svg,
    "relative difference to reference (dimensionless, log scale)",
    margin.left + innerWidth / 2,
    height - 14,
  );
  drawLegend(
    svg,
    [
      { label: "within tolerance", color: STATUS_COLORS.ok },
      { label: "NOT OK", color: STATUS_COLORS.fail },
      { label: "tolerance", color: "#000000", kind: "tick" },
    ],
    margin.left,
    46,
    { columns: 3, columnWidth: 130 },
  );
  addLabel(svg, "tensor [shape]", margin.left - 8, margin.top - 8, {
    anchor: "end",
    size: FONT.tick,
    color: MUTED_COLOR,
  });
  return svgToString(svg);
}
