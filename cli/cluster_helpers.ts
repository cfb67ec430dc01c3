/**
 * Helpers of `deno task cluster` (`evaluate --cluster-only`) and `evaluate --cluster`: augmented
 * train images for SCAN, the printed clustering table, and SCAN fine-tuning's files in the run
 * folder: `scan-finetune/resume.ckpt` while it runs (written every epoch, and on a pause, in the
 * trainer's checkpoint format with the heads, Adam's state and the mined neighbours added; a
 * rerun of the same command continues from it and deletes it at the end), and
 * `scan-finetune/checkpoint.ckpt`, the fine-tuned encoder in the trainer's format, so that
 * `deno task evaluate --run RUN/scan-finetune` and `deno task export --run RUN/scan-finetune` load
 * it like any run.
 *
 * @module
 */
import { join } from "node:path";
import {
  type Graph,
  ProgressBar,
  RUN_FILES,
  type SimclrModel,
  type Tensor,
  writeJsonAtomic,
} from "@simclr/core";
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
  type FinetuneCheckpoint,
  type FinetuneProgressState,
  type FinetuneResume,
  type HeadLayer,
  type HeadLoss,
  type ImageSplit,
  type RepresentationResult,
  type ScanFinetuneResult,
  type ScanFit,
  type ScanRepresentationOptions,
  type ScanResult,
  scanSweep,
  type ScanSweepPoint,
  type ScanSweepRow,
} from "@simclr/evaluate";
import {
  type Checkpoint,
  CheckpointError,
  loadCheckpoint,
  saveCheckpoint,
  type TrainConfig,
} from "@simclr/train";

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
 * then scored on test. With `files`, it checkpoints every epoch (and on a pause) to
 * `files.resume`, and at the end saves the fine-tuned encoder to `files.encoder` (the result's
 * `checkpoint` names it, relative to the run folder); the caller deletes `files.resume` once the
 * result is on disk. The model is disposed at the end, also when fine-tuning fails.
 */
export async function finetuneEncoder(
  model: SimclrModel,
  start: { fit: ScanFit; neighbours: Int32Array; k: number },
  train: ImageSplit,
  test: ImageSplit,
  cropScale: number,
  options: Omit<FinetuneAndScoreOptions, "augment" | "normalization" | "onCheckpoint">,
  files?: FinetuneFiles,
): Promise<ScanFinetuneResult> {
  const pool = await poolAugment(train.images, { cropScale: [cropScale, 1] });
  const g = model.params()[0].value.graph;
  const writer = files ? resumeWriter(g, model, start, files) : undefined;
  try {
    const result = await finetuneAndScore(
      model,
      start.fit,
      train,
      test,
      start.neighbours,
      start.k,
      {
        ...options,
        augment: pool.augment,
        normalization: { mean: CIFAR10_MEAN, std: CIFAR10_STD },
        onCheckpoint: writer?.write,
      },
    );
    if (!files) return result;
    await saveCheckpoint<TrainConfig & { scanFinetune: object }>(
      files.encoder,
      model,
      { step: 0, slots: {} },
      {
        config: {
          ...files.pretext.meta.config,
          scanFinetune: {
            from: files.settings.checkpointHash,
            steps: result.steps,
            epochs: result.epochs,
            settings: files.settings,
          },
        },
        step: files.pretext.meta.step,
        epoch: files.pretext.meta.epoch,
        trainSeconds: files.pretext.meta.trainSeconds,
        seed: files.pretext.meta.seed,
        reason: "scan-finetune",
        runId: files.pretext.meta.runId,
      },
    );
    return { ...result, checkpoint: `${SCAN_FINETUNE_DIR}/${RUN_FILES.checkpoint}` };
  } finally {
    writer?.dispose();
    pool.close();
    model.dispose();
  }
}

/** The folder of SCAN fine-tuning's files inside a run folder. */
export const SCAN_FINETUNE_DIR = "scan-finetune";

/** Name of a buffer the resume checkpoint adds: the mined neighbours `[n, k]` (exact as float32). */
const NEIGHBOURS = "scan.neighbours";

