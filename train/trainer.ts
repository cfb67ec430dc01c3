/**
 * The SimCLR training loop behind `deno task train`: seeded data order and augmentations that
 * depend only on (seed, step), so a resumed run continues the very same trajectory; a progress
 * bar; a JSONL log per step and per epoch with collapse monitors and a kNN monitor; checkpoints
 * every epoch, on the time budget and on Ctrl-C; a stop on a non-finite loss.
 *
 * @module
 */
import {
  alignment,
  type Backend,
  collapseSigns,
  createModel,
  DEFAULT_OPTIMIZER,
  encodeImages,
  type EpochRecord,
  featureStd,
  Graph,
  learningRate,
  type ModelName,
  modelOptions,
  NonFiniteLossError,
  Optimizer,
  ProgressBar,
  Rng,
  RUN_FILES,
  type RunSummary,
  type SimclrModel,
  type StepRecord,
  trainStep,
  uniformity,
  writeFileAtomic,
  writeRunSummary,
} from "@simclr/core";
import { AugmentPool, type Cifar10, CIFAR10_MEAN, CIFAR10_STD, makeViews } from "@simclr/data";
import { knnClassify } from "@simclr/evaluate";
import { join } from "node:path";
import {
  type Checkpoint,
  loadWeights,
  NonFiniteCheckpointError,
  saveCheckpoint,
} from "./checkpoint.ts";
import { initFromSafetensors } from "./init_from.ts";
import { resolvedLearningRate, resolvedWeightDecay, type TrainConfig } from "./config.ts";
import { BudgetMeter, describePlan, plannedLearningRate, type SchedulePlan } from "./schedule.ts";

/** File names inside a run folder (the contract lives in core/records.ts). */
export { RUN_FILES } from "@simclr/core";

/** A JSONL record of the budget-fitted schedule (`--max-minutes`), written once when planned. */
export interface PlanRecord extends SchedulePlan {
  type: "plan";
  /** Equal to `plannedAtStep`, so that a resume's log truncation keeps the record. */
  step: number;
}

/** What a finished (or stopped) session reports: the end of its `run.json`. */
export type TrainOutcome = Pick<
  RunSummary,
  "stopped" | "step" | "epoch" | "trainSeconds" | "lastLoss" | "imagesPerSec"
>;

/** Everything {@linkcode runTraining} needs; the CLI builds it. */
export interface TrainContext {
  config: TrainConfig & { model: ModelName };
  backend: Backend;
  /** Engine line printed at start and saved in the summary. */
  engineDescription: string;
  data: Cifar10;
  /** Resume from this checkpoint. */
  resumeFrom?: Checkpoint<TrainConfig>;
  /** Where the progress bar and messages go (default stderr). */
  quiet?: boolean;
  /** Set to request a clean stop (Ctrl-C handler, tests). */
  stopSignal?: { requested: boolean };
  /** Called after every step (tests use it to request a stop at a given step). */
  onStep?: (step: number) => void;
  /**
   * Wall clock in milliseconds for the `--max-minutes` budget (default `performance.now`; tests
   * pass a fake one).
   */
  clock?: () => number;
  /**
   * Clock reading at which the budget started (default: when runTraining is called). The CLI
   * passes 0, the process start, so that start-up counts against the budget too.
   */
  budgetStart?: number;
}

/** A 32-bit mix of two integers, for per-epoch and per-step seeds. */
export function mixSeed(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}

const PROBE_IMAGES = 256;
const PROBE_SEED = 12345;
const KNN_BANK = 5000;
const KNN_QUERIES = 1000;

/**
 * Raised when training cannot go on (a non-finite loss, or non-finite weights at a checkpoint);
 * the message names the last checkpoint that exists, or says there is none.
 */
export class TrainingStoppedError extends Error {
  constructor(message: string, readonly lastCheckpoint?: string) {
    super(message);
    this.name = "TrainingStoppedError";
  }
}

