import assert from "node:assert/strict";
import {
  collapseMonitorsChart,
  exponentialMovingAverage,
  trainingCurvesChart,
} from "./training_charts.ts";
import { pcaScatterChart, tsneScatterChart } from "./scatter.ts";
import { confusionHeatmap, contingencyHeatmap, orderClusters } from "./heatmaps.ts";
import { perClassAccuracyChart } from "./bars.ts";
import { verifyChart } from "./verify_chart.ts";
import { augmentationGallery } from "./gallery.ts";
import { CLASS_COLORS, classColor } from "./palette.ts";
import {
  CIFAR10_CLASSES,
  syntheticGallery,
  syntheticLog,
  syntheticResults,
  syntheticVerify,
  syntheticVerifyMany,
} from "./fixtures.ts";
import { all, assertMinFontSize, assertRenders, parseSvg, texts } from "./test_helpers.ts";
import { rasterizeSvg } from "./raster.ts";

const results = syntheticResults(5000);
const simclr = results.variants[0];
const log = syntheticLog();

/** Labels are the `axis-label` texts; every chart must name its axes. */
function axisLabels(svg: string): string[] {
  return texts(parseSvg(svg), "text.axis-label");
}

Deno.test("exponentialMovingAverage is bias-corrected: a constant stays constant", () => {
  const ema = exponentialMovingAverage([3, 3, 3, 3], 0.9);
  for (const v of ema) assert.ok(Math.abs(v - 3) < 1e-12, `${v} != 3`);
  // After a step 0 → 1 the average rises monotonically towards 1.
  const step = exponentialMovingAverage([0, 0, 1, 1, 1, 1], 0.5);
  assert.deepEqual(step.slice(0, 2), [0, 0]);
  for (let i = 3; i < step.length; i++) assert.ok(step[i] > step[i - 1] && step[i] < 1);
});

Deno.test("training curves: loss, EMA and LR paths, labelled axes, renders", () => {
  const svg = trainingCurvesChart(log.steps);
  const root = parseSvg(svg);
  assert.equal(all(root, "path.loss-raw").length, 1);
  assert.equal(all(root, "path.loss-ema").length, 1);
  assert.equal(all(root, "path.lr-line").length, 1);
  // One straight segment per step after the first: the path has one vertex per step.
  const d = root.querySelector("path.loss-raw")!.getAttribute("d")!;
  assert.equal(d.split("L").length, log.steps.length);
  assert.deepEqual(axisLabels(svg), [
    "NT-Xent loss (nats)",
    "learning rate",
    "optimizer step (batches)",
  ]);
  // 8 epochs → 7 epoch boundaries.
  assert.equal(all(root, "g.epoch-boundaries line").length, 7);
  assertMinFontSize(root);
  assertRenders(svg);
});

Deno.test("learning-rate ticks stay distinct for Adam's 1e-3 peak (no two read 0.001)", () => {
  const steps = log.steps.map((s, i) => ({ ...s, lr: 1e-3 * Math.min(1, (i + 1) / 10) }));
  const root = parseSvg(trainingCurvesChart(steps));
  const labels = texts(root, "g.lr-panel g.y-axis text");
  assert.ok(labels.length >= 4, `lr axis has ${labels.length} labels`);
  assert.equal(new Set(labels).size, labels.length, `repeated lr tick labels: ${labels}`);
  assert.ok(labels.includes("0.0012") && labels.includes("0.001"), `lr labels: ${labels}`);
});

Deno.test("training curves: long runs draw a min–max band of at most one vertex pair per px", () => {
  const long = syntheticLog(20, 1000).steps;
  const svg = trainingCurvesChart(long);
  const root = parseSvg(svg);
  assert.equal(all(root, "path.loss-raw").length, 0);
  const band = root.querySelector("path.loss-band")!.getAttribute("d")!;
  const vertices = band.split(/[LM]/).length;
  assert.ok(vertices <= 2 * 600 + 4, `${vertices} vertices`);
  assert.ok(svg.length < 120_000, `svg is ${svg.length} bytes`);
  assertRenders(svg);
});