/**
 * The settings that fix a SCAN fine-tuning run: what it was started with, saved in its resume
 * checkpoint. A rerun with any of them different is refused ({@linkcode settingsConflicts});
 * the backend, `--data`, `--max-minutes`, `--finetune-max-steps` and the baselines may change.
 */
export interface FinetuneSettings {
  /** SHA-256 of the SimCLR checkpoint's weights the fine-tuning started from. */
  checkpointHash: string;
  limit: number;
  clusterK: number;
  heads: number;
  headEpochs: number;
  views: number;
  hidden: number;
  seeds: number[];
  entropyWeight: number;
  selfLabel: boolean;
  finetuneEpochs: number;
  finetuneLr: number;
  finetuneBatch: number;
}

/** Each setting's flag, for the messages. */
const SETTING_FLAGS: Record<keyof FinetuneSettings, string> = {
  checkpointHash: "the run's checkpoint.ckpt (weights hash)",
  limit: "--limit",
  clusterK: "--cluster-k",
  heads: "--heads",
  headEpochs: "--head-epochs",
  views: "--views",
  hidden: "--hidden",
  seeds: "--seeds",
  entropyWeight: "--entropy-weight",
  selfLabel: "--self-label",
  finetuneEpochs: "--finetune-epochs",
  finetuneLr: "--finetune-lr",
  finetuneBatch: "--finetune-batch",
};

/** One line per setting that differs: `--cluster-k: checkpoint has 20, flag says 10`. */
export function settingsConflicts(saved: FinetuneSettings, now: FinetuneSettings): string[] {
  const show = (v: unknown) => Array.isArray(v) ? v.join(",") : String(v);
  return (Object.keys(SETTING_FLAGS) as (keyof FinetuneSettings)[])
    .filter((key) => show(saved[key]) !== show(now[key]))
    .map((key) =>
      `${SETTING_FLAGS[key]}: checkpoint has ${show(saved[key])}, flag says ${show(now[key])}`
    );
}

/** What the resume checkpoint's `config` holds (plain JSON). */
export interface FinetuneResumeConfig {
  kind: "scan-finetune";
  /** What the run was started with. */
  settings: FinetuneSettings;
  /** SCAN on the frozen features (first step), reported beside the fine-tuned result. */
  frozen: ScanResult;
  /** The frozen heads' input standardisation and losses, which fine-tuning keeps. */
  start: {
    dim: number;
    clusters: number;
    mean: number[];
    std: number[];
    heads: HeadLoss[];
    best: number;
    epochs: number;
  };
  /** Neighbours per image. */
  k: number;
  /** Steps done, the epoch losses and the last epoch's step losses. */
  progress: FinetuneProgressState;
}

/** Paths and identity of one fine-tuning run's files. */
export interface FinetuneFiles {
  /** `RUN/scan-finetune/resume.ckpt`. */
  resume: string;
  /** `RUN/scan-finetune/checkpoint.ckpt`. */
  encoder: string;
  /** The settings saved in the resume checkpoint. */
  settings: FinetuneSettings;
  /** SCAN on the frozen features, saved so a resume need not repeat it. */
  frozen: ScanResult;
  /** The SimCLR checkpoint fine-tuning starts from (its config and step go into `encoder`). */
  pretext: Checkpoint<TrainConfig>;
}

/** The fine-tuning files of the run folder `dir`. */
export function finetunePaths(dir: string): { resume: string; encoder: string } {
  return {
    resume: join(dir, SCAN_FINETUNE_DIR, "resume.ckpt"),
    encoder: join(dir, SCAN_FINETUNE_DIR, RUN_FILES.checkpoint),
  };
}

/** A paused or killed fine-tuning, read back from its resume checkpoint. */
export interface PausedFinetune {
  /** The checkpoint (its params and buffers hold the encoder; `loadWeights` puts it in a model). */
  checkpoint: Checkpoint<FinetuneResumeConfig>;
  /** The frozen heads' start, with the saved heads as `allLayers`. */
  start: { fit: ScanFit; neighbours: Int32Array; k: number };
  /** What `finetuneScan` continues from. */
  resume: FinetuneResume;
}

