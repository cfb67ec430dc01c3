/**
 * The offline HTML report: headline numbers, every chart inline as SVG with a one-line caption,
 * no scripts and no external resources (a Content-Security-Policy forbids any), and sections for
 * missing data left out.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { ReportData, Results, TrainingLog, VariantResult } from "./types.ts";
import { collapseMonitorsChart, trainingCurvesChart } from "./training_charts.ts";
import { pcaScatterChart, tsneScatterChart } from "./scatter.ts";
import { confusionHeatmap, contingencyHeatmap } from "./heatmaps.ts";
import { perClassAccuracyChart } from "./bars.ts";
import { verifyChart } from "./verify_chart.ts";
import { augmentationGallery } from "./gallery.ts";
import { clusterImageGrid, neighbourPurityChart } from "./cluster_charts.ts";
import { variantColor, variantLabel } from "./palette.ts";
import { FONT_FAMILY, formatDuration, formatPercent } from "./svg.ts";

/** One rendered chart with where it goes in the report and its file name. */
export interface Figure {
  /** Report section heading the figure belongs to. */
  section: string;
  /** File name used by {@link writeReport}, e.g. `"tsne-simclr.svg"`. */
  fileName: string;
  /** One-line caption shown under the figure. */
  caption: string;
  /** The chart as a standalone SVG document string (empty when `error` is set). */
  svg: string;
  /** Why the chart could not be drawn (invalid data); absent when it rendered. */
  error?: string;
}

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** A variant name made safe for a file name (letters, digits, '-', '_' only). */
function fileSlug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "") || "variant";
}

const SIMCLR_FIRST = (a: VariantResult, b: VariantResult) =>
  Number(b.name === "simclr") - Number(a.name === "simclr");

/** The variant whose heatmaps are shown: SimCLR when present, else the first. */
function mainVariant(results: Results): VariantResult | undefined {
  return results.variants.find((v) => v.name === "simclr") ?? results.variants[0];
}

/**
 * Renders every chart the data allows, in report order. A chart whose data is invalid does not
 * sink the whole report: its figure carries the error message instead of an SVG.
 */