Deno.test("training curves skip non-finite losses with a warning; bad fields are named", () => {
  const steps = structuredClone(log.steps);
  steps[5].loss = NaN;
  steps[7].loss = Infinity;
  const svg = trainingCurvesChart(steps);
  const root = parseSvg(svg);
  assert.deepEqual(texts(root, "text.warning"), ["⚠ 2 steps with non-finite loss not drawn"]);
  const d = root.querySelector("path.loss-raw")!.getAttribute("d")!;
  assert.equal(d.split("L").length, steps.length - 2);
  assert.ok(!/NaN|Infinity/.test(svg));
  assertRenders(svg);
  assert.equal(all(parseSvg(trainingCurvesChart(log.steps)), "text.warning").length, 0);
  steps[3].lr = NaN;
  assert.throws(() => trainingCurvesChart(steps), /steps\[3\]\.lr must be a finite number/);
  assert.throws(
    () => trainingCurvesChart(log.steps.map((s) => ({ ...s, loss: NaN }))),
    /all 400 steps have a non-finite loss/,
  );
  assert.throws(() => trainingCurvesChart([]), /training log steps is empty/);
});

Deno.test("collapse monitors count non-finite values per panel instead of failing", () => {
  const epochs = structuredClone(log.epochs);
  epochs[3].featureStd = NaN;
  const svg = collapseMonitorsChart(epochs, log.featureDim);
  const root = parseSvg(svg);
  const panels = all(root, "g.panel");
  assert.deepEqual(texts(panels[0], "text.warning"), ["⚠ 1 non-finite not drawn"]);
  assert.equal(all(panels[0], "g.markers rect").length, epochs.length - 1);
  assert.equal(all(panels[1], "text.warning").length, 0);
  assert.ok(!/NaN/.test(svg));
});

Deno.test("collapse monitors: four panels, 1/sqrt(d) reference, no negative std axis, renders", () => {
  const svg = collapseMonitorsChart(log.epochs, log.featureDim);
  const root = parseSvg(svg);
  assert.deepEqual(texts(root, "text.panel-title"), [
    "Feature std (→ 0 means collapse)",
    "Alignment (lower = views agree)",
    "Uniformity (lower = more uniform)",
    "kNN accuracy",
  ]);
  assert.equal(all(root, "line.reference").length, 1);
  assert.ok(svg.includes(`1/√d = ${(1 / Math.sqrt(128)).toFixed(3)}`));
  const panels = all(root, "g.panel");
  // Tick labels of the std and alignment panels never go negative (d3 writes U+2212 minus).
  for (const panel of panels.slice(0, 2)) {
    for (const t of texts(panel, "g.y-axis g.tick text")) {
      assert.ok(!t.startsWith("−"), `tick ${t}`);
    }
  }
  // The reference line sits at y(1/sqrt(d)) of the first panel's axis: interpolate between ticks.
  const ticks = all(panels[0], "g.y-axis g.tick");
  const ys = ticks.map((t) =>
    Number(/translate\(0,([0-9.]+)\)/.exec(t.getAttribute("transform")!)![1])
  );
  const vs = ticks.map((t) => Number(t.textContent));
  const slope = (ys[1] - ys[0]) / (vs[1] - vs[0]);
  const expectedY = ys[0] + slope * (1 / Math.sqrt(128) - vs[0]);
  const refY = Number(root.querySelector("line.reference")!.getAttribute("y1"));
  assert.ok(Math.abs(refY - expectedY) < 1, `reference at ${refY}, expected ${expectedY}`);
  // 8 epochs of knn with gaps: only the 4 logged epochs get markers.
  assert.equal(all(panels[3], "g.markers rect").length, 4);
  assert.ok(axisLabels(svg).includes("std per dimension"));
  assert.ok(axisLabels(svg).includes("test accuracy (%)"));
  assert.equal(axisLabels(svg).filter((l) => l === "epoch").length, 4);
  assertMinFontSize(root);
  assertRenders(svg);
});

Deno.test("collapse monitors without kNN say so instead of drawing an empty axis", () => {
  const epochs = log.epochs.map(({ knnAccuracy: _, ...rest }) => rest);
  const svg = collapseMonitorsChart(epochs, 64);
  assert.ok(axisLabels(svg).includes("not logged"));
  assert.throws(() => collapseMonitorsChart(epochs, 0), /featureDim must be a positive integer/);
});

