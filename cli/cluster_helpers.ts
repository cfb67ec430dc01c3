/**
 * Helpers of `deno task cluster` (`evaluate --cluster-only`) and `evaluate --cluster`: augmented
 * train images for SCAN and the printed clustering table.
 *
 * @module
 */
import { ProgressBar, type SimclrModel } from "@simclr/core";
import {
  type AugmentConfig,
  AugmentPool,
  CIFAR10_MEAN,
  CIFAR10_STD,
  defaultWorkerCount,
  makeViews,
} from "@simclr/data";
import {
  finetuneAndScore,
  type FinetuneAndScoreOptions,
  type ImageSplit,
  type RepresentationResult,
  type ScanFinetuneResult,
  type ScanFit,
} from "@simclr/evaluate";

/** The clustering table (k-means vs SCAN), the seed spread and SCAN's neighbour purity. */
export function printScan(results: RepresentationResult[], classNames: string[]): void {
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const spread = (xs: number[], f: (v: number) => string) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
    return `${f(m)} ± ${f(sd)} (min ${f(Math.min(...xs))}, max ${f(Math.max(...xs))})`;
  };
  console.log(`\n${"clustering (test)".padEnd(34)}    ACC     NMI     ARI`);
  for (const r of results) {
    const row = (label: string, c: { accuracy: number; nmi: number; ari: number }) =>
      console.log(
        `${label.padEnd(34)} ${pct(c.accuracy).padStart(6)}  ${c.nmi.toFixed(3)}  ${
          c.ari.toFixed(3)
        }`,
      );
    row(`${r.name} k-means`, r.kmeans);
    if (r.scan) row(`${r.name} SCAN (k=${r.scan.k}, ${r.scan.epochs} epochs)`, r.scan);
    if (r.scan?.selfLabel) row(`${r.name} SCAN + self-label`, r.scan.selfLabel);
    const ft = r.scan?.finetune;
    if (ft) {
      row(`${r.name} SCAN fine-tuned (${ft.epochs.toFixed(1)} ep.)`, ft);
      if (ft.selfLabel) row(`${r.name} SCAN fine-tuned + self-label`, ft.selfLabel);
      const note = ft.selfLabelSkipped ?? ft.selfLabel?.note;
      if (note) console.log(`${r.name}: self-labelling after fine-tuning ${note}`);
    }
  }
  for (const r of results) {
    const s = r.scan;
    if (!s) continue;
    const purity = [1, 5, 10, 20, 50].filter((k) => k <= s.neighbourPurity.length)
      .map((k) => `k=${k} ${pct(s.neighbourPurity[k - 1])}`).join(", ");
    console.log(`${r.name}: neighbour purity ${purity}`);
    if (s.seeds.length > 1) {
      console.log(
        `${r.name}: SCAN over ${s.seeds.length} head seeds: ACC ${
          spread(s.seeds.map((x) => x.accuracy), pct)
        }, NMI ${spread(s.seeds.map((x) => x.nmi), (v) => v.toFixed(3))}, ARI ${
          spread(s.seeds.map((x) => x.ari), (v) => v.toFixed(3))
        }`,
      );
    }
  }
  const simclr = results.find((r) => r.name === "simclr")?.scan;
  if (simclr) {
    const sizes = simclr.contingency.map((row) => row.reduce((a, b) => a + b, 0));
    const top = simclr.contingency.map((row, c) => {
      const best = row.indexOf(Math.max(...row));
      return `${c}:${classNames[best] ?? best} ${row[best]}/${sizes[c]}`;
    });
    console.log(`simclr SCAN clusters (largest class/size): ${top.join(", ")}`);
  }
}

/**
 * `count` SimCLR-augmented copies of the first `n` images (NHWC uint8, same layout), two per
 * {@linkcode makeViews} call, in chunks so the float32 intermediates stay small.
 */
export function augmentedTrainImages(
  images: Uint8Array,
  n: number,
  count: number,
  seed: number,
  config: Partial<AugmentConfig>,
): Uint8Array[] {
  const out = Array.from({ length: count }, () => new Uint8Array(n * 3072));
  const chunk = 2048;
  const bar = new ProgressBar({ total: n * count, label: "augment views" });
  for (let pair = 0; pair < count; pair += 2) {
    for (let start = 0; start < n; start += chunk) {
      const indices = Int32Array.from({ length: Math.min(chunk, n - start) }, (_, i) => start + i);
      const views = makeViews(images, indices, seed + pair * 7919 + start, {
        ...config,
        normalize: false,
      });
      for (const [v, view] of [views.view1, views.view2].entries()) {
        if (pair + v >= count) continue;
        const dst = out[pair + v];
        for (let i = 0; i < view.length; i++) {
          dst[start * 3072 + i] = Math.round(Math.min(1, Math.max(0, view[i])) * 255);
        }
      }
      bar.update(Math.min(count, pair + 2) * start + indices.length * Math.min(2, count - pair));
    }
  }
  bar.finish();
  return out;
}

/**
 * The trainer's augmentation pipeline (an {@linkcode AugmentPool} of workers) as SCAN
 * fine-tuning's `augment`: one normalised view per index (the pool's first view of each).
 */
export async function poolAugment(
  images: Uint8Array,
  config: Partial<AugmentConfig>,
): Promise<
  { augment: (indices: Int32Array, seed: number) => Promise<Float32Array>; close(): void }
> {
  const pool = await AugmentPool.create({ images, config, workers: defaultWorkerCount() });
  return {
    augment: async (indices, seed) => (await pool.prefetch(indices, seed)).view1,
    close: () => pool.close(),
  };
}

/**
 * SCAN's second step on a loaded encoder: encoder and heads trained end to end, from the frozen
 * heads `start`, on the trainer's augmentations of the train images (crop scale `[cropScale, 1]`),
 * then scored on test. The model is disposed at the end, also when fine-tuning fails.
 */
export async function finetuneEncoder(
  model: SimclrModel,
  start: { fit: ScanFit; neighbours: Int32Array; k: number },
  train: ImageSplit,
  test: ImageSplit,
  cropScale: number,
  options: Omit<FinetuneAndScoreOptions, "augment" | "normalization">,
): Promise<ScanFinetuneResult> {
  const pool = await poolAugment(train.images, { cropScale: [cropScale, 1] });
  try {
    return await finetuneAndScore(model, start.fit, train, test, start.neighbours, start.k, {
      ...options,
      augment: pool.augment,
      normalization: { mean: CIFAR10_MEAN, std: CIFAR10_STD },
    });
  } finally {
    pool.close();
    model.dispose();
  }
}