export function renderFigures(data: ReportData): Figure[] {
  const figures: Figure[] = [];
  const add = (section: string, fileName: string, make: () => { caption: string; svg: string }) => {
    try {
      figures.push({ section, fileName, ...make() });
    } catch (err) {
      figures.push({ section, fileName, caption: "", svg: "", error: (err as Error).message });
    }
  };
  const log = data.log;
  if (log && log.steps?.length > 0) {
    add("Training", "training-loss-lr.svg", () => ({
      caption: `NT-Xent loss and learning rate over ${
        log.steps.length.toLocaleString("en")
      } steps; final loss ${log.steps[log.steps.length - 1].loss.toFixed(3)} nats.`,
      svg: trainingCurvesChart(log.steps),
    }));
  }
  if (log && log.epochs?.length > 0) {
    add("Training", "collapse-monitors.svg", () => {
      const last = log.epochs[log.epochs.length - 1];
      const healthy = 1 / Math.sqrt(log.featureDim);
      return {
        caption: `Collapse monitors per epoch: final feature std ${
          last.featureStd.toFixed(4)
        } (healthy ≈ ${healthy.toFixed(4)}), alignment ${last.alignment.toFixed(3)}, uniformity ${
          last.uniformity.toFixed(3)
        }.`,
        svg: collapseMonitorsChart(log.epochs, log.featureDim),
      };
    });
  }
  const results = data.results;
  if (results && results.variants?.length > 0) {
    const classNames = results.classNames;
    const variants = [...results.variants].sort(SIMCLR_FIRST);
    for (const v of variants) {
      if (!v.pca) continue;
      const pca = v.pca;
      add("Representations", `pca-${fileSlug(v.name)}.svg`, () => {
        const ratio = pca.explainedRatio ?? [];
        return {
          caption: `PCA of ${
            variantLabel(v.name)
          } test features coloured by true class; PC 1–2 explain ${
            formatPercent((ratio[0] ?? NaN) + (ratio[1] ?? NaN))
          } of the variance.`,
          svg: pcaScatterChart(pca, classNames, { variantLabel: variantLabel(v.name) }),
        };
      });
    }
    for (const v of variants) {
      if (!v.tsne) continue;
      const tsne = v.tsne;
      add("Representations", `tsne-${fileSlug(v.name)}.svg`, () => ({
        caption: `t-SNE of ${tsne.labels.length.toLocaleString("en")} ${
          variantLabel(v.name)
        } test features; ${
          formatPercent(tsne.neighbourPreservation)
        } of nearest neighbours preserved.`,
        svg: tsneScatterChart(tsne, classNames, { variantLabel: variantLabel(v.name) }),
      }));
    }
    const main = mainVariant(results)!;
    const kmeans = main.kmeans;
    if (kmeans) {
      add("Clustering and linear probe", "kmeans-contingency.svg", () => ({
        caption: `k-means clusters of ${
          variantLabel(main.name)
        } features against true classes, Hungarian-matched on the diagonal; NMI ${
          kmeans.nmi.toFixed(3)
        }.`,
        svg: contingencyHeatmap(kmeans, classNames, { variantLabel: variantLabel(main.name) }),
      }));
    }
    if (main.scan) {
      const scan = main.scan;
      add("Clustering and linear probe", "scan-contingency.svg", () => ({
        caption: `SCAN clusters of ${
          variantLabel(main.name)
        } features against true classes, Hungarian-matched; NMI ${scan.nmi.toFixed(3)}, ACC ${
          formatPercent(scan.accuracy)
        } (k-means: ${
          kmeans ? `${kmeans.nmi.toFixed(3)}, ${formatPercent(kmeans.accuracy)}` : "–"
        }).`,
        svg: contingencyHeatmap(scan, classNames, {
          variantLabel: variantLabel(main.name),
          method: "SCAN",
        }),
      }));
    }
    const purity = variants.filter((v) => (v.scan?.neighbourPurity?.length ?? 0) > 0);
    if (purity.length > 0) {
      const k = main.scan?.k ?? purity[0].scan!.k;
      add("Clustering and linear probe", "neighbour-purity.svg", () => ({
        caption: `Share of each train image's k nearest neighbours (cosine) with its class: ${
          purity.map((v) =>
            `${variantLabel(v.name)} ${
              formatPercent(
                v.scan!.neighbourPurity![Math.min(k ?? 1, v.scan!.neighbourPurity!.length) - 1],
              )
            }`
          ).join(", ")
        } at k = ${k ?? 1}.`,
        svg: neighbourPurityChart(
          purity.map((v) => ({ name: v.name, purity: v.scan!.neighbourPurity! })),
          { k },
        ),
      }));
    }
    const grid = data.clusterImages;
    if (grid && grid.length > 0) {
      add("Clustering and linear probe", "scan-clusters.svg", () => ({
        caption: `The ${
          Math.max(...grid.map((r) => r.images.length))
        } test images each SCAN cluster is most confident about (${
          variantLabel(main.name)
        } features); the true class under each, blue where it is the cluster's matched class.`,
        svg: clusterImageGrid(grid, classNames),
      }));
    }
    add("Clustering and linear probe", "probe-confusion.svg", () => ({
      caption: `Linear-probe confusion matrix on ${
        variantLabel(main.name)
      } features (test accuracy ${formatPercent(main.probe.testAccuracy)}).`,
      svg: confusionHeatmap(main.probe, classNames, { variantLabel: variantLabel(main.name) }),
    }));
    add("Clustering and linear probe", "per-class-accuracy.svg", () => ({
      caption: `Per-class linear-probe accuracy: ${
        variants.map((v) => variantLabel(v.name)).join(" vs ")
      }.`,
      svg: perClassAccuracyChart(variants, classNames),
    }));
  }
  const verify = data.verify;
  if (verify && verify.length > 0) {
    add("Backend verification", "verify.svg", () => ({
      caption: `Relative difference of each checked tensor to the reference backend (log scale); ${
        verify.filter((r) => r.ok).length
      } of ${verify.length} within tolerance.`,
      svg: verifyChart(verify),
    }));
  }
  const gallery = data.gallery;
  if (gallery && gallery.length > 0) {
    add("Augmentations", "augmentations.svg", () => ({
      caption:
        `${gallery.length} training images, each shown with two independently augmented views.`,
      svg: augmentationGallery(gallery, {
        classNames: data.results?.classNames ?? data.classNames,
      }),
    }));
  }
  return figures;
}