Deno.test("t-SNE scatter: one circle per point coloured by class, 10-entry legend, renders", () => {
  const svg = tsneScatterChart(simclr.tsne!, CIFAR10_CLASSES);
  const root = parseSvg(svg);
  const circles = all(root, "circle");
  assert.equal(circles.length, 5000);
  const perColour = new Map<string, number>();
  for (const c of circles) {
    const fill = c.getAttribute("fill")!;
    perColour.set(fill, (perColour.get(fill) ?? 0) + 1);
  }
  // Labels cycle through the ten classes, so each class colour has exactly 500 points.
  assert.deepEqual([...perColour.keys()].sort(), [...CLASS_COLORS].sort());
  for (const count of perColour.values()) assert.equal(count, 500);
  const entries = all(root, "g.legend-entry");
  assert.equal(entries.length, 10);
  assert.deepEqual(entries.map((e) => e.querySelector("text")!.textContent), CIFAR10_CLASSES);
  assert.deepEqual(
    entries.map((e) => e.querySelector("rect")!.getAttribute("fill")),
    CIFAR10_CLASSES.map((_, c) => classColor(c)),
  );
  assert.deepEqual(axisLabels(svg).slice(0, 2), [
    "t-SNE dimension 1 (arbitrary units)",
    "t-SNE dimension 2 (arbitrary units)",
  ]);
  assertMinFontSize(root);
  assertRenders(svg);
});

Deno.test("scatter positions: equal scale on both axes and every point inside the frame", () => {
  // Four points at the corners of a 4 × 1 rectangle: equal units mean the drawn box is 4:1.
  const svg = pcaScatterChart(
    { points: [0, 0, 4, 0, 0, 1, 4, 1], labels: [0, 1, 2, 3], explainedRatio: [0.6, 0.3] },
    CIFAR10_CLASSES.slice(0, 4),
  );
  const root = parseSvg(svg);
  const xs = all(root, "circle").map((c) => Number(c.getAttribute("cx")));
  const ys = all(root, "circle").map((c) => Number(c.getAttribute("cy")));
  const w = Math.max(...xs) - Math.min(...xs), h = Math.max(...ys) - Math.min(...ys);
  assert.ok(Math.abs(w / h - 4) < 0.02, `aspect ${w / h}`);
  const size = Number(root.querySelector("rect.frame")!.getAttribute("width"));
  for (const v of [...xs, ...ys]) assert.ok(v >= 0 && v <= size);
  assert.deepEqual(axisLabels(svg).slice(0, 2), [
    "PC 1 score (feature units, 60.0% of variance)",
    "PC 2 score (feature units, 30.0% of variance)",
  ]);
  assert.equal(all(root, "g.legend-entry").length, 4);
});

Deno.test("scatter rejects mismatched points/labels and out-of-range labels", () => {
  assert.throws(
    () =>
      tsneScatterChart(
        { points: [0, 0, 1], labels: [0, 1], neighbourPreservation: 1 },
        CIFAR10_CLASSES,
      ),
    /must hold 2 × 2 = 4 numbers/,
  );
  assert.throws(
    () =>
      tsneScatterChart({ points: [0, 0], labels: [10], neighbourPreservation: 1 }, CIFAR10_CLASSES),
    /labels\[0\] = 10 is not a class index in 0\.\.9/,
  );
});

Deno.test("contingency heatmap: 10×10 cells in Hungarian order, matched diagonal, renders", () => {
  const kmeans = simclr.kmeans!;
  const svg = contingencyHeatmap(kmeans, CIFAR10_CLASSES);
  const root = parseSvg(svg);
  assert.equal(all(root, "rect.cell").length, 100);
  assert.deepEqual(
    texts(root, "g.row-labels text"),
    kmeans.matchedOrder.map((c) => `cluster ${c}`),
  );
  assert.deepEqual(texts(root, "g.column-labels text"), CIFAR10_CLASSES);
  const counts = texts(root, "text.cell-count").map(Number);
  for (let i = 0; i < 10; i++) {
    assert.equal(counts[i * 10 + i], kmeans.contingency[kmeans.matchedOrder[i]][i]);
  }
  assert.equal(
    counts.reduce((a, b) => a + b, 0),
    kmeans.contingency.flat().reduce((a, b) => a + b, 0),
  );
  assert.equal(all(root, "g.highlight rect").length, 10);
  assert.equal(all(root, "rect.legend-swatch").length, 10);
  assert.deepEqual(axisLabels(svg).slice(0, 2), [
    "true class",
    "k-means cluster (Hungarian order)",
  ]);
  assertMinFontSize(root);
  assertRenders(svg);
});