/**
 * Reads the resume checkpoint at `path`; undefined when there is none. Throws a
 * {@linkcode CheckpointError} naming the file when it is not a SCAN fine-tuning checkpoint.
 */
export async function readPausedFinetune(path: string): Promise<PausedFinetune | undefined> {
  if (!await Deno.stat(path).then(() => true, () => false)) return undefined;
  const ckpt = await loadCheckpoint<FinetuneResumeConfig>(path);
  const c = ckpt.meta.config;
  if (c?.kind !== "scan-finetune" || !c.settings || !c.start || !c.progress || !c.frozen) {
    throw new CheckpointError(path, "not a SCAN fine-tuning checkpoint (config.kind)");
  }
  const saved = ckpt.buffers.get(NEIGHBOURS);
  if (!saved || saved.shape.length !== 2 || saved.shape[1] !== c.k) {
    throw new CheckpointError(path, `has no "${NEIGHBOURS}" buffer of shape [n, ${c.k}]`);
  }
  const heads: HeadLayer[][] = [];
  for (let h = 0; ckpt.params.has(`scan.finetune.head${h}.0.weight`); h++) {
    const layers: HeadLayer[] = [];
    for (let i = 0; ckpt.params.has(`scan.finetune.head${h}.${i}.weight`); i++) {
      const weight = ckpt.params.get(`scan.finetune.head${h}.${i}.weight`)!;
      const bias = ckpt.params.get(`scan.finetune.head${h}.${i}.bias`);
      if (!bias) throw new CheckpointError(path, `head ${h} layer ${i} has no bias`);
      layers.push({
        weight: weight.data,
        bias: bias.data,
        nIn: weight.shape[0],
        nOut: weight.shape[1],
      });
    }
    heads.push(layers);
  }
  if (heads.length !== c.start.heads.length) {
    throw new CheckpointError(
      path,
      `holds ${heads.length} heads, its config ${c.start.heads.length}`,
    );
  }
  const fit: ScanFit = {
    dim: c.start.dim,
    clusters: c.start.clusters,
    mean: Float64Array.from(c.start.mean),
    std: Float64Array.from(c.start.std),
    layers: heads[c.start.best],
    allLayers: heads,
    best: c.start.best,
    heads: c.start.heads,
    epochs: c.start.epochs,
  };
  return {
    checkpoint: ckpt,
    start: { fit, neighbours: Int32Array.from(saved.data), k: c.k },
    resume: { ...c.progress, heads, optimizer: ckpt.optimizer },
  };
}

/** Writes the resume checkpoint: the model, the heads, Adam's state and the neighbours. */
function resumeWriter(
  g: Graph,
  model: SimclrModel,
  start: { fit: ScanFit; neighbours: Int32Array; k: number },
  files: FinetuneFiles,
) {
  const n = start.neighbours.length / start.k;
  if (n >= 2 ** 24) throw new Error(`${n} train images: neighbour indices exceed float32's range`);
  let neighbours: Tensor | undefined;
  const t0 = performance.now();
  const { fit } = start;
  return {
    write: async (c: FinetuneCheckpoint) => {
      neighbours ??= g.keep(g.constant(Float32Array.from(start.neighbours), [n, start.k]));
      const value = neighbours;
      const config: FinetuneResumeConfig = {
        kind: "scan-finetune",
        settings: files.settings,
        frozen: files.frozen,
        start: {
          dim: fit.dim,
          clusters: fit.clusters,
          mean: [...fit.mean],
          std: [...fit.std],
          heads: fit.heads,
          best: fit.best,
          epochs: fit.epochs,
        },
        k: start.k,
        progress: {
          step: c.step,
          stepsPerEpoch: c.stepsPerEpoch,
          epochLoss: c.epochLoss,
          history: c.history,
        },
      };
      await saveCheckpoint<FinetuneResumeConfig>(
        files.resume,
        {
          params: () => [...model.params(), ...c.headParams],
          buffers: () => [...model.buffers(), { name: NEIGHBOURS, value }],
        },
        c.optimizer,
        {
          config,
          step: c.step,
          epoch: c.step / c.stepsPerEpoch,
          trainSeconds: (performance.now() - t0) / 1000,
          seed: files.settings.seeds[0],
          reason: c.reason,
          runId: files.pretext.meta.runId,
        },
      );
    },
    dispose: () => {
      if (neighbours) g.dispose(neighbours);
    },
  };
}

