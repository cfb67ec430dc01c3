/**
 * Backend verification chart: the relative difference of each checked tensor to the reference
 * backend on a log scale, with its tolerance marked and pass/fail in blue/vermillion plus words.
 *
 * Up to `maxRowsForBars` rows (default 40) get one labelled horizontal bar each; longer lists
 * (the full verify harness checks a few hundred tensors) become a compact strip: one dot per
 * tensor along x, grouped by `group`, with the failing tensors listed by name underneath.
 *
 * @module
 */
// @ts-types="@types/d3"
import * as d3 from "d3";
import type { VerifyRowView } from "./types.ts";
import { STATUS_COLORS } from "./palette.ts";
import {
  addLabel,
  type ChartOptions,
  createSvg,
  DEFAULT_WIDTH,
  drawLegend,
  estimateTextWidth,
  FONT,
  type GroupSelection,
  MUTED_COLOR,
  round,
  styleAxis,
  type SvgSelection,
  svgToString,
  TEXT_COLOR,
  truncateText,
} from "./svg.ts";
import { requireFinite, requireNonEmpty } from "./validate.ts";

/** Options of {@link verifyChart}. */
export interface VerifyChartOptions extends ChartOptions {
  /** Relative differences below this are drawn at this floor (default: a decade under the smallest positive value). */
  floor?: number;
  /** Above this many rows the compact strip layout is used (default 40). */
  maxRowsForBars?: number;
}

interface LogAxis {
  lo: number;
  hi: number;
  ticks: number[];
}

/** Whole-decade log domain covering every positive relDiff and tolerance, ≤ 8 labelled ticks. */
function logAxis(rows: VerifyRowView[], floor: number | undefined): LogAxis {
  const positive = rows.flatMap((r) => [r.relDiff, r.tolerance])
    .filter((v) => Number.isFinite(v) && v > 0);
  const lo = floor ?? Math.pow(10, Math.floor(Math.log10(d3.min(positive)!)) - 1);
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(d3.max(positive)!, lo * 10))));
  const decades = d3.range(Math.round(Math.log10(lo)), Math.round(Math.log10(hi)) + 1);
  const every = Math.ceil(decades.length / 8);
  return { lo, hi, ticks: decades.filter((_, i) => i % every === 0).map((d) => Math.pow(10, d)) };
}

/** Where a relDiff is drawn: exact zero at the floor, NaN and ∞ at the top end. */
function plotted(row: VerifyRowView, axis: LogAxis): number {
  if (Number.isNaN(row.relDiff) || row.relDiff === Infinity) return axis.hi;
  return Math.max(row.relDiff, axis.lo);
}

/** " (= 0)", " (NaN)" or " (∞)" for values pinned to an axis end, else "". */
function pinnedNote(row: VerifyRowView): string {
  if (row.relDiff === 0) return " (= 0)";
  if (Number.isNaN(row.relDiff)) return " (NaN)";
  if (!Number.isFinite(row.relDiff)) return " (∞)";
  return "";
}

function rowTitle(row: VerifyRowView): string {
  return `${row.group ? `${row.group}: ` : ""}${row.name} [${row.shape?.join("×") ?? ""}]: ` +
    `relDiff ${row.relDiff}, maxAbsDiff ${row.maxAbsDiff}, tolerance ${row.tolerance}, ` +
    (row.ok ? "OK" : "NOT OK");
}

/**
 * Verification chart (see the module comment for the two layouts). Every row gets a value mark
 * (`.value`, or a bar `.bar` in the bar layout) and a tolerance mark (`line.tolerance`), inside a
 * `g.verify-row` with class `ok` or `fail`.
 */
export function verifyChart(rows: VerifyRowView[], options: VerifyChartOptions = {}): string {
  requireNonEmpty("verify rows", rows);
  rows.forEach((r, i) => {
    if (typeof r.name !== "string") throw new TypeError(`viz: verify[${i}].name must be a string`);
    requireFinite(`verify[${i}].tolerance`, r.tolerance);
    if (!(r.tolerance > 0)) {
      throw new RangeError(`viz: verify[${i}].tolerance must be > 0, got ${r.tolerance}`);
    }
    if (typeof r.relDiff !== "number") {
      throw new TypeError(`viz: verify[${i}].relDiff must be a number, got ${String(r.relDiff)}`);
    }
  });
  const passed = rows.filter((r) => r.ok).length;
  const title = options.title ??
    `Backend verification: ${passed}/${rows.length} tensors within tolerance`;
  const axis = logAxis(rows, options.floor);
  return rows.length > (options.maxRowsForBars ?? 40)
    ? stripLayout(rows, axis, title, options.width ?? DEFAULT_WIDTH)
    : barLayout(rows, axis, title, options.width ?? DEFAULT_WIDTH);
}