/** Median of the finite values (NaN when none). */
function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function trainingStats(log: TrainingLog): [string, string][] {
  const stats: [string, string][] = [];
  const steps = log.steps ?? [];
  if (steps.length > 0) {
    stats.push(["Training time", formatDuration(steps[steps.length - 1].time)]);
    // The median ignores the slow first steps (compilation, warm-up) and occasional stalls.
    stats.push([
      "Throughput (median)",
      `${Math.round(median(steps.map((s) => s.imagesPerSec))).toLocaleString("en")} images/s`,
    ]);
    stats.push(["Optimizer steps", steps.length.toLocaleString("en")]);
  }
  const epochs = log.epochs ?? [];
  if (epochs.length > 0) {
    const last = epochs[epochs.length - 1];
    stats.push(["Epochs", String(epochs.length)]);
    stats.push(["Final loss", `${last.loss.toFixed(3)} nats`]);
    stats.push([
      "Final feature std",
      `${last.featureStd.toFixed(4)} (1/√d = ${(1 / Math.sqrt(log.featureDim)).toFixed(4)})`,
    ]);
  }
  return stats;
}

function headlineHtml(data: ReportData): string {
  const parts: string[] = [];
  const results = data.results;
  if (results && results.variants?.length > 0) {
    const variants = [...results.variants].sort(SIMCLR_FIRST);
    const simclr = variants.find((v) => v.name === "simclr");
    const baselines = variants.filter((v) => v.name !== "simclr");
    if (simclr && baselines.length > 0) {
      const best = baselines.reduce((
        a,
        b,
      ) => (b.probe.testAccuracy > a.probe.testAccuracy ? b : a));
      const gain = (simclr.probe.testAccuracy - best.probe.testAccuracy) * 100;
      parts.push(
        `<p class="lead">SimCLR linear probe <strong>${
          formatPercent(simclr.probe.testAccuracy)
        }</strong> vs best baseline (${escapeHtml(variantLabel(best.name))}) ${
          formatPercent(best.probe.testAccuracy)
        }: <strong>${gain >= 0 ? "+" : "−"}${Math.abs(gain).toFixed(1)} points</strong>.</p>`,
      );
    }
    const rows = variants.map((v) =>
      `<tr><th scope="row"><span class="swatch" style="background:${variantColor(v.name)}"></span>${
        escapeHtml(variantLabel(v.name))
      }</th><td>${formatPercent(v.probe.testAccuracy)}</td><td>${
        formatPercent(v.knn.accuracy)
      }</td><td>${v.kmeans ? v.kmeans.nmi.toFixed(3) : "–"}</td><td>${
        v.kmeans ? v.kmeans.ari.toFixed(3) : "–"
      }</td><td>${v.kmeans ? formatPercent(v.kmeans.accuracy) : "–"}</td></tr>`
    );
    const k = variants.find((v) => v.knn.k !== undefined)?.knn.k;
    parts.push(
      `<table class="numbers"><caption>Test-set evaluation of frozen features</caption><thead><tr><th scope="col">Representation</th><th scope="col">Linear probe</th><th scope="col">kNN${
        k !== undefined ? ` (k = ${k})` : ""
      }</th><th scope="col">k-means NMI</th><th scope="col">ARI</th><th scope="col">Cluster acc.</th></tr></thead><tbody>${
        rows.join("")
      }</tbody></table>`,
    );
  }
  if (results && results.variants?.some((v) => v.scan)) {
    parts.push(clusteringTable([...results.variants].sort(SIMCLR_FIRST)));
  }
  if (data.log) {
    const stats = trainingStats(data.log);
    if (stats.length > 0) {
      parts.push(
        `<dl class="stats">${
          stats.map(([k, v]) => `<div><dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd></div>`)
            .join("")
        }</dl>`,
      );
    }
  }
  if (data.verify && data.verify.length > 0) {
    const failed = data.verify.filter((r) => !r.ok).length;
    parts.push(
      `<p class="${failed === 0 ? "ok" : "fail"}">Backend verification: ${
        data.verify.length - failed
      }/${data.verify.length} tensors within tolerance${
        failed > 0 ? ` — ${failed} NOT OK` : ""
      }.</p>`,
    );
  }
  return parts.length > 0
    ? `<section id="headline"><h2>Headline numbers</h2>${parts.join("\n")}</section>`
    : "";
}