/** `RUN/scan-sweep.json`, written by `deno task cluster --sweep` after every point. */
export interface ScanSweepDocument {
  createdAt: string;
  /** The SimCLR checkpoint, its weights hash and run id. */
  checkpoint: string;
  checkpointHash: string;
  runId?: string;
  /** The command line. */
  command: string;
  /** Settings shared by every point. */
  views: number;
  heads: number;
  headEpochs: number;
  hidden: number;
  seeds: number[];
  /** Train neighbour purity for k = 1…(largest k, at least 50). */
  neighbourPurity: number[];
  /** Points done so far, in the order given. */
  rows: ScanSweepRow[];
  /** Points asked for. */
  points: ScanSweepPoint[];
}

/**
 * `deno task cluster --sweep K:W,…`: SCAN's frozen heads for each (k, entropy weight) point on the
 * same neighbours and views; writes `path` (atomically) after every point, so a stopped sweep
 * keeps what it measured, and prints the table.
 */
export async function runScanSweep(
  path: string,
  train: { x: Float32Array; labels: Int32Array | Uint8Array; n: number },
  test: { x: Float32Array; labels: Int32Array | Uint8Array; n: number },
  dim: number,
  points: readonly ScanSweepPoint[],
  options: Omit<ScanRepresentationOptions, "k" | "entropyWeight" | "mined" | "onFit" | "onStage">,
  meta: { checkpoint: string; checkpointHash: string; runId?: string; command: string },
): Promise<ScanSweepRow[]> {
  let bar: ProgressBar | undefined;
  let current = "";
  const head = (): Omit<ScanSweepDocument, "rows" | "neighbourPurity"> => ({
    createdAt: new Date().toISOString(),
    ...meta,
    views: options.views?.length ?? 0,
    heads: options.heads ?? 5,
    headEpochs: options.epochs ?? 30,
    hidden: options.hidden ?? 0,
    seeds: [...(options.seeds ?? [0])],
    points: [...points],
  });
  const rows: ScanSweepRow[] = [];
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`.padStart(6);
  const line = (r: ScanSweepRow) =>
    `${String(r.k).padStart(3)}  ${String(r.entropyWeight).padStart(5)}  ${pct(r.accuracy)}  ${
      r.nmi.toFixed(3)
    }  ${r.ari.toFixed(3)}  ${r.loss.consistency.toFixed(3)}  ${r.loss.entropy.toFixed(3)}`;
  const title = "  k  weight     ACC    NMI    ARI  consistency entropy";
  const result = await scanSweep(train, test, dim, points, {
    ...options,
    onStage: (stage, fraction) => {
      // One bar per point (and one for mining), as evaluate's stages.
      const name = stage.split(" ").slice(0, stage.startsWith("k=") ? 3 : 1).join(" ");
      if (name !== current) {
        bar?.finish();
        current = name;
        bar = new ProgressBar({ total: 1000, label: name });
      }
      bar!.update(Math.round(fraction * 1000), { stage: stage.slice(name.length).trim() });
    },
    onRow: async (row, done) => {
      bar?.finish();
      current = "";
      rows.push(row);
      console.error(`sweep ${done}/${points.length}: ${line(row)}`);
      await writeJsonAtomic(path, { ...head(), neighbourPurity: [], rows });
    },
  });
  await writeJsonAtomic(path, { ...head(), neighbourPurity: result.neighbourPurity, rows });
  console.log(`\nSCAN sweep on frozen features (test, seed ${options.seeds?.[0] ?? 0})`);
  console.log(title);
  for (const r of result.rows) console.log(line(r));
  console.log(`wrote ${path}`);
  return result.rows;
}
