/**
 * Plots and the offline HTML report for simclr-ts. Every function takes plain data (numbers,
 * arrays, typed arrays; see `types.ts`) and returns an SVG or HTML string; d3 builds the markup in
 * a detached linkedom document, so no browser and no tensor backend is involved.
 *
 * @example
 * ```ts
 * import { writeReport } from "@simclr/viz";
 * await writeReport("runs/run1/report", { log, results, verify, gallery });
 * ```
 *
 * @module
 */
export type * from "./types.ts";
export {
  CLASS_COLORS,
  classColor,
  STATUS_COLORS,
  VARIANT_COLORS,
  VARIANT_LABELS,
  variantColor,
  variantLabel,
} from "./palette.ts";
export {
  collapseMonitorsChart,
  type CollapseMonitorsOptions,
  exponentialMovingAverage,
  trainingCurvesChart,
  type TrainingCurvesOptions,
} from "./training_charts.ts";
export { pcaScatterChart, scatterChart, type ScatterOptions, tsneScatterChart } from "./scatter.ts";
export { confusionHeatmap, contingencyHeatmap, orderClusters } from "./heatmaps.ts";
export { clusterImageGrid, neighbourPurityChart, type PurityCurve } from "./cluster_charts.ts";
export { perClassAccuracyChart, type PerClassInput } from "./bars.ts";
export { verifyChart, type VerifyChartOptions } from "./verify_chart.ts";
export { augmentationGallery, type GalleryOptions, imageSide, upscaleNearest } from "./gallery.ts";
export { crc32, encodePng, pngDataUri, toBase64 } from "./png.ts";
export {
  escapeHtml,
  type Figure,
  renderFigures,
  renderReport,
  writeReport,
  writeTextAtomic,
} from "./report.ts";
export { type ChartOptions, formatDuration, formatPercent } from "./svg.ts";