/** k-means against SCAN per representation, with SCAN's spread over head seeds when known. */
function clusteringTable(variants: VariantResult[]): string {
  const cells = (c?: { accuracy: number; nmi: number; ari: number }) =>
    c
      ? `<td>${formatPercent(c.accuracy)}</td><td>${c.nmi.toFixed(3)}</td><td>${
        c.ari.toFixed(3)
      }</td>`
      : "<td>–</td><td>–</td><td>–</td>";
  const spread = (xs: number[], f: (v: number) => string) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
    return `${f(m)} ± ${f(sd)}`;
  };
  const selfLabelled = variants.some((v) => v.scan?.selfLabel);
  const rows = variants.map((v) => {
    const seeds = v.scan?.seeds ?? [];
    const spreadCell = seeds.length > 1
      ? `<td>${spread(seeds.map((s) => s.accuracy), formatPercent)} / ${
        spread(seeds.map((s) => s.nmi), (x) => x.toFixed(3))
      } (${seeds.length} seeds)</td>`
      : "<td>–</td>";
    const swatch = `<span class="swatch" style="background:${variantColor(v.name)}"></span>`;
    const ft = v.scan?.finetune;
    // SCAN's second step: the same heads with the encoder trained too; k-means is not re-run.
    const finetuned = ft
      ? `<tr class="finetuned"><th scope="row">${swatch}${
        escapeHtml(variantLabel(v.name))
      }, encoder fine-tuned${
        ft.epochs === undefined ? "" : ` (${ft.epochs.toFixed(1)} epochs)`
      }</th>${cells()}${cells(ft)}${selfLabelled ? cells(ft.selfLabel) : ""}<td>–</td></tr>`
      : "";
    return `<tr><th scope="row">${swatch}${escapeHtml(variantLabel(v.name))}</th>${
      cells(v.kmeans)
    }${cells(v.scan)}${selfLabelled ? cells(v.scan?.selfLabel) : ""}${spreadCell}</tr>${finetuned}`;
  });
  const finetuned = variants.some((v) => v.scan?.finetune);
  return `<table class="numbers clustering"><caption>Clustering of the test set: k-means vs SCAN${
    selfLabelled ? " vs SCAN + self-labelling" : " (self-labelling not run)"
  }, on frozen features${
    finetuned ? " and with the encoder fine-tuned by the SCAN loss (SCAN's full method)" : ""
  }</caption><thead><tr><th scope="col">Representation</th><th scope="col">k-means ACC</th><th scope="col">NMI</th><th scope="col">ARI</th><th scope="col">SCAN ACC</th><th scope="col">NMI</th><th scope="col">ARI</th>${
    selfLabelled
      ? '<th scope="col">+ self-label ACC</th><th scope="col">NMI</th><th scope="col">ARI</th>'
      : ""
  }<th scope="col">SCAN ACC / NMI over head seeds</th></tr></thead><tbody>${
    rows.join("")
  }</tbody></table>`;
}

function configHtml(config: Record<string, string | number | boolean> | undefined): string {
  if (!config || Object.keys(config).length === 0) return "";
  const rows = Object.entries(config).map(([k, v]) =>
    `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`
  );
  return `<section id="configuration"><h2>Configuration</h2><table class="config"><tbody>${
    rows.join("")
  }</tbody></table></section>`;
}

