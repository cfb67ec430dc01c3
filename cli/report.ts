/**
 * `deno task report [--run runs/NAME]`: turns a run's log, `results.json` and verify output into
 * SVG charts and one offline `report.html` in the run folder (default: the newest run).
 *
 * @module
 */
import { join } from "node:path";
import {
  commandFlags,
  readResults,
  readRunSummary,
  readTrainLog,
  readVerifyDocument,
  type ResultsDocument,
  RUN_FILES,
  type RunSummary,
  type TrainLogRecords,
} from "@simclr/core";
import { loadCifar10, makeViews } from "@simclr/data";
import { CheckpointError, loadCheckpoint, weightsHash } from "@simclr/train";
import {
  type AugmentationSample,
  type ClusterImages,
  type ReportData,
  writeReport,
} from "@simclr/viz";

/** The flags of `deno task report`. */
const REPORT_FLAGS = {
  run: {
    type: "string",
    arg: "DIR",
    defaultText: "the newest folder under runs/ with a log",
    help: "run folder",
  },
  verify: {
    type: "string",
    arg: "FILE",
    defaultText: "DIR/verify.json, else runs/verify.json, if present",
    help: "verify JSON from 'deno task verify --json FILE'",
  },
  data: {
    type: "string",
    arg: "DIR",
    defaultText: "the run's",
    help: "CIFAR-10 folder for the augmentation gallery",
  },
} as const;

/**
 * The log, `run.json`, `results.json` and the checkpoint of a folder must be of one run (and the
 * results of this very checkpoint); returns the disagreements, each naming both sides.
 */
export async function runDisagreements(
  run: string,
  parts: { summary?: RunSummary; results?: ResultsDocument; log?: TrainLogRecords },
): Promise<string[]> {
  const path = join(run, RUN_FILES.checkpoint);
  let ckpt;
  try {
    ckpt = await loadCheckpoint(path);
  } catch (e) {
    if (e instanceof CheckpointError && /no such checkpoint/.test(e.message)) return [];
    throw e;
  }
  const problems: string[] = [];
  const hash = await weightsHash(ckpt);
  const { summary, results, log } = parts;
  if (results?.checkpointHash !== undefined && results.checkpointHash !== hash) {
    problems.push(
      `${RUN_FILES.results} was computed from weights ${
        results.checkpointHash.slice(0, 12)
      } (step ${results.step}), but ${RUN_FILES.checkpoint} holds weights ${
        hash.slice(0, 12)
      } (step ${ckpt.meta.step}); re-run evaluate`,
    );
  }
  const runId = ckpt.meta.runId;
  if (runId && summary?.runId && summary.runId !== runId) {
    problems.push(
      `${RUN_FILES.summary} is of run ${summary.runId}, ${RUN_FILES.checkpoint} of run ${runId}`,
    );
  }
  if (runId && log) {
    const foreign = new Set(
      log.epochs.map((e) => e.runId).filter((id) => id !== undefined && id !== runId),
    );
    if (foreign.size) {
      problems.push(
        `${RUN_FILES.log} has records of run ${[...foreign].join(", ")}, ` +
          `${RUN_FILES.checkpoint} is of run ${runId}`,
      );
    }
  }
  return problems;
}

