/**
 * Grouped bar chart of per-class linear-probe accuracy: SimCLR beside the baselines.
 *
 * @module
 */
// @ts-types="@types/d3"
import * as d3 from "d3";
import type { VariantResult } from "./types.ts";
import { variantColor, variantLabel } from "./palette.ts";
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
