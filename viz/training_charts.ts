/**
 * Training charts: loss and learning rate against step, and the collapse monitors (feature std,
 * alignment, uniformity) with kNN accuracy against epoch.
 *
 * @module
 */
// @ts-types="@types/d3"
import * as d3 from "d3";
import type { TrainEpoch, TrainStep } from "./types.ts";
import {
  addLabel,
  type ChartOptions,
  createSvg,
  DEFAULT_WIDTH,
  drawHorizontalGrid,
  drawLegend,
  FONT,
  type GroupSelection,
  MUTED_COLOR,
  round,
  styleAxis,
  svgToString,
} from "./svg.ts";
import { requireFinite, requireNonEmpty } from "./validate.ts";

const LOSS_COLOR = "#0072B2";
const LR_COLOR = "#D55E00";
const REFERENCE_COLOR = "#009E73";
const WARNING_COLOR = "#D55E00";

/** Options of {@link trainingCurvesChart}. */
export interface TrainingCurvesOptions extends ChartOptions {
  /** Smoothing factor of the exponential moving average drawn over the loss (default 0.98). */
  emaDecay?: number;
  /** Above this many steps the raw loss is drawn as a per-pixel min–max band (default 1200). */
  maxRawPoints?: number;
}

/** Exponential moving average with bias correction (so early values are not pulled to 0). */
export function exponentialMovingAverage(values: number[], decay: number): number[] {
  const out: number[] = [];
  let avg = 0;
  for (let i = 0; i < values.length; i++) {
    avg = decay * avg + (1 - decay) * values[i];
    out.push(avg / (1 - Math.pow(decay, i + 1)));
  }
  return out;
}

/** Domain [lo, hi] padded when it is a single value, so scales never divide by zero. */
function safeExtent(values: number[], pad = 0.05): [number, number] {
  let [lo, hi] = d3.extent(values) as [number, number];
  if (lo === hi) {
    const delta = Math.abs(lo) * 0.1 || 1;
    return [lo - delta, hi + delta];
  }
  const margin = (hi - lo) * pad;
  lo -= margin;
  hi += margin;
  return [lo, hi];
}

/**
 * Two stacked panels sharing the step axis: NT-Xent loss (raw per step, or its per-pixel min–max
 * band for long runs, plus a bias-corrected EMA) and the learning-rate schedule.
 */