/** The newest run folder under `runs/` that has a training log. */
async function newestRun(root = "runs"): Promise<string> {
  let best: { path: string; mtime: number } | undefined;
  try {
    for await (const entry of Deno.readDir(root)) {
      if (!entry.isDirectory) continue;
      const log = join(root, entry.name, RUN_FILES.log);
      const stat = await Deno.stat(log).catch(() => undefined);
      const mtime = stat?.mtime?.getTime() ?? -1;
      if (stat && (!best || mtime > best.mtime)) best = { path: join(root, entry.name), mtime };
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (!best) {
    throw new Error(`no run folder with a ${RUN_FILES.log} under ${root}/; pass --run DIR`);
  }
  return best.path;
}

/** Originals and two views each of one image per class, from the training set. */
async function gallery(dataDir: string, cropScale: number): Promise<AugmentationSample[]> {
  const data = await loadCifar10(dataDir, { trainLimit: 200, testLimit: 1, strictCounts: false });
  const picks: number[] = [];
  for (let c = 0; c < 10 && picks.length < 8; c++) {
    const i = Array.from(data.train.labels).indexOf(c);
    if (i >= 0) picks.push(i);
  }
  const indices = Int32Array.from(picks);
  const views = makeViews(data.train.images, indices, 2024, {
    normalize: false,
    cropScale: [cropScale, 1],
  });
  const toBytes = (v: Float32Array, i: number) =>
    Uint8Array.from(
      v.subarray(i * 3072, (i + 1) * 3072),
      (x) => Math.round(Math.min(1, Math.max(0, x)) * 255),
    );
  return picks.map((p, i) => ({
    original: data.train.images.slice(p * 3072, (p + 1) * 3072),
    view1: toBytes(views.view1, i),
    view2: toBytes(views.view2, i),
    label: data.train.labels[p],
  }));
}

/** SCAN's most confident test images per cluster, from the indices in `results.json`. */
async function clusterImages(
  dataDir: string,
  results: ResultsDocument | undefined,
): Promise<ClusterImages[] | undefined> {
  const scan = results?.variants.find((v) => v.name === "simclr")?.scan;
  if (!scan) return undefined;
  const top = scan.topImages;
  const needed = Math.max(0, ...top.flat()) + 1;
  const data = await loadCifar10(dataDir, {
    trainLimit: 1,
    testLimit: needed,
    strictCounts: false,
  });
  return top.map((rows, cluster) => ({
    cluster,
    matchedClass: scan.matchedOrder.indexOf(cluster),
    images: rows.map((i) => data.test.images.slice(i * 3072, (i + 1) * 3072)),
    labels: rows.map((i) => data.test.labels[i]),
  }));
}

async function main(): Promise<number> {
  const parsed = commandFlags("report", REPORT_FLAGS, Deno.args, {
    usage: "usage: deno task report [--run DIR] [--verify FILE] [--data DIR]",
  });
  if (typeof parsed === "number") return parsed;
  const values = parsed.values;
  const run = values.run ?? await newestRun();
  const summary = await readRunSummary(join(run, RUN_FILES.summary));
  const results = await readResults(join(run, RUN_FILES.results));
  const records = await readTrainLog(join(run, RUN_FILES.log));
  const problems = await runDisagreements(run, { summary, results, log: records });
  if (problems.length) {
    throw new Error(
      `${run}: its files are not of one run, so no report is drawn:\n  ${problems.join("\n  ")}`,
    );
  }
  const featureDim = summary?.featureDim ?? results?.featureDim ?? 1;
  const log = records?.steps.length ? { ...records, featureDim } : undefined;
  if (!summary && !results && !log) {
    throw new Error(
      `${run}: no ${RUN_FILES.summary}, ${RUN_FILES.results} or ${RUN_FILES.log} to report on`,
    );
  }
  const verifyPath = values.verify ??
    [join(run, RUN_FILES.verify), join("runs", RUN_FILES.verify)].find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    });
  const verify = verifyPath ? await readVerifyDocument(verifyPath) : undefined;
  if (values.verify && !verify) throw new Error(`${values.verify}: no such file`);

  const config = summary?.config;
  const dataDir = values.data ?? config?.data;
  let samples: AugmentationSample[] | undefined;
  if (dataDir) {
    try {
      samples = await gallery(dataDir, config?.cropScale ?? 0.08);
    } catch (e) {
      console.error(`report: no augmentation gallery (${(e as Error).message})`);
    }
  }
  let grid: ClusterImages[] | undefined;
  if (dataDir) {
    try {
      grid = await clusterImages(dataDir, results);
    } catch (e) {
      console.error(`report: no SCAN cluster images (${(e as Error).message})`);
    }
  }
  const data: ReportData = {
    clusterImages: grid,
    subtitle: `${run} — ${config?.model ?? results?.model ?? "?"} encoder, ${
      summary?.engine ?? results?.engine ?? ""
    }`,
    log,
    results,
    verify: verify?.rows,
    gallery: samples,
    classNames: results?.classNames,
    config: summary && config
      ? {
        model: config.model,
        epochs: config.epochs,
        "epochs done": Number(summary.epoch.toFixed(2)),
        "batch size": config.batchSize,
        optimizer: config.optimizer,
        "learning rate": config.lr || "default",
        temperature: config.temperature,
        loss: config.loss,
        seed: config.seed,
        "train minutes": Number((summary.trainSeconds / 60).toFixed(1)),
        "images/s": Number(summary.imagesPerSec.toFixed(1)),
        backend: summary.engine,
      }
      : undefined,
  };
  const written = await writeReport(run, data);
  for (const w of written) console.log(w);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`report: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