function drawStatusLegend(svg: SvgSelection, x: number): void {
  drawLegend(
    svg,
    [
      { label: "within tolerance", color: STATUS_COLORS.ok },
      { label: "NOT OK", color: STATUS_COLORS.fail },
      { label: "tolerance", color: "#000000", kind: "tick" },
    ],
    x,
    46,
    { columns: 3, columnWidth: 130 },
  );
}

function barLayout(rows: VerifyRowView[], axis: LogAxis, title: string, width: number): string {
  const rowHeight = 24;
  // Names that already carry their shapes (e.g. "conv2d [2,9,9,3]*[3,3,3,5]") are shown as given.
  const labels = rows.map((r) =>
    r.name.includes("[")
      ? r.name
      : `${r.name} [${
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
  const svg = createSvg(width, height, title);
  const x = d3.scaleLog().domain([axis.lo, axis.hi]).range([0, innerWidth]).clamp(true);
  const y = d3.scaleBand<number>().domain(rows.map((_, i) => i)).range([0, innerHeight])
    .padding(0.25);
  const g = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);
  const grid = g.append("g").attr("class", "grid").attr("stroke", "#e3e3e3");
  for (const t of axis.ticks) {
    grid.append("line").attr("x1", round(x(t))).attr("x2", round(x(t))).attr("y1", 0)
      .attr("y2", innerHeight);
  }
  rows.forEach((row, i) => {
    const color = row.ok ? STATUS_COLORS.ok : STATUS_COLORS.fail;
    const band = y(i)!;
    const rowG = g.append("g").attr("class", row.ok ? "verify-row ok" : "verify-row fail");
    rowG.append("title").text(rowTitle(row));
    rowG.append("rect").attr("class", "bar value").attr("x", 0).attr("y", round(band))
      .attr("width", Math.max(1.5, round(x(plotted(row, axis)))))
      .attr("height", round(y.bandwidth()))
      .attr("fill", color).attr("fill-opacity", 0.85);
    const tx = round(x(row.tolerance));
    rowG.append("line").attr("class", "tolerance")
      .attr("x1", tx).attr("x2", tx)
      .attr("y1", round(band - 3)).attr("y2", round(band + y.bandwidth() + 3))
      .attr("stroke", "#000000").attr("stroke-width", 2);
    rowG.append("text").attr("class", "status")
      .attr("x", innerWidth + 6).attr("y", round(band + y.bandwidth() / 2))
      .attr("dy", "0.35em").attr("font-size", FONT.tick).attr("font-weight", "bold")
      .attr("fill", color).text((row.ok ? "OK" : "NOT OK") + pinnedNote(row));
    rowG.append("text").attr("x", -8).attr("y", round(band + y.bandwidth() / 2))
      .attr("dy", "0.35em").attr("text-anchor", "end").attr("font-size", FONT.tick)
      .attr("fill", TEXT_COLOR).text(truncateText(labels[i], labelWidth, FONT.tick));
  });
  styleAxis(
    g.append("g").attr("transform", `translate(0,${innerHeight})`)
      .call(d3.axisBottom(x).tickValues(axis.ticks).tickFormat(d3.format("~e"))),
  );
  addLabel(
    svg,
    "relative difference to reference (dimensionless, log scale)",
    margin.left + innerWidth / 2,
    height - 14,
  );
  drawStatusLegend(svg, margin.left);
  addLabel(svg, "tensor [shape]", margin.left - 8, margin.top - 8, {
    anchor: "end",
    size: FONT.tick,
    color: MUTED_COLOR,
  });
  return svgToString(svg);
}

/** Contiguous runs of the same `group`, in row order. */
function groupRuns(rows: VerifyRowView[]): { name: string; start: number; end: number }[] {
  const runs: { name: string; start: number; end: number }[] = [];
  rows.forEach((row, i) => {
    const name = row.group ?? "";
    const last = runs[runs.length - 1];
    if (last && last.name === name) last.end = i + 1;
    else runs.push({ name, start: i, end: i + 1 });
  });
  return runs;
}

function stripLayout(rows: VerifyRowView[], axis: LogAxis, title: string, width: number): string {
  const failures = rows.filter((r) => !r.ok);
  const listed = failures.slice(0, 8);
  const margin = { left: 64, right: 16, top: 70, bottom: 76 };
  const innerWidth = width - margin.left - margin.right;
  const innerHeight = 260;
  const listTop = margin.top + innerHeight + margin.bottom;
  const listHeight = failures.length === 0
    ? 0
    : 22 + 16 * (listed.length + (failures.length > listed.length ? 1 : 0));
  const height = listTop + listHeight + 8;
  const svg = createSvg(width, height, title);
  const runs = groupRuns(rows);
  // Slot positions: one per row plus a gap of 4 slots between groups.
  const gapSlots = 4;
  const slotOf = rows.map((_, i) =>
    i + gapSlots * runs.findIndex((r) => i >= r.start && i < r.end)
  );
  const totalSlots = rows.length + gapSlots * (runs.length - 1);
  const x = d3.scaleLinear().domain([-0.5, totalSlots - 0.5]).range([0, innerWidth]);
  const slotWidth = innerWidth / totalSlots;
  const y = d3.scaleLog().domain([axis.lo, axis.hi]).range([innerHeight, 0]).clamp(true);
  const g: GroupSelection = svg.append("g")
    .attr("transform", `translate(${margin.left},${margin.top})`);
  const grid = g.append("g").attr("class", "grid").attr("stroke", "#e3e3e3");
  for (const t of axis.ticks) {
    grid.append("line").attr("x1", 0).attr("x2", innerWidth).attr("y1", round(y(t)))
      .attr("y2", round(y(t)));
  }
  // Group separators and names under the axis.
  runs.forEach((run, k) => {
    const x0 = x(slotOf[run.start] - 0.5), x1 = x(slotOf[run.end - 1] + 0.5);
    if (k > 0) {
      const sep = x0 - (gapSlots / 2) * slotWidth;
      g.append("line").attr("class", "group-separator").attr("x1", round(sep)).attr(
        "x2",
        round(sep),
      )
        .attr("y1", 0).attr("y2", innerHeight).attr("stroke", "#bbbbbb").attr(
          "stroke-dasharray",
          "3,3",
        );
    }
    if (run.name) {
      const label = truncateText(run.name, Math.max(40, x1 - x0), FONT.tick);
      addLabel(g, label, (x0 + x1) / 2, innerHeight + 18, {
        size: FONT.tick,
        className: "group-label",
      });
    }
  });
  const tickHalf = Math.max(1.5, slotWidth / 2);
  rows.forEach((row, i) => {
    const color = row.ok ? STATUS_COLORS.ok : STATUS_COLORS.fail;
    const cx = x(slotOf[i]);
    const rowG = g.append("g").attr("class", row.ok ? "verify-row ok" : "verify-row fail");
    rowG.append("title").text(rowTitle(row));
    const ty = round(y(row.tolerance));
    rowG.append("line").attr("class", "tolerance")
      .attr("x1", round(cx - tickHalf)).attr("x2", round(cx + tickHalf)).attr("y1", ty).attr(
        "y2",
        ty,
      )
      .attr("stroke", "#000000").attr("stroke-width", 1.5);
    rowG.append("rect").attr("class", "value")
      .attr("x", round(cx - 2.5)).attr("y", round(y(plotted(row, axis)) - 2.5))
      .attr("width", 5).attr("height", 5)
      .attr("fill", color);
  });
  styleAxis(
    g.append("g").call(d3.axisLeft(y).tickValues(axis.ticks).tickFormat(d3.format("~e"))),
    "y-axis",
  );
  g.append("line").attr("x1", 0).attr("x2", innerWidth).attr("y1", innerHeight)
    .attr("y2", innerHeight).attr("stroke", MUTED_COLOR);
  addLabel(
    svg,
    "relative difference (dimensionless, log scale)",
    16,
    margin.top + innerHeight / 2,
    {
      rotate: -90,
    },
  );
  addLabel(
    svg,
    `checked tensors in harness order (${rows.length}), grouped`,
    margin.left + innerWidth / 2,
    margin.top + innerHeight + 44,
  );
  drawStatusLegend(svg, margin.left);
  if (failures.length > 0) {
    const list = svg.append("g").attr("class", "failure-list")
      .attr("transform", `translate(${margin.left},${listTop})`);
    addLabel(list, `NOT OK (${failures.length}):`, 0, 0, {
      anchor: "start",
      weight: "bold",
      color: STATUS_COLORS.fail,
    });
    listed.forEach((row, k) => {
      const text = `${row.group ? `${row.group}: ` : ""}${row.name} — relDiff ${
        d3.format(".2~e")(row.relDiff)
      }, tolerance ${d3.format(".1~e")(row.tolerance)}`;
      addLabel(list, truncateText(text, innerWidth, FONT.tick), 0, 20 + 16 * k, {
        anchor: "start",
        size: FONT.tick,
        className: "failure",
      });
    });
    if (failures.length > listed.length) {
      addLabel(list, `… and ${failures.length - listed.length} more`, 0, 20 + 16 * listed.length, {
        anchor: "start",
        size: FONT.tick,
        color: MUTED_COLOR,
      });
    }
  }
  return svgToString(svg);
}
