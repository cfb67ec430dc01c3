/**
 * `deno run -A tests/recipe_table.ts RUN_FOLDER...`: the rows of `docs/recipe-study.md`, read
 * from the run folders of the pilots (their `run.json` and `log.jsonl`), so that every figure in
 * the study comes from this command and the training command beside it.
 *
 * Per run: the flags that differ from the first run given (the baseline), epochs, training
 * minutes, median images/s, model GFLOP per image (forward and both gradients, counted from the
 * model's convolutions and matMuls), the kNN monitor at epochs 5, 10, 15, and the kNN monitor
 * at the baseline's compute: the epoch at which the run has spent as many model FLOPs as the
 * baseline's whole run (interpolated between epochs). Minutes measured while other jobs share the
 * cores are not comparable between runs; FLOPs are, up to each model's kernel efficiency, which
 * the images/s column shows. And, where the run folder has a `results.json`, its
 * linear probe, kNN and k-means NMI.
 *
 * @module
 */
import { createRefBackend } from "@simclr/backend-ref";
import {
  type EpochRecord,
  type ModelName,
  readResults,
  readRunSummary,
  readTrainLog,
  RUN_FILES,
  type RunConfigRecord,
} from "@simclr/core";
import { savedConfig } from "@simclr/train";
import { benchStep } from "./bench.ts";

/** The `simclr` row of a pilot's `results.json` (`deno task evaluate --limit 10000`), if any. */
interface Finalist {
  probe: number;
  knn: number;
  nmi: number;
}

interface Pilot {
  name: string;
  config: RunConfigRecord;
  epochs: EpochRecord[];
  final?: Finalist;
}

async function readPilot(dir: string): Promise<Pilot> {
  const run = await readRunSummary(`${dir}/${RUN_FILES.summary}`);
  if (!run) throw new Error(`${dir}/${RUN_FILES.summary}: no such file`);
  const epochs = (await readTrainLog(`${dir}/${RUN_FILES.log}`))?.epochs ?? [];
  if (epochs.length === 0) throw new Error(`${dir}/${RUN_FILES.log}: no epoch records`);
  const results = await readResults(`${dir}/${RUN_FILES.results}`);
  const v = results?.variants.find((x) => x.name === "simclr");
  const final = v && { probe: v.probe.testAccuracy, knn: v.knn.accuracy, nmi: v.kmeans.nmi };
  // Runs from before the head flags read as the default head, so that only real changes show.
  const config = savedConfig(run.config);
  return { name: dir.replace(/\/$/, "").split("/").pop()!, config, epochs, final };
}

/** Model FLOPs of one SimCLR step per image (two views, projection head included), batch of 2. */
async function gflopsPerImage(config: RunConfigRecord): Promise<number> {
  const n = 2;
  const row = await benchStep(createRefBackend(), config.model as ModelName, n, 0, {
    countFlops: true,
    width: config.width ?? 0,
    head: config,
  });
  return row.flopsPerStep! / n / 1e9;
}

/** The kNN monitor at (fractional) epoch `e`, linear between the epochs around it. */
function knnAtEpoch(p: Pilot, e: number): number | undefined {
  const pts = p.epochs.filter((r) => r.knnAccuracy !== undefined);
  if (pts.length === 0 || e > pts[pts.length - 1].epoch + 1e-9) return undefined;
  if (e <= pts[0].epoch) return pts[0].knnAccuracy;
  for (let i = 1; i < pts.length; i++) {
    if (e <= pts[i].epoch) {
      const a = pts[i - 1], b = pts[i];
      const f = (e - a.epoch) / (b.epoch - a.epoch);
      return a.knnAccuracy! + f * (b.knnAccuracy! - a.knnAccuracy!);
    }
  }
  return pts[pts.length - 1].knnAccuracy;
}

const SHOWN: (keyof RunConfigRecord)[] = [
  "model",
  "width",
  "optimizer",
  "lr",
  "temperature",
  "batchSize",
  "cropScale",
  "projHidden",
  "projOut",
  "projLayers",
];

if (import.meta.main) {
  if (Deno.args.length === 0) {
    console.error("usage: deno run -A tests/recipe_table.ts BASELINE_RUN [RUN...]");
    Deno.exit(2);
  }
  const pilots = await Promise.all(Deno.args.map(readPilot));
  const base = pilots[0];
  const baseEpochs = base.epochs[base.epochs.length - 1].epoch;
  const baseGflops = await gflopsPerImage(base.config);
  const pct = (x?: number) => (x === undefined ? "–" : (100 * x).toFixed(1));
  console.log(
    "| run | change from baseline | epochs | min | img/s | GFLOP/img | kNN@5 | kNN@10 | kNN@15 | " +
      "kNN @ baseline's FLOPs | probe | kNN (eval) | NMI |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const p of pilots) {
    const diff = SHOWN.filter((k) => p !== base && p.config[k] !== base.config[k])
      .map((k) => `${k} ${p.config[k]}`).join(", ") || (p === base ? "baseline" : "–");
    const last = p.epochs[p.epochs.length - 1];
    const ips = p.epochs.map((e) => e.imagesPerSec).sort((a, b) => a - b);
    const gf = await gflopsPerImage(p.config);
    const at = (ep: number) => p.epochs.find((e) => e.epoch === ep)?.knnAccuracy;
    console.log(
      `| ${p.name} | ${diff} | ${last.epoch} | ${(last.time / 60).toFixed(1)} | ` +
        `${ips[Math.floor(ips.length / 2)].toFixed(0)} | ${gf.toFixed(3)} | ${pct(at(5))} | ` +
        `${pct(at(10))} | ${pct(at(15))} | ${
          pct(knnAtEpoch(p, (baseEpochs * baseGflops) / gf))
        } | ${pct(p.final?.probe)} | ` +
        `${pct(p.final?.knn)} | ${p.final?.nmi.toFixed(3) ?? "–"} |`,
    );
  }
}