/** Runs (or resumes) training until the epochs are done, the time budget ends or a stop is asked. */
export async function runTraining(ctx: TrainContext): Promise<TrainOutcome> {
  const c = ctx.config;
  const log = (s: string) => {
    if (!ctx.quiet) console.error(s);
  };
  const g = new Graph(ctx.backend);
  const model = createModel(g, c.model, modelOptions(c, c.seed));
  const optimizer = new Optimizer(g, model.params(), {
    ...DEFAULT_OPTIMIZER,
    name: c.optimizer,
    weightDecay: resolvedWeightDecay(c),
  });
  const nTrain = c.limit > 0 ? Math.min(c.limit, ctx.data.train.count) : ctx.data.train.count;
  const trainImages = ctx.data.train.images.subarray(0, nTrain * 3072);
  const stepsPerEpoch = Math.floor(nTrain / c.batchSize);
  if (stepsPerEpoch < 1) {
    throw new Error(`--batch-size ${c.batchSize} is larger than the ${nTrain} training images`);
  }
  // With --max-minutes the schedule's length is planned after the warm-up (train/schedule.ts);
  // until then only the warm-up is fixed. Without a budget, --epochs decides.
  const clock = ctx.clock ?? (() => performance.now());
  const budgetStart = ctx.budgetStart ?? clock();
  const budgetSeconds = c.maxMinutes * 60;
  const elapsedSeconds = () => (clock() - budgetStart) / 1000;
  let plan: SchedulePlan | undefined = ctx.resumeFrom?.meta.plan;
  const askedWarmup = Math.round(c.warmupEpochs * stepsPerEpoch);
  let totalSteps = plan
    ? plan.totalSteps
    : budgetSeconds > 0
    ? Number.MAX_SAFE_INTEGER
    : c.epochs * stepsPerEpoch;
  let warmupSteps = plan ? plan.warmupSteps : Math.min(askedWarmup, Math.floor(totalSteps / 2));
  const meter = plan || budgetSeconds <= 0 ? undefined : new BudgetMeter();
  const epochsLabel = () =>
    totalSteps === Number.MAX_SAFE_INTEGER ? "?" : `${Math.ceil(totalSteps / stepsPerEpoch)}`;
  const baseLr = resolvedLearningRate(c);
  const ckptPath = join(c.out, RUN_FILES.checkpoint);
  const logPath = join(c.out, RUN_FILES.log);

  let step = 0, trainSeconds = 0;
  let runId: string = crypto.randomUUID();
  /** Step of the checkpoint on disk for this run, if any. */
  let savedStep: number | undefined;
  let lastLoss = NaN, epochLossSum = 0, epochLossCount = 0, epochImages = 0, epochSeconds = 0;
  if (ctx.resumeFrom) {
    loadWeights(g, model, ctx.resumeFrom, ckptPath);
    optimizer.load(ctx.resumeFrom.optimizer);
    step = ctx.resumeFrom.meta.step;
    savedStep = step;
    runId = ctx.resumeFrom.meta.runId ?? runId;
    trainSeconds = ctx.resumeFrom.meta.trainSeconds;
    const kept = await truncateLog(logPath, step);
    // A mid-epoch resume continues the epoch's averages from the steps already logged, so the
    // epoch record equals the uninterrupted run's.
    const epochStart = Math.floor(step / stepsPerEpoch) * stepsPerEpoch;
    const steps = kept.filter((r): r is StepRecord => r.type === "step");
    const done = steps.filter((r) => r.step > epochStart && r.step <= step);
    const startTime = epochStart === 0 ? 0 : steps.find((r) => r.step === epochStart)?.time;
    for (const r of done) epochLossSum += r.loss;
    epochLossCount = done.length;
    epochImages = done.length * c.batchSize;
    if (done.length && startTime !== undefined) epochSeconds = done.at(-1)!.time - startTime;
    log(`resuming at step ${step} (epoch ${(step / stepsPerEpoch).toFixed(2)})`);
    if (plan) log(`keeping the ${describePlan(plan, stepsPerEpoch)}`);
  } else {
    if (c.initFrom) log(await initFromSafetensors(g, model, c.initFrom));
    await Deno.mkdir(c.out, { recursive: true });
    await writeFileAtomic(logPath, new Uint8Array());
  }
  const logFile = await Deno.open(logPath, { append: true, create: true });
  const writeRecord = async (r: StepRecord | EpochRecord | PlanRecord) => {
    await logFile.write(new TextEncoder().encode(JSON.stringify(r) + "\n"));
  };

  const augmentConfig = { cropScale: [c.cropScale, 1] as [number, number] };
  const pool = await AugmentPool.create({
    images: trainImages,
    workers: c.workers,
    config: augmentConfig,
  });
  const orderOf = (epoch: number) => new Rng(mixSeed(c.seed, epoch)).permutation(nTrain);
  let order = orderOf(Math.floor(step / stepsPerEpoch));
  const batchOf = (s: number) => {
    const pos = s % stepsPerEpoch;
    return order.slice(pos * c.batchSize, (pos + 1) * c.batchSize);
  };
  const lastGood = () =>
    savedStep === undefined
      ? "No checkpoint was written for this run yet."
      : `Last good checkpoint: ${ckptPath} (step ${savedStep}); continue from it with ` +
        `--resume --out ${c.out} --lr SMALLER.`;
  const save = async (reason: string) => {
    try {
      await saveCheckpoint(ckptPath, model, await optimizer.state(), {
        config: c,
        step,
        epoch: step / stepsPerEpoch,
        trainSeconds,
        seed: c.seed,
        reason,
        runId,
        plan,
      });
      savedStep = step;
    } catch (e) {
      if (!(e instanceof NonFiniteCheckpointError)) throw e;
      throw new TrainingStoppedError(
        `the model diverged by step ${step}: ${e.message}. ${lastGood()}`,
        savedStep === undefined ? undefined : ckptPath,
      );
    }
  };

  let stopped: TrainOutcome["stopped"] = "done";
  let collapsedEpochs = 0;
  let bar: ProgressBar | undefined;
  const recent: number[] = [];
  let pending: ReturnType<AugmentPool["prefetch"]> | undefined;
  let unprinted: "first" | "refit" | undefined;
  try {
    pending = step < totalSteps
      ? pool.prefetch(batchOf(step), mixSeed(c.seed, step + 1e6))
      : undefined;
    while (step < totalSteps) {
      const epoch = Math.floor(step / stepsPerEpoch);
      const posInEpoch = step % stepsPerEpoch;
      if (!bar) {
        bar = ctx.quiet ? undefined : new ProgressBar({
          total: stepsPerEpoch,
          label: `epoch ${epoch + 1}/${epochsLabel()}`,
        });
        bar?.update(posInEpoch);
      }
      const t0 = performance.now();
      const wall0 = clock();
      const views = await pending!;
      const next = step + 1;
      if (next < totalSteps) {
        if (next % stepsPerEpoch === 0) order = orderOf(next / stepsPerEpoch);
        pending = pool.prefetch(batchOf(next), mixSeed(c.seed, next + 1e6));
      }
      const lr = plan
        ? plannedLearningRate(baseLr, step, plan)
        : learningRate(baseLr, step, totalSteps, warmupSteps);
      const { loss } = await trainStep(
        model,
        optimizer,
        views.view1,
        views.view2,
        c.batchSize,
        { loss: c.loss, temperature: c.temperature },
        lr,
      );
      const seconds = (performance.now() - t0) / 1000;
      trainSeconds += seconds;
      epochSeconds += seconds;
      step = next;
      lastLoss = loss;
      epochLossSum += loss;
      epochLossCount++;
      epochImages += c.batchSize;
      recent.push(c.batchSize / seconds);
      if (recent.length > 10) recent.shift();
      const imagesPerSec = recent.reduce((a, b) => a + b, 0) / recent.length;
      await writeRecord({
        type: "step",
        step,
        epoch: step / stepsPerEpoch,
        loss,
        lr,
        imagesPerSec,
        time: trainSeconds,
      });
      bar?.update(posInEpoch + 1, {
        loss: loss.toFixed(4),
        lr: lr.toExponential(2),
        "img/s": imagesPerSec.toFixed(1),
      });

      ctx.onStep?.(step);
      meter?.observeStep((clock() - wall0) / 1000);
      // The time budget stays a hard stop, in case the machine slows down after the plan.
      if (step < totalSteps && budgetSeconds > 0 && elapsedSeconds() >= budgetSeconds) {
        stopped = "time-budget";
      } else if (step < totalSteps && c.maxSteps > 0 && step >= c.maxSteps) {
        stopped = "max-steps";
      } else if (step < totalSteps && ctx.stopSignal?.requested) {
        stopped = "interrupt";
      }
      const epochEnd = step % stepsPerEpoch === 0;
      // The first plan after the warm-up, with the monitors timed (train/schedule.ts).
      const planDue = stopped === "done" && meter !== undefined && !plan &&
        meter.due(step, warmupSteps, elapsedSeconds(), budgetSeconds);
      if (epochEnd || step === totalSteps || stopped !== "done" || planDue) {
        // Monitors at every epoch end, at the last step, at a stop so a short session still
        // reports them, and where the budget is planned, to time them.
        bar?.finish();
        bar = undefined;
        const wallEnd0 = clock();
        const done = step / stepsPerEpoch;
        const monitors = await probeMonitors(g, model, ctx.data, augmentConfig);
        let knnAccuracy: number | undefined;
        let knnSeconds: number | undefined;
        const knnDue = epochEnd ? done % c.knnEvery === 0 : true;
        if (c.knnEvery > 0 && (knnDue || step === totalSteps || planDue)) {
          const wallKnn0 = clock();
          knnAccuracy = await knnMonitor(model, ctx.data, nTrain);
          knnSeconds = (clock() - wallKnn0) / 1000;
        }
        const signs = collapseSigns(monitors, model.featureDim);
        const record: EpochRecord = {
          type: "epoch",
          epoch: done,
          step,
          loss: epochLossSum / epochLossCount,
          ...monitors,
          knnAccuracy,
          imagesPerSec: epochImages / epochSeconds,
          time: trainSeconds,
          runId,
          ...(signs.length ? { collapse: signs } : {}),
        };
        await writeRecord(record);
        log(
          `epoch ${Number.isInteger(done) ? done : done.toFixed(2)}: loss ${
            record.loss.toFixed(4)
          }  feature std ${monitors.featureStd.toFixed(4)}  align ${
            monitors.alignment.toFixed(3)
          }  unif ${monitors.uniformity.toFixed(3)}` +
            (knnAccuracy !== undefined ? `  kNN ${(100 * knnAccuracy).toFixed(1)}%` : "") +
            `  ${record.imagesPerSec.toFixed(1)} img/s`,
        );
        epochLossSum =
          epochLossCount =
          epochImages =
          epochSeconds =
            0;
        if (epochEnd) {
          // Two epochs in a row, so one noisy probe batch does not raise the alarm.
          collapsedEpochs = signs.length ? collapsedEpochs + 1 : 0;
          if (collapsedEpochs >= 2) {
            log(
              `warning: the features look collapsed for ${collapsedEpochs} epochs (${
                signs.join("; ")
              }); ${
                c.stopOnCollapse
                  ? "stopping (--stop-on-collapse)"
                  : "try a lower --lr; --stop-on-collapse stops here"
              }`,
            );
            if (c.stopOnCollapse && step < totalSteps) stopped = "collapse";
          }
        }
        if (stopped === "done") {
          await save(step === totalSteps ? "final" : epochEnd ? "epoch" : "plan");
        }
        meter?.observeEpochEnd((clock() - wallEnd0) / 1000 - (knnSeconds ?? 0), knnSeconds);
      }
      // Then refits from the recent step time, every few steps (no checkpoint needed: every
      // checkpoint carries the plan of its moment).
      if (
        stopped === "done" && meter &&
        (planDue || (plan && meter.refitDue(step, stepsPerEpoch, totalSteps)))
      ) {
        const previous = plan;
        const next = meter!.plan({
          budgetSeconds,
          elapsedSeconds: elapsedSeconds(),
          step,
          stepsPerEpoch,
          warmupSteps: askedWarmup,
          knnEvery: c.knnEvery,
          previous,
        });
        if (next.totalSteps !== previous?.totalSteps) {
          plan = next;
          totalSteps = plan.totalSteps;
          warmupSteps = plan.warmupSteps;
          // Every change is in the log; the first plan and large refits are also printed,
          // between progress bars (at the next epoch end when one is drawing).
          if (
            !previous ||
            Math.abs(next.totalSteps - previous.totalSteps) >= 0.05 * previous.totalSteps
          ) {
            unprinted = previous ? "refit" : "first";
          }
          await writeRecord({ type: "plan", step, ...plan });
          // The first plan is saved at once so that --resume keeps it (a plan always leaves at
          // least one step to go, whose batch is already being prefetched).
          if (!previous) await save("plan");
        }
      }
      if (unprinted && !bar) {
        log(describePlan(plan!, stepsPerEpoch, unprinted === "refit"));
        unprinted = undefined;
      }
      if (stopped !== "done") {
        bar?.finish();
        await save(stopped);
        log(
          `stopped (${stopped}) at step ${step}; checkpoint saved${
            stopped === "collapse" ? "" : ", continue with --resume"
          }`,
        );
        break;
      }
    }
    if (pending) await pending.catch(() => {});
  } catch (e) {
    bar?.finish();
    if (e instanceof NonFiniteLossError) {
      throw new TrainingStoppedError(
        `${e.message} ${lastGood()}`,
        savedStep === undefined ? undefined : ckptPath,
      );
    }
    throw e;
  } finally {
    // A batch still being augmented when an error stops the loop must not become an unhandled
    // rejection once the pool closes.
    pending?.catch(() => {});
    pool.close();
    logFile.close();
    optimizer.dispose();
  }
  const outcome: TrainOutcome = {
    stopped,
    step,
    epoch: step / stepsPerEpoch,
    trainSeconds,
    lastLoss,
    imagesPerSec: recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : 0,
  };
  await writeRunSummary(join(c.out, RUN_FILES.summary), {
    config: c,
    engine: ctx.engineDescription,
    featureDim: model.featureDim,
    stepsPerEpoch,
    totalSteps,
    runId,
    plan,
    ...outcome,
  });
  for (const p of model.params()) g.dispose(p.value);
  for (const b of model.buffers()) g.dispose(b.value);
  return outcome;
}

