/**
 * Host timings of the evaluations on realistic sizes with random data (no backend):
 * kNN 10,000 × 50,000 × 256 (k = 200), k-means 50,000 × 256 with k = 10, t-SNE of 5,000 points
 * from 256 dimensions.
 *
 * Usage: `deno run -A evaluate/benchmark.ts [--only knn|kmeans|tsne] [--scale 0.1]`
 * (`--scale` shrinks the row counts for a quick run).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Rng } from "@simclr/core";
import { l2Normalize } from "./features.ts";
import { kMeans } from "./kmeans.ts";
import { knnClassify } from "./knn.ts";
import { neighbourPreservation, tsne } from "./tsne.ts";

function randomFeatures(n: number, d: number, rng: Rng): Float32Array {
  // Non-negative like post-ReLU features, with a class-independent random scale per row.
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const s = 0.5 + rng.uniform();
    for (let j = 0; j < d; j++) x[i * d + j] = s * Math.max(0, rng.normal());
  }
  return x;
}

function seconds(start: number): string {
  return ((performance.now() - start) / 1000).toFixed(1);
}

const { values } = parseArgs({
  args: Deno.args,
  options: { only: { type: "string" }, scale: { type: "string", default: "1" } },
});
const scale = Number(values.scale);
if (!(scale > 0 && scale <= 1)) {
  throw new Error(`benchmark.ts --scale: expected a number in (0, 1], got ${values.scale}`);
}
const only = values.only;
if (only !== undefined && !["knn", "kmeans", "tsne"].includes(only)) {
  throw new Error(`benchmark.ts --only: expected knn, kmeans or tsne, got ${only}`);
}
const rng = new Rng(2024);
const d = 256;

if (!only || only === "knn") {
  const nTrain = Math.round(50000 * scale), nTest = Math.round(10000 * scale);
  const train = randomFeatures(nTrain, d, rng);
  const test = randomFeatures(nTest, d, rng);
  const trainLabels = Int32Array.from({ length: nTrain }, () => rng.int(10));
  const testLabels = Int32Array.from({ length: nTest }, () => rng.int(10));
  const start = performance.now();
  const r = await knnClassify({ train, trainLabels, nTrain, test, nTest, dim: d, testLabels });
  console.log(
    `kNN ${nTest}×${nTrain}×${d}, k=200: ${seconds(start)} s (accuracy ${r.accuracy}, chance 0.1)`,
  );
}

if (!only || only === "kmeans") {
  const n = Math.round(50000 * scale);
  const x = l2Normalize(randomFeatures(n, d, rng), n, d);
  const start = performance.now();
  let iterations = 0;
  const r = await kMeans(x, n, d, 10, { rng: new Rng(1), onProgress: () => iterations++ });
  console.log(
    `k-means ${n}×${d}, k=10, 5 restarts: ${seconds(start)} s ` +
      `(${iterations} Lloyd iterations in all, inertia ${r.inertia.toFixed(1)})`,
  );
}

if (!only || only === "tsne") {
  const n = Math.round(5000 * scale);
  const x = randomFeatures(n, d, rng);
  const start = performance.now();
  let last = start;
  const r = await tsne(x, n, d, {
    rng: new Rng(1),
    onProgress: ({ iteration, kl }) => {
      if (iteration % 250 === 0) {
        console.log(`  t-SNE iteration ${iteration}: KL ${kl.toFixed(3)}, ${seconds(last)} s`);
        last = performance.now();
      }
    },
  });
  const elapsed = seconds(start);
  const kept = neighbourPreservation(x, n, d, r.embedding);
  console.log(
    `t-SNE ${n} points from ${d}-d: ${elapsed} s (neighbour preservation ${kept.toFixed(3)})`,
  );
}