export function trainingCurvesChart(
  steps: TrainStep[],
  options: TrainingCurvesOptions = {},
): string {
  requireNonEmpty("training log steps", steps);
  steps.forEach((s, i) => {
    requireFinite(`steps[${i}].step`, s.step);
    requireFinite(`steps[${i}].lr`, s.lr);
    if (typeof s.loss !== "number") {
      throw new TypeError(`viz: steps[${i}].loss must be a number, got ${String(s.loss)}`);
    }
  });
  // A diverged run logs NaN/∞ losses: that is a result to show, not bad input, so those steps
  // are left out of the loss lines and counted in a warning instead.
  const allSteps = steps;
  steps = steps.filter((s) => Number.isFinite(s.loss));
  const nonFinite = allSteps.length - steps.length;
  if (steps.length === 0) {
    throw new RangeError(
      `viz: all ${allSteps.length} steps have a non-finite loss; nothing to plot`,
    );
  }
  const width = options.width ?? DEFAULT_WIDTH;
  const height = 450;
  const margin = { left: 72, right: 24 };
  const innerWidth = width - margin.left - margin.right;
  const lossPanel = { top: 62, height: 170 };
  const lrPanel = { top: 290, height: 100 };
  const svg = createSvg(width, height, options.title ?? "Training loss and learning rate");

  const stepValues = steps.map((s) => s.step);
  const stepExtent = d3.extent(allSteps, (s) => s.step) as [number, number];
  const x = d3.scaleLinear().domain(stepExtent).range([0, innerWidth]);
  if (stepExtent[0] === stepExtent[1]) x.domain([stepExtent[0] - 1, stepExtent[0] + 1]);
  if (nonFinite > 0) {
    const text = `⚠ ${nonFinite} step${nonFinite > 1 ? "s" : ""} with non-finite loss not drawn`;
    addLabel(svg, text, margin.left, 48, {
      anchor: "start",
      size: FONT.tick,
      color: WARNING_COLOR,
      weight: "bold",
      className: "warning",
    });
  }

  // Loss panel.
  const losses = steps.map((s) => s.loss);
  const ema = exponentialMovingAverage(losses, options.emaDecay ?? 0.98);
  const yLoss = d3.scaleLinear().domain(safeExtent(losses)).range([lossPanel.height, 0]).nice();
  const lossG = svg.append("g").attr("class", "panel loss-panel")
    .attr("transform", `translate(${margin.left},${lossPanel.top})`);
  drawHorizontalGrid(lossG, yLoss.ticks(5), yLoss, innerWidth);
  drawEpochBoundaries(lossG, steps, x, lossPanel.height);
  const maxRaw = options.maxRawPoints ?? 1200;
  if (steps.length <= maxRaw) {
    lossG.append("path").attr("class", "loss-raw")
      .attr(
        "d",
        d3.line<TrainStep>().x((s) => round(x(s.step))).y((s) => round(yLoss(s.loss)))(steps),
      )
      .attr("fill", "none").attr("stroke", LOSS_COLOR).attr("stroke-opacity", 0.35)
      .attr("stroke-width", 1);
  } else {
    // Thousands of steps in 500 px: one min–max band per pixel shows the noise honestly without
    // a path of tens of thousands of vertices.
    const buckets = d3.groups(steps, (s) => Math.floor(x(s.step)));
    const band = buckets.map(([px, group]) => ({
      px,
      lo: d3.min(group, (s) => s.loss)!,
      hi: d3.max(group, (s) => s.loss)!,
    }));
    lossG.append("path").attr("class", "loss-band")
      .attr(
        "d",
        d3.area<{ px: number; lo: number; hi: number }>().x((b) => b.px)
          .y0((b) => round(yLoss(b.lo))).y1((b) => round(yLoss(b.hi)))(band),
      )
      .attr("fill", LOSS_COLOR).attr("fill-opacity", 0.25);
  }
  // For long runs keep one EMA vertex per pixel column (the last step in it): the EMA is smooth,
  // so nothing visible is lost and the file stays small.
  const emaPoints = ema.map((v, i) => [x(stepValues[i]), yLoss(v)] as [number, number]);
  const emaShown = steps.length <= maxRaw
    ? emaPoints
    : d3.groups(emaPoints, (p) => Math.floor(p[0])).map(([, group]) => group[group.length - 1]);
  lossG.append("path").attr("class", "loss-ema")
    .attr("d", d3.line().x((p) => round(p[0])).y((p) => round(p[1]))(emaShown))
    .attr("fill", "none").attr("stroke", LOSS_COLOR).attr("stroke-width", 2);
  styleAxis(lossG.append("g").call(d3.axisLeft(yLoss).ticks(5)), "y-axis");
  styleAxis(
    lossG.append("g").attr("transform", `translate(0,${lossPanel.height})`)
      .call(d3.axisBottom(x).ticks(6).tickFormat(d3.format("~s"))),
  );
  addLabel(svg, "NT-Xent loss (nats)", 18, lossPanel.top + lossPanel.height / 2, { rotate: -90 });
  drawLegend(
    svg,
    [
      {
        label: steps.length <= maxRaw ? "loss per step" : "per-step min–max",
        color: LOSS_COLOR,
        kind: steps.length <= maxRaw ? "line" : "square",
      },
      { label: "moving average", color: LOSS_COLOR, kind: "line" },
    ],
    width - margin.right - 250,
    44,
    { columns: 2, columnWidth: 130 },
  );

  // Learning-rate panel.
  steps = allSteps;
  const lrs = steps.map((s) => s.lr);
  const yLr = d3.scaleLinear().domain([0, (d3.max(lrs) || 1) * 1.08]).range([lrPanel.height, 0])
    .nice(4);
  const lrG = svg.append("g").attr("class", "panel lr-panel")
    .attr("transform", `translate(${margin.left},${lrPanel.top})`);
  drawHorizontalGrid(lrG, yLr.ticks(4), yLr, innerWidth);
  // The schedule is piecewise smooth; one vertex per pixel column is enough for long runs too.
  const lrSteps = steps.length <= maxRaw
    ? steps
    : d3.groups(steps, (s) => Math.floor(x(s.step))).map(([, group]) => group[group.length - 1]);
  lrG.append("path").attr("class", "lr-line")
    .attr(
      "d",
      d3.line<TrainStep>().x((s) => round(x(s.step))).y((s) => round(yLr(s.lr)))(lrSteps),
    )
    .attr("fill", "none").attr("stroke", LR_COLOR).attr("stroke-width", 2);
  // Two significant digits: with one (d3's default for this step), 0.0012 and 0.001 both read 0.001.
  styleAxis(
    lrG.append("g").call(d3.axisLeft(yLr).ticks(4).tickFormat(d3.format(".2~g"))),
    "y-axis",
  );
  styleAxis(
    lrG.append("g").attr("transform", `translate(0,${lrPanel.height})`)
      .call(d3.axisBottom(x).ticks(6).tickFormat(d3.format("~s"))),
  );
  addLabel(svg, "learning rate", 18, lrPanel.top + lrPanel.height / 2, { rotate: -90 });
  addLabel(
    svg,
    "optimizer step (batches)",
    margin.left + innerWidth / 2,
    lrPanel.top + lrPanel.height + 40,
  );
  return svgToString(svg);
}