const CSS = `
body { font-family: ${FONT_FAMILY}; color: #222; background: #fff; margin: 0 auto; padding: 16px 24px 48px; max-width: 1280px; line-height: 1.4; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 28px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.subtitle { color: #555; margin: 0 0 8px; }
.lead { font-size: 17px; }
.figures { display: flex; flex-wrap: wrap; gap: 20px; }
figure { margin: 0; max-width: 600px; flex: 1 1 520px; }
figure svg { width: 100%; height: auto; display: block; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #444; margin-top: 4px; }
table { border-collapse: collapse; font-size: 14px; margin: 8px 0; }
caption { text-align: left; color: #555; font-size: 13px; padding-bottom: 4px; }
th, td { border-bottom: 1px solid #e5e5e5; padding: 4px 12px; text-align: right; }
th[scope=row], thead th:first-child { text-align: left; }
.swatch { display: inline-block; width: 11px; height: 11px; margin-right: 6px; vertical-align: -1px; }
.stats { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.stats div { border: 1px solid #ddd; border-radius: 4px; padding: 6px 12px; min-width: 140px; }
.stats dt { font-size: 12px; color: #555; }
.stats dd { margin: 0; font-size: 17px; font-weight: bold; }
.ok { color: #0072B2; }
.fail { color: #D55E00; font-weight: bold; }
`;

/**
 * One self-contained HTML page: headline numbers, then each chart inline with a caption, grouped
 * in sections; sections with no data are omitted. No scripts, fonts or other external resources.
 * Pass `figures` when already rendered (as {@link writeReport} does) to avoid rendering twice.
 */
export function renderReport(data: ReportData, figures: Figure[] = renderFigures(data)): string {
  const title = data.title ?? "SimCLR on CIFAR-10";
  const sections: string[] = [];
  for (const section of [...new Set(figures.map((f) => f.section))]) {
    const items = figures.filter((f) => f.section === section).map((f) => {
      const id = `fig-${escapeHtml(f.fileName.replace(/\.svg$/, ""))}`;
      return f.error !== undefined
        ? `<p class="fail chart-error" id="${id}">${escapeHtml(f.fileName)} could not be drawn: ${
          escapeHtml(f.error)
        }</p>`
        : `<figure id="${id}">\n${f.svg}\n<figcaption>${
          escapeHtml(f.caption)
        }</figcaption>\n</figure>`;
    });
    const id = section.toLowerCase().replace(/[^a-z0-9]+/g, "-");
    sections.push(
      `<section id="${id}"><h2>${escapeHtml(section)}</h2>\n<div class="figures">\n${
        items.join("\n")
      }\n</div></section>`,
    );
  }
  const failed = figures.filter((f) => f.error !== undefined).length;
  const failedNote = failed > 0
    ? `<p class="fail">${failed} chart${
      failed > 1 ? "s" : ""
    } could not be drawn from the given data (reasons below).</p>`
    : "";
  const body = [failedNote, headlineHtml(data), ...sections, configHtml(data.config)]
    .filter((s) => s !== "");
  if (body.length === 0) {
    body.push(`<p>No training log, results, verification or gallery data given.</p>`);
  }
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'" />
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1>${
    data.subtitle ? `<p class="subtitle">${escapeHtml(data.subtitle)}</p>` : ""
  }</header>
<main>
${body.join("\n")}
</main>
</body>
</html>
`;
}

/** Writes `text` to `path` via a temporary file in the same directory and a rename. */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${crypto.randomUUID()}.tmp`);
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`viz: could not write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Writes `report.html` and every chart as its own `.svg` into `dir` (created if missing), each
 * file atomically. Charts that could not be drawn get no file (the report shows why). Returns the
 * written paths, report last.
 */
export async function writeReport(dir: string, data: ReportData): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const written: string[] = [];
  const figures = renderFigures(data);
  for (const figure of figures) {
    if (figure.error !== undefined) continue;
    const path = join(dir, figure.fileName);
    await writeTextAtomic(path, figure.svg);
    written.push(path);
  }
  const reportPath = join(dir, "report.html");
  await writeTextAtomic(reportPath, renderReport(data, figures));
  written.push(reportPath);
  return written;
}