Deno.test("contingency with more clusters than classes appends the unmatched clusters", () => {
  assert.deepEqual(orderClusters([2, 0], 4), [2, 0, 1, 3]);
  assert.throws(() => orderClusters([1, 1], 3), /repeats cluster 1/);
  assert.throws(() => orderClusters([5], 3), /matchedOrder\[0\] = 5 is not a cluster index/);
  const contingency = Array.from(
    { length: 12 },
    (_, k) => CIFAR10_CLASSES.map((_, c) => (k === c ? 90 : 1)),
  );
  const svg = contingencyHeatmap(
    { nmi: 0.5, ari: 0.4, accuracy: 0.7, contingency, matchedOrder: [...Array(10).keys()] },
    CIFAR10_CLASSES,
  );
  const root = parseSvg(svg);
  assert.equal(all(root, "rect.cell").length, 120);
  assert.deepEqual(texts(root, "g.row-labels text").slice(10), ["cluster 10", "cluster 11"]);
  assertRenders(svg);
});

Deno.test("confusion heatmap: 10×10 cells with the counts row-major, renders", () => {
  const svg = confusionHeatmap(simclr.probe, CIFAR10_CLASSES);
  const root = parseSvg(svg);
  assert.equal(all(root, "rect.cell").length, 100);
  assert.deepEqual(texts(root, "text.cell-count").map(Number), simclr.probe.confusion.flat());
  assert.deepEqual(texts(root, "g.row-labels text"), CIFAR10_CLASSES);
  assert.deepEqual(axisLabels(svg).slice(0, 2), ["predicted class", "true class"]);
  // Colour follows the row share: the fullest diagonal cell is the darkest (lowest red channel).
  const cells = all(root, "rect.cell");
  const red = (i: number) => parseInt(cells[i].getAttribute("fill")!.slice(4).split(",")[0]);
  const diag = simclr.probe.confusion.map((row, t) => row[t]);
  const best = diag.indexOf(Math.max(...diag));
  const worst = diag.indexOf(Math.min(...diag));
  assert.ok(red(best * 11) < red(worst * 11), "darker cell for the larger share");
  assertMinFontSize(root);
  assertRenders(svg);
});

Deno.test("confusion heatmap rejects a matrix of the wrong shape", () => {
  const probe = { ...simclr.probe, confusion: simclr.probe.confusion.slice(0, 9) };
  assert.throws(
    () => confusionHeatmap(probe, CIFAR10_CLASSES),
    /probe\.confusion must have 10 rows, got 9/,
  );
});

Deno.test("per-class bars: 3 × 10 bars with heights proportional to accuracy, renders", () => {
  const svg = perClassAccuracyChart(results.variants, CIFAR10_CLASSES);
  const root = parseSvg(svg);
  const groups = all(root, "g.bars");
  assert.equal(groups.length, 3);
  assert.equal(all(root, "rect.bar").length, 30);
  const innerHeight = 380 - 66 - 92;
  results.variants.forEach((v, i) => {
    const heights = all(groups[i], "rect").map((r) => Number(r.getAttribute("height")));
    v.probe.perClassAccuracy.forEach((acc, c) => {
      assert.ok(Math.abs(heights[c] - acc * innerHeight) <= 0.1, `bar ${v.name}/${c}`);
    });
  });
  const legend = texts(root, "g.legend-entry text");
  assert.equal(legend.length, 3);
  assert.match(legend[0], /^SimCLR \(\d+\.\d%\)$/);
  assert.ok(axisLabels(svg).includes("test accuracy (% of class images)"));
  assert.ok(axisLabels(svg).includes("true class"));
  assertMinFontSize(root);
  assertRenders(svg);
});

Deno.test("verify chart: one row per tensor on a log axis, tolerance ticks, failures flagged", () => {
  const rows = syntheticVerify();
  const svg = verifyChart(rows);
  const root = parseSvg(svg);
  assert.equal(all(root, "g.verify-row").length, rows.length);
  assert.equal(all(root, "g.verify-row.fail").length, rows.filter((r) => !r.ok).length);
  assert.equal(all(root, "line.tolerance").length, rows.length);
  const statuses = texts(root, "g.verify-row text").filter((t) => /OK/.test(t));
  assert.equal(statuses.filter((t) => t.startsWith("NOT OK")).length, 1);
  assert.ok(statuses.includes("OK (= 0)"), "exact zero is labelled");
  // Log axis: a decade is a constant width, so log10(relDiff) is linear in bar width.
  const widths = all(root, "rect.bar").map((r) => Number(r.getAttribute("width")));
  const nonzero = rows.map((r, i) => [Math.log10(r.relDiff), widths[i]]).filter(([l]) =>
    Number.isFinite(l)
  );
  const [[l0, w0], [l1, w1]] = [nonzero[0], nonzero[1]];
  const pxPerDecade = (w1 - w0) / (l1 - l0);
  for (const [l, w] of nonzero) assert.ok(Math.abs(w0 + (l - l0) * pxPerDecade - w) < 0.3);
  assert.match(svg, /8\/9 tensors within tolerance/);
  assert.ok(
    axisLabels(svg).includes("relative difference to reference (dimensionless, log scale)"),
  );
  assertMinFontSize(root);
  assertRenders(svg);
});