/** Collapse monitors on a fixed batch of test images, two fixed-seed views each. */
async function probeMonitors(
  g: Graph,
  model: SimclrModel,
  data: Cifar10,
  augmentConfig: { cropScale: [number, number] },
) {
  const n = Math.min(PROBE_IMAGES, data.test.count);
  const indices = new Int32Array(n).map((_, i) => i);
  const views = makeViews(data.test.images, indices, PROBE_SEED, augmentConfig);
  const d = model.featureDim;
  const [h1, h2] = await g.tidy(async () => {
    const f = (v: Float32Array) =>
      g.noGrad(() => model.features(g.constant(v, [n, 32, 32, 3]), false)).read();
    return [await f(views.view1), await f(views.view2)];
  });
  return {
    featureStd: featureStd(h1, n, d),
    alignment: alignment(h1, h2, n, d),
    uniformity: uniformity(h1, n, d),
  };
}

/** Weighted kNN (k=200, τ=0.1) of test images 0..999 against train images 0..4,999. */
async function knnMonitor(model: SimclrModel, data: Cifar10, nTrain: number): Promise<number> {
  const nBank = Math.min(KNN_BANK, nTrain);
  const nQuery = Math.min(KNN_QUERIES, data.test.count);
  const opts = { mean: CIFAR10_MEAN, std: CIFAR10_STD };
  const bank = await encodeImages(model, data.train.images.subarray(0, nBank * 3072), opts);
  const queries = await encodeImages(model, data.test.images.subarray(0, nQuery * 3072), opts);
  const result = await knnClassify({
    train: bank,
    trainLabels: data.train.labels.subarray(0, nBank),
    nTrain: nBank,
    test: queries,
    nTest: nQuery,
    dim: model.featureDim,
    testLabels: data.test.labels.subarray(0, nQuery),
  }, { k: Math.min(200, nBank), temperature: 0.1, numClasses: 10 });
  return result.accuracy!;
}

/**
 * Keeps only the log records up to `step` (those a resumed run will not redo), atomically, and
 * returns them.
 */
async function truncateLog(path: string, step: number): Promise<(StepRecord | EpochRecord)[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const kept = text.split("\n").filter((line) => {
    if (!line.trim()) return false;
    try {
      return JSON.parse(line).step <= step;
    } catch {
      return false; // a line cut by a kill
    }
  });
  await writeFileAtomic(path, new TextEncoder().encode(kept.map((l) => l + "\n").join("")));
  return kept.map((l) => JSON.parse(l));
}