/** Faint vertical lines where a new epoch starts (only when there are few enough to read). */
function drawEpochBoundaries(
  g: GroupSelection,
  steps: TrainStep[],
  x: d3.ScaleLinear<number, number>,
  height: number,
): void {
  const starts: number[] = [];
  for (let i = 1; i < steps.length; i++) {
    if (steps[i].epoch !== steps[i - 1].epoch) starts.push(steps[i].step);
  }
  if (starts.length === 0 || starts.length > 40) return;
  const lines = g.append("g").attr("class", "epoch-boundaries").attr("stroke", "#cccccc")
    .attr("stroke-dasharray", "2,3");
  for (const s of starts) {
    lines.append("line").attr("x1", round(x(s))).attr("x2", round(x(s)))
      .attr("y1", 0).attr("y2", height);
  }
}

/** Options of {@link collapseMonitorsChart}. */
export type CollapseMonitorsOptions = ChartOptions;

interface PanelSpec {
  title: string;
  yLabel: string;
  values: (number | undefined)[];
  color: string;
  /** Domain forced to include these values (e.g. 0 and the reference line). */
  include?: number[];
  reference?: { value: number; label: string };
  format?: (v: number) => string;
}

/**
 * Four panels against epoch: mean per-dimension std of normalised features with the healthy
 * `1/sqrt(d)` reference, alignment, uniformity, and kNN accuracy (when logged).
 */