Deno.test("verify chart, many rows: compact grouped strip, log y axis, failures listed", () => {
  const rows = syntheticVerifyMany(240);
  const svg = verifyChart(rows);
  const root = parseSvg(svg);
  assert.equal(all(root, "g.verify-row").length, 240);
  assert.equal(all(root, "g.verify-row.fail").length, 2);
  assert.equal(all(root, "rect.value").length, 240);
  assert.equal(all(root, "line.tolerance").length, 240);
  assert.deepEqual(texts(root, "text.group-label"), ["kernels", "small", "resnet18"]);
  assert.equal(all(root, "line.group-separator").length, 2);
  assert.deepEqual(texts(root, "text.failure"), [
    "kernels: tensor 10 — relDiff NaN, tolerance 1e-5",
    "resnet18: tensor 235 — relDiff 3e-2, tolerance 1e-3",
  ]);
  // Log y axis: value marks sit at y(relDiff); two finite rows fix the px-per-decade slope.
  const marks = all(root, "rect.value").map((r) => Number(r.getAttribute("y")) + 2.5);
  const finite = rows.map((r, i) => [Math.log10(r.relDiff), marks[i]]).filter(([l]) =>
    Number.isFinite(l)
  );
  const slope = (finite[1][1] - finite[0][1]) / (finite[1][0] - finite[0][0]);
  assert.ok(slope < 0, "larger errors are higher up");
  for (const [l, yv] of finite) {
    assert.ok(Math.abs(finite[0][1] + (l - finite[0][0]) * slope - yv) < 0.3);
  }
  assert.ok(Number(root.getAttribute("height")) < 520, "a few hundred rows stay one screen tall");
  assertMinFontSize(root);
  assertRenders(svg);
});

Deno.test("verify chart rejects rows without a positive tolerance", () => {
  const rows = syntheticVerify();
  rows[2].tolerance = 0;
  assert.throws(() => verifyChart(rows), /verify\[2\]\.tolerance must be > 0/);
});

Deno.test("gallery: 3 PNG images per sample, crisp upscaled pixels at the right places", () => {
  const samples = syntheticGallery(4);
  const svg = augmentationGallery(samples, { classNames: CIFAR10_CLASSES });
  const root = parseSvg(svg);
  const images = all(root, "image");
  assert.equal(images.length, 12);
  for (const img of images) assert.match(img.getAttribute("href")!, /^data:image\/png;base64,/);
  assert.deepEqual(
    texts(root, "g.sample text").filter((t) => !/original|view/.test(t)),
    CIFAR10_CLASSES.slice(0, 4),
  );
  assertMinFontSize(root);
  assertRenders(svg);
  // Pixel (x, y) of sample 0's view 1 must show exactly the source pixel after upscaling.
  const raster = rasterizeSvg(svg);
  const group = all(root, "g.sample")[0];
  const [gx, gy] = /translate\(([0-9.]+),([0-9.]+)\)/.exec(group.getAttribute("transform")!)!.slice(
    1,
  ).map(Number);
  const view1 = all(group, "image")[1];
  const size = Number(view1.getAttribute("width"));
  const scale = size / 32;
  assert.ok(Number.isInteger(scale) && scale >= 2, `scale ${scale}`);
  for (const [sx, sy] of [[0, 0], [5, 17], [31, 31], [16, 3]]) {
    const px = Math.floor(gx + Number(view1.getAttribute("x")) + sx * scale + scale / 2);
    const py = Math.floor(gy + Number(view1.getAttribute("y")) + sy * scale + scale / 2);
    const o = (py * raster.width + px) * 4;
    const src = (sy * 32 + sx) * 3;
    assert.deepEqual([...raster.rgba.subarray(o, o + 3)], [
      ...samples[0].view1.subarray(src, src + 3),
    ]);
  }
});

Deno.test("gallery rejects images that are not square RGB", () => {
  const samples = syntheticGallery(1);
  samples[0].view2 = new Uint8Array(100);
  assert.throws(
    () => augmentationGallery(samples),
    /gallery\[0\]\.view2 must hold a square RGB image/,
  );
});