export function collapseMonitorsChart(
  epochs: TrainEpoch[],
  featureDim: number,
  options: CollapseMonitorsOptions = {},
): string {
  requireNonEmpty("training log epochs", epochs);
  if (!Number.isInteger(featureDim) || featureDim <= 0) {
    throw new RangeError(`viz: featureDim must be a positive integer, got ${featureDim}`);
  }
  // Epoch numbers must be finite; monitor values may be NaN/∞ (a diverged run) and are then
  // skipped and counted in the panel.
  epochs.forEach((e, i) => {
    requireFinite(`epochs[${i}].epoch`, e.epoch);
    for (const key of ["featureStd", "alignment", "uniformity"] as const) {
      if (typeof e[key] !== "number") {
        throw new TypeError(`viz: epochs[${i}].${key} must be a number, got ${String(e[key])}`);
      }
    }
  });
  const width = options.width ?? DEFAULT_WIDTH;
  const height = 470;
  const svg = createSvg(width, height, options.title ?? "Collapse monitors and kNN accuracy");
  const healthy = 1 / Math.sqrt(featureDim);
  const knn = epochs.map((e) => e.knnAccuracy === undefined ? undefined : e.knnAccuracy * 100);
  const panels: PanelSpec[] = [
    {
      title: "Feature std (→ 0 means collapse)",
      yLabel: "std per dimension",
      values: epochs.map((e) => e.featureStd),
      color: "#0072B2",
      include: [0, healthy],
      reference: { value: healthy, label: `1/√d = ${d3.format(".3f")(healthy)}` },
    },
    {
      title: "Alignment (lower = views agree)",
      yLabel: "mean ‖u−v‖² (unit sphere)",
      values: epochs.map((e) => e.alignment),
      color: "#D55E00",
      include: [0],
    },
    {
      title: "Uniformity (lower = more uniform)",
      yLabel: "log E exp(−2‖u−v‖²)",
      values: epochs.map((e) => e.uniformity),
      color: "#CC79A7",
    },
    {
      title: "kNN accuracy",
      yLabel: "test accuracy (%)",
      values: knn,
      color: "#009E73",
      format: (v) => `${v}%`,
    },
  ];
  const epochValues = epochs.map((e) => e.epoch);
  const panelWidth = (width - 60 - 24 - 70) / 2;
  const panelHeight = 140;
  const lefts = [60, 60 + panelWidth + 70];
  const tops = [72, 72 + panelHeight + 82];
  const x = d3.scaleLinear().domain(safeExtent(epochValues, 0.03)).range([0, panelWidth]);
  if (epochValues.length > 1) x.domain(d3.extent(epochValues) as [number, number]);

  panels.forEach((panel, i) => {
    const left = lefts[i % 2];
    const top = tops[Math.floor(i / 2)];
    const g = svg.append("g").attr("class", "panel")
      .attr("transform", `translate(${left},${top})`);
    addLabel(g, panel.title, panelWidth / 2, -12, {
      size: FONT.panelTitle,
      weight: "bold",
      className: "panel-title",
    });
    const defined = panel.values.filter((v): v is number => v !== undefined && Number.isFinite(v));
    if (defined.length === 0) {
      g.append("rect").attr("width", panelWidth).attr("height", panelHeight).attr("fill", "none")
        .attr("stroke", "#dddddd");
      const logged = panel.values.some((v) => v !== undefined);
      addLabel(g, logged ? "⚠ no finite values" : "not logged", panelWidth / 2, panelHeight / 2, {
        color: logged ? WARNING_COLOR : MUTED_COLOR,
      });
      return;
    }
    // Pad the data range, then extend it to the pinned values (0, the reference) without
    // padding past them, so non-negative monitors never show a negative axis.
    const domain = safeExtent(defined, 0.08);
    for (const pinned of panel.include ?? []) {
      domain[0] = Math.min(domain[0], pinned);
      domain[1] = Math.max(domain[1], pinned);
    }
    if (d3.min(defined)! >= 0 && (panel.include ?? []).includes(0)) {
      domain[0] = Math.max(0, domain[0]);
    }
    const y = d3.scaleLinear().domain(domain).range([panelHeight, 0]).nice(4);
    drawHorizontalGrid(g, y.ticks(4), y, panelWidth);
    if (panel.reference) {
      const yr = round(y(panel.reference.value));
      g.append("line").attr("class", "reference").attr("x1", 0).attr("x2", panelWidth)
        .attr("y1", yr).attr("y2", yr)
        .attr("stroke", REFERENCE_COLOR).attr("stroke-width", 1.5).attr("stroke-dasharray", "6,4");
      addLabel(g, `healthy ${panel.reference.label}`, panelWidth - 4, yr - 5, {
        anchor: "end",
        size: FONT.tick,
        color: "#006b4e",
      });
    }
    const points = epochValues.map((e, j) => [e, panel.values[j]] as [number, number | undefined])
      .filter((p): p is [number, number] => p[1] !== undefined && Number.isFinite(p[1]));
    const skipped = panel.values.filter((v) => v !== undefined && !Number.isFinite(v)).length;
    if (skipped > 0) {
      addLabel(g, `⚠ ${skipped} non-finite not drawn`, panelWidth - 4, panelHeight - 6, {
        anchor: "end",
        size: FONT.tick,
        color: WARNING_COLOR,
        className: "warning",
      });
    }
    g.append("path").attr("class", "series")
      .attr("d", d3.line().x((p) => round(x(p[0]))).y((p) => round(y(p[1])))(points))
      .attr("fill", "none").attr("stroke", panel.color).attr("stroke-width", 2);
    if (points.length <= 30) {
      const dots = g.append("g").attr("class", "markers").attr("fill", panel.color);
      for (const [e, v] of points) {
        dots.append("rect").attr("x", round(x(e) - 2.5)).attr("y", round(y(v) - 2.5))
          .attr("width", 5).attr("height", 5);
      }
    }
    const yAxis = d3.axisLeft(y).ticks(4);
    if (panel.format) yAxis.tickFormat((v) => panel.format!(Number(v)));
    styleAxis(g.append("g").call(yAxis), "y-axis");
    styleAxis(
      g.append("g").attr("transform", `translate(0,${panelHeight})`)
        .call(d3.axisBottom(x).ticks(Math.min(6, epochValues.length)).tickFormat(d3.format("~d"))),
    );
    addLabel(g, panel.yLabel, -42, panelHeight / 2, { rotate: -90, size: FONT.tick });
    addLabel(g, "epoch", panelWidth / 2, panelHeight + 34, { size: FONT.tick });
  });
  addLabel(
    svg,
    `feature dimension d = ${featureDim}; all monitors on L2-normalised features`,
    width / 2,
    42,
    {
      size: FONT.tick,
      color: MUTED_COLOR,
    },
  );
  return svgToString(svg);
}
