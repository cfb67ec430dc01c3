/**
 * SCAN's second stage as the paper runs it: the clustering heads and the encoder trained end to
 * end with the SCAN loss. Each step takes a batch of anchor images and, for each, one of its
 * neighbours mined once on the frozen pretext features; both go through the encoder as augmented
 * views (the caller's augmentation, the trainer's pipeline in the CLI) with batch norm in training
 * mode. Several heads train side by side on the shared encoder, their losses summed as in the
 * paper, and the head with the lowest loss over the last epoch's worth of steps is kept.
 *
 * The heads see the encoder's features through the same input as the frozen heads (L2-normalised,
 * then the frozen-feature standardisation as fixed constants), so the frozen heads can start the
 * fine-tuning (warm start) and {@linkcode predictClusters} applies unchanged to features of the
 * fine-tuned encoder.
 *
 * Fine-tuning can be resumed: at every epoch end (and when asked to pause) it hands the caller a
 * {@linkcode FinetuneCheckpoint} to save beside the encoder's weights, and given the saved state
 * back ({@linkcode FinetuneOptions.resume}) it continues the same trajectory: the batches and
 * neighbour draws are replayed from the seed up to the saved step, the augmentations are seeded
 * per step, and the heads and Adam's moments come from the checkpoint.
 *
 * @module
 */
import {
  DEFAULT_OPTIMIZER,
  encodeImages,
  F,
  Linear,
  Optimizer,
  type OptimizerState,
  type Param,
  Rng,
  type ScanFinetuneRecord,
  scanLoss,
  type SimclrModel,
  type Tensor,
} from "@simclr/core";
import type { Labels } from "./features.ts";
import { type ClusterScores, scoreClusters } from "./metrics.ts";
import {
  type HeadLayer,
  type HeadLoss,
  mostConfident,
  predictClusters,
  readHeadLayers,
  type ScanFit,
  selfLabel,
} from "./scan_heads.ts";

/** Options of {@linkcode finetuneScan}. */
export interface FinetuneOptions {
  /**
   * `count` augmented views, one per index of `indices` (positions into the train images),
   * normalised NHWC float32 `[count, 32, 32, 3]`, deterministic in `seed`.
   */
  readonly augment: (indices: Int32Array, seed: number) => Promise<Float32Array>;
  /** Passes over the anchors (default 10; the deadline may stop earlier). */
  readonly epochs?: number;
  /** Anchors per step; each brings one neighbour, so the encoder sees twice as many (default 128). */
  readonly batchSize?: number;
  /** Adam learning rate of encoder and heads (default 1e-4, as SCAN). */
  readonly lr?: number;
  /** L2 weight decay of the decayed weights (default 1e-4, as SCAN). */
  readonly weightDecay?: number;
  /** Weight of the entropy term (default 5). */
  readonly entropyWeight?: number;
  /** Seed of the batches, the neighbour draws and the augmentations. */
  readonly seed?: number;
  /** `performance.now()` time after which no new step starts (default none). */
  readonly deadline?: number;
  /** Called after every step. */
  readonly onProgress?: (p: FinetuneProgress) => void;
  /**
   * Called at every epoch end and before a pause, with what a resume needs besides the encoder's
   * weights and batch-norm statistics (which the caller reads from the model). Awaited: the
   * encoder and the heads do not change until it returns.
   */
  readonly onCheckpoint?: (c: FinetuneCheckpoint) => Promise<void>;
  /**
   * Asked before each step with the steps done so far: a reason (`max-steps`, `interrupt`) stops
   * fine-tuning there, after `onCheckpoint`, with a {@linkcode FinetunePaused} error.
   */
  readonly pause?: (step: number) => string | undefined;
  /** State saved by `onCheckpoint`, to continue from; the model must hold the saved encoder. */
  readonly resume?: FinetuneResume;
}

/** One step's per-head loss parts (`[total, consistency, entropy]` per head) and its anchors. */
export interface FinetuneStepLoss {
  /** Anchors in the step. */
  readonly b: number;
  /** `3 · heads` values. */
  readonly values: readonly number[];
}

/** The progress part of a fine-tuning checkpoint (plain JSON). */
export interface FinetuneProgressState {
  /** Steps done. */
  readonly step: number;
  /** Steps per epoch, to check the batch size on resume. */
  readonly stepsPerEpoch: number;
  /** Mean loss over the heads per epoch so far (the last one partial, summed over its steps). */
  readonly epochLoss: readonly number[];
  /** The last steps' losses (at most one epoch's worth), for choosing the head at the end. */
  readonly history: readonly FinetuneStepLoss[];
}

/** What {@linkcode FinetuneOptions.onCheckpoint} gets. */
export interface FinetuneCheckpoint extends FinetuneProgressState {
  /** Why it is written: `epoch`, or the pause reason. */
  readonly reason: string;
  /** The heads' live parameters, named `scan.finetune.head<h>.<layer>.weight|bias`. */
  readonly headParams: readonly Param[];
  /** Adam's state over the encoder's and the heads' parameters. */
  readonly optimizer: OptimizerState;
}

/** What {@linkcode FinetuneOptions.resume} takes: a checkpoint read back. */
export interface FinetuneResume extends FinetuneProgressState {
  /** Each head's layers, as saved. */
  readonly heads: readonly (readonly HeadLayer[])[];
  /** Adam's state, as saved. */
  readonly optimizer: OptimizerState;
}

/** Thrown when {@linkcode FinetuneOptions.pause} stops fine-tuning (after its checkpoint). */
export class FinetunePaused extends Error {
  constructor(readonly step: number, readonly reason: string) {
    super(`SCAN fine-tuning paused (${reason}) after step ${step}`);
    this.name = "FinetunePaused";
  }
}

/** Progress of {@linkcode finetuneScan}. */
export interface FinetuneProgress {
  /** Steps done. */
  readonly step: number;
  /** Steps planned (all epochs). */
  readonly totalSteps: number;
  /** Epoch of the step, from 1. */
  readonly epoch: number;
  /** Mean total loss of the heads on the step. */
  readonly loss: number;
}

/** What {@linkcode finetuneScan} returns. */
export interface FinetuneFit {
  /** The chosen head, in the frozen heads' format (input standardisation of `start`). */
  readonly fit: ScanFit;
  /** Every head's loss over the last `window` steps. */
  readonly heads: HeadLoss[];
  /** Index of the chosen head. */
  readonly best: number;
  /** Steps run (fewer than planned when the deadline came first). */
  readonly steps: number;
  /** Epochs run, fractional when the deadline stopped one part-way. */
  readonly epochs: number;
  /** Steps the head losses are averaged over: one epoch's worth, or all when fewer ran. */
  readonly window: number;
  /** Mean loss over the heads per epoch (the last one partial when stopped early). */
  readonly epochLoss: number[];
  /** Whether the deadline stopped it before the planned epochs. */
  readonly stoppedByDeadline: boolean;
}

/**
 * Fine-tunes `model`'s encoder (its parameters and batch-norm statistics change in place) and
 * the heads of `start` with the SCAN loss. `neighbours` is `[n, k]` (mined on the frozen
 * features). `start.heads.length` heads are trained, initialised from `start.allLayers`, the
 * frozen heads. Returns the chosen head; encode with `model` afterwards to apply it.
 */
export async function finetuneScan(
  model: SimclrModel,
  start: ScanFit,
  n: number,
  neighbours: Int32Array,
  k: number,
  options: FinetuneOptions,
): Promise<FinetuneFit> {
  if (neighbours.length !== n * k) {
    throw new Error(`finetuneScan: expected ${n}·${k} neighbour indices, got ${neighbours.length}`);
  }
  if (model.featureDim !== start.dim) {
    throw new Error(
      `finetuneScan: the encoder gives ${model.featureDim} features, the heads take ${start.dim}`,
    );
  }
  const epochs = options.epochs ?? 10;
  const batchSize = Math.min(options.batchSize ?? 128, n);
  for (const [name, v] of [["epochs", epochs], ["batchSize", batchSize]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`finetuneScan: ${name} must be a positive integer, got ${v}`);
    }
  }
  const lr = options.lr ?? 1e-4;
  const entropyWeight = options.entropyWeight ?? 5;
  const seed = options.seed ?? 0;
  const rng = new Rng(seed);
  const g = model.params()[0].value.graph;
  const { dim, clusters } = start;
  const resume = options.resume;
  if (resume && resume.heads.length !== start.allLayers.length) {
    throw new Error(
      `finetuneScan: the checkpoint has ${resume.heads.length} heads, the start ${start.allLayers.length}`,
    );
  }
  const heads: Linear[][] = start.allLayers.map((layers, h) =>
    layers.map((l0, i) => {
      // The layers are made from the start's heads whether resuming or not, so the random
      // stream below is the same; a resume then overwrites them with the saved heads.
      const layer = new Linear(g, rng, `scan.finetune.head${h}.${i}`, l0.nIn, l0.nOut);
      const l = resume ? resume.heads[h][i] : l0;
      if (l.nIn !== l0.nIn || l.nOut !== l0.nOut) {
        throw new Error(
          `finetuneScan: saved head ${h} layer ${i} is ${l.nIn}×${l.nOut}, expected ${l0.nIn}×${l0.nOut}`,
        );
      }
      for (const [p, values] of [[layer.weight, l.weight], [layer.bias!, l.bias]] as const) {
        g.dispose(p.value);
        p.value = g.keep(g.variable(values, [...p.value.shape]));
      }
      return layer;
    })
  );
  const headParams = heads.flat().flatMap((l) => l.params());
  const encoderParams = model.encoder.params();
  const params = [...encoderParams, ...headParams];
  const optimizer = new Optimizer(g, params, {
    ...DEFAULT_OPTIMIZER,
    name: "adam",
    weightDecay: options.weightDecay ?? 1e-4,
  });
  if (resume) optimizer.load(resume.optimizer);
  const mean = g.keep(g.constant(Float32Array.from(start.mean), [dim]));
  const invStd = g.keep(g.constant(Float32Array.from(start.std, (s) => 1 / s), [dim]));
  const forwardHead = (layers: Linear[], x: Tensor) =>
    layers.reduce((y, layer, l) => layer.forward(l > 0 ? F.relu(y) : y), x);

  const stepsPerEpoch = Math.ceil(n / batchSize);
  const totalSteps = epochs * stepsPerEpoch;
  // Each step's per-head losses, so the choice can average the last epoch's worth of steps even
  // when the deadline stops an epoch part-way.
  const history: FinetuneStepLoss[] = resume ? [...resume.history] : [];
  const epochLoss: number[] = resume ? [...resume.epochLoss] : [];
  if (resume && resume.stepsPerEpoch !== stepsPerEpoch) {
    throw new Error(
      `finetuneScan: the checkpoint has ${resume.stepsPerEpoch} steps per epoch, this run ` +
        `${stepsPerEpoch} (another batch size or train set)`,
    );
  }
  // The batch of a step: anchors, then one random neighbour of each.
  const orders: Int32Array[] = [];
  const batchOf = (step: number) => {
    const epoch = Math.floor(step / stepsPerEpoch);
    while (orders.length <= epoch) orders.push(rng.permutation(n));
    const s = step % stepsPerEpoch;
    const rows = orders[epoch].subarray(s * batchSize, Math.min(n, (s + 1) * batchSize));
    const b = rows.length;
    const indices = new Int32Array(2 * b);
    for (let i = 0; i < b; i++) {
      indices[i] = rows[i];
      indices[b + i] = neighbours[rows[i] * k + rng.int(k)];
    }
    return indices;
  };
  const augmentSeed = (step: number) => (seed * 1_000_003 + step) % 2 ** 31;
  const first = resume?.step ?? 0;
  // Replaying the batches up to the saved step puts the random stream where the run left it.
  for (let s = 0; s < first; s++) batchOf(s);
  const checkpoint = async (step: number, reason: string) => {
    await options.onCheckpoint?.({
      reason,
      step,
      stepsPerEpoch,
      epochLoss: [...epochLoss],
      history: history.slice(-stepsPerEpoch),
      headParams,
      optimizer: await optimizer.state(),
    });
  };
  let step = first;
  let stoppedByDeadline = false;
  // The next batch is augmented while the current one trains.
  let indices = batchOf(first);
  let pending: Promise<Float32Array> | undefined = first < totalSteps
    ? options.augment(indices, augmentSeed(first))
    : undefined;
  try {
    for (; step < totalSteps; step++) {
      if (options.deadline !== undefined && step > first && performance.now() > options.deadline) {
        stoppedByDeadline = true;
        break;
      }
      const pauseReason = options.pause?.(step);
      if (pauseReason) {
        await checkpoint(step, pauseReason);
        throw new FinetunePaused(step, pauseReason);
      }
      const views = await pending!;
      const current = indices;
      const b = current.length / 2;
      if (step + 1 < totalSteps) {
        indices = batchOf(step + 1);
        pending = options.augment(indices, augmentSeed(step + 1));
      } else {
        pending = undefined;
      }
      if (views.length !== current.length * 3072) {
        throw new Error(
          `finetuneScan: augment gave ${views.length} floats for ${current.length} images, expected ${
            current.length * 3072
          }`,
        );
      }
      const values = await g.tidy(async () => {
        const features = model.features(g.constant(views, [2 * b, 32, 32, 3]), true);
        const x = F.mul(F.sub(F.l2NormalizeRows(features), mean), invStd);
        const parts: Tensor[] = [];
        let total: Tensor | undefined;
        for (const layers of heads) {
          const logits = forwardHead(layers, x);
          const loss = scanLoss(
            F.slice(logits, [0, 0], [b, clusters]),
            F.slice(logits, [b, 0], [b, clusters]),
            entropyWeight,
          );
          total = total ? F.add(total, loss.total) : loss.total;
          parts.push(
            F.reshape(loss.total, [1]),
            F.reshape(loss.consistency, [1]),
            F.reshape(loss.entropy, [1]),
          );
        }
        const out = await g.noGrad(() => F.concat(parts, 0)).read();
        // Checked before the update, so a NaN never reaches the weights.
        if (!out.every(Number.isFinite)) return out;
        const grads = g.backward(total!, params.map((p) => p.value));
        await optimizer.update(grads, lr);
        return out;
      });
      let meanLoss = 0;
      for (let h = 0; h < heads.length; h++) meanLoss += values[3 * h] / heads.length;
      if (!Number.isFinite(meanLoss)) {
        throw new Error(
          `SCAN fine-tuning loss became ${meanLoss} at step ${
            step + 1
          }; the weights were not updated. Try a lower --finetune-lr`,
        );
      }
      history.push({ b, values: [...values] });
      if (history.length > stepsPerEpoch) history.shift();
      const epoch = Math.floor(step / stepsPerEpoch);
      if (epochLoss.length <= epoch) epochLoss.push(0);
      epochLoss[epoch] += (meanLoss * b) / n;
      options.onProgress?.({ step: step + 1, totalSteps, epoch: epoch + 1, loss: meanLoss });
      if ((step + 1) % stepsPerEpoch === 0) await checkpoint(step + 1, "epoch");
    }
    if (step === 0 || history.length === 0) throw new Error("finetuneScan: no step ran");
    // A partial last epoch's mean is over the anchors it saw.
    const lastSteps = step - (epochLoss.length - 1) * stepsPerEpoch;
    if (lastSteps < stepsPerEpoch) {
      const seen = history.slice(-lastSteps).reduce((a, s) => a + s.b, 0);
      epochLoss[epochLoss.length - 1] *= n / seen;
    }
    const window = Math.min(stepsPerEpoch, history.length);
    const sums = new Float64Array(heads.length * 3);
    let weight = 0;
    for (const { b, values } of history.slice(-window)) {
      for (let i = 0; i < values.length; i++) sums[i] += values[i] * b;
      weight += b;
    }
    const headLosses: HeadLoss[] = heads.map((_, h) => ({
      loss: sums[3 * h] / weight,
      consistency: sums[3 * h + 1] / weight,
      entropy: sums[3 * h + 2] / weight,
    }));
    let best = 0;
    for (let h = 1; h < heads.length; h++) {
      if (headLosses[h].loss < headLosses[best].loss) best = h;
    }
    const allLayers = await readHeadLayers(heads);
    // The head input's standardisation stays the start's; a resumed run takes its heads from
    // the checkpoint, so `start.allLayers` there are the saved ones.
    return {
      fit: {
        ...start,
        layers: allLayers[best],
        allLayers,
        best,
        heads: headLosses,
        epochs: step / stepsPerEpoch,
      },
      heads: headLosses,
      best,
      steps: step,
      epochs: step / stepsPerEpoch,
      window,
      epochLoss,
      stoppedByDeadline,
    };
  } finally {
    // A batch still being augmented when the deadline or an error stopped the loop is dropped.
    pending?.catch(() => {});
    optimizer.dispose();
    for (const p of headParams) g.dispose(p.value);
    g.dispose(mean);
    g.dispose(invStd);
  }
}

/**
 * What `results.json` stores for the fine-tuned encoder (`variants[].scan.finetune`): core's
 * `ScanFinetuneRecord`, which readers rely on, and the rest of the run's details.
 */
export interface ScanFinetuneResult extends ScanFinetuneRecord {
  /** Adam learning rate of encoder and heads. */
  lr: number;
  /** Weight decay. */
  weightDecay: number;
  /** Anchors per step. */
  batchSize: number;
  /** Entropy weight of the loss. */
  entropyWeight: number;
  /** Heads trained (started from the frozen heads). */
  heads: number;
  /** The chosen head's loss parts over the last epoch's worth of steps. */
  loss: HeadLoss;
  /** Steps run. */
  steps: number;
  /** Epochs run (fractional when the time budget stopped one part-way). */
  epochs: number;
  /** Mean loss over the heads per epoch. */
  epochLoss: number[];
  /** Whether `--max-minutes` stopped it before the planned epochs. */
  stoppedByDeadline: boolean;
  /** Per cluster, the test rows it is most confident about (most first). */
  topImages: number[][];
  /** Wall-clock seconds of fine-tuning, re-encoding and scoring. */
  seconds: number;
  /** The self-labelling step on the fine-tuned encoder's features (when run). */
  selfLabel?: ClusterScores & {
    /** Confidence threshold. */
    threshold: number;
    /** Share of train rows above it at the start of each epoch. */
    confident: number[];
    /** Epochs completed. */
    epochs: number;
    /** Set when the time budget left room for fewer augmented views than given. */
    note?: string;
  };
  /** Why self-labelling did not run although asked for (the time budget). */
  selfLabelSkipped?: string;
}

/** Options of {@linkcode finetuneAndScore}. */
export interface FinetuneAndScoreOptions extends FinetuneOptions {
  /** Per-channel mean and std of the [0, 1] pixels, as the encoder was trained with. */
  readonly normalization: {
    mean: readonly [number, number, number];
    std: readonly [number, number, number];
  };
  /**
   * Augmented copies of the train images (NHWC uint8, like `train.images`) for the self-labelling
   * step; it runs when this is non-empty and `selfLabel` is set.
   */
  readonly viewImages?: readonly Uint8Array[];
  /** Run SCAN's self-labelling step (head only) on the fine-tuned encoder's features. */
  readonly selfLabel?: boolean;
  /** Self-labelling confidence threshold (default 0.99). */
  readonly threshold?: number;
  /** Confident test images kept per cluster (default 10). */
  readonly topImages?: number;
  /** Progress: a stage name and the fraction done. */
  readonly onStage?: (stage: string, fraction: number) => void;
}

/** Images and labels of one split (NHWC uint8 32×32×3 images). */
export interface ImageSplit {
  /** `n · 3072` bytes. */
  readonly images: Uint8Array;
  /** One label per image. */
  readonly labels: Labels;
  /** Image count. */
  readonly n: number;
}

/**
 * Fine-tunes (see {@linkcode finetuneScan}), then encodes the train and test images with the
 * fine-tuned encoder (batch norm in evaluation mode) and scores the chosen head on the test set
 * with the same metrics as k-means; with `selfLabel`, self-labels on the new features. The
 * `deadline` bounds the whole call: fine-tuning stops early enough to leave time, measured on
 * this machine before it starts, for the re-encoding, and self-labelling gets at most a quarter
 * of the time left (with fewer augmented views, or none, when that is too short).
 */
export async function finetuneAndScore(
  model: SimclrModel,
  start: ScanFit,
  train: ImageSplit,
  test: ImageSplit,
  neighbours: Int32Array,
  k: number,
  options: FinetuneAndScoreOptions,
): Promise<ScanFinetuneResult> {
  const t0 = performance.now();
  let views = options.selfLabel ? options.viewImages ?? [] : [];
  if (options.selfLabel && views.length === 0) {
    throw new Error("finetuneAndScore: self-labelling needs augmented view images");
  }
  const encode = (images: Uint8Array, onProgress?: (d: number, t: number) => void) =>
    encodeImages(model, images, { ...options.normalization, onProgress });
  let deadline = options.deadline;
  let selfLabelSkipped: string | undefined;
  if (deadline !== undefined) {
    // Time one batch of evaluation-mode encoding to know how long the re-encoding will take.
    const probe = Math.min(train.n, 256);
    const t = performance.now();
    await encode(train.images.subarray(0, probe * 3072));
    const perImage = 1.3 * (performance.now() - t) / probe;
    const left = deadline - performance.now() - perImage * (train.n + test.n);
    if (views.length) {
      // Self-labelling needs the augmented views re-encoded too; it may take at most a quarter
      // of what is left, so it gets fewer views (or none) rather than starving the fine-tuning.
      const fit = Math.max(
        0,
        Math.min(views.length, Math.floor((0.25 * left) / (perImage * train.n))),
      );
      if (fit < views.length) {
        selfLabelSkipped = fit === 0
          ? "not run: re-encoding one augmented view would take over a quarter of the time left"
          : `on ${fit} of ${views.length} augmented views, to fit the time left`;
      }
      views = views.slice(0, fit);
    }
    // Self-labelling itself trains a head on cached features: a tenth of the rest is plenty.
    deadline = performance.now() + (left - perImage * train.n * views.length) *
        (views.length ? 0.9 : 1);
  }
  const t1 = performance.now();
  const fine = await finetuneScan(model, start, train.n, neighbours, k, {
    ...options,
    deadline,
    onProgress: (p) => {
      options.onProgress?.(p);
      // With a deadline the bar (and its ETA) follows whichever end comes first.
      const byTime = deadline === undefined
        ? 0
        : (performance.now() - t1) / Math.max(1, deadline - t1);
      options.onStage?.(
        `fine-tune epoch ${p.epoch}, loss ${p.loss.toFixed(3)}`,
        Math.min(0.999, Math.max(p.step / p.totalSteps, byTime)),
      );
    },
  });
  const clusters = start.clusters;
  const total = train.n + test.n;
  options.onStage?.("finetuned-encode", 0);
  const tEncode = performance.now();
  const trainX = await encode(
    train.images,
    (d) => options.onStage?.("finetuned-encode", d / total),
  );
  const testX = await encode(
    test.images,
    (d) => options.onStage?.("finetuned-encode", (train.n + d) / total),
  );
  const prediction = predictClusters(fine.fit, testX, test.n);
  const scores = scoreClusters(prediction.assignments, test.labels, clusters);
  let selfLabelled: ScanFinetuneResult["selfLabel"];
  // The machine may have slowed since the rate was measured: the views are re-encoded only if
  // the measured rate (from the train and test encoding just done) still fits the budget.
  if (views.length && options.deadline !== undefined) {
    const perImage = (performance.now() - tEncode) / total;
    const fit = Math.max(
      0,
      Math.min(
        views.length,
        Math.floor((options.deadline - performance.now()) / (1.1 * perImage * train.n)),
      ),
    );
    if (fit < views.length) {
      selfLabelSkipped = fit === 0
        ? "not run: the time budget was spent when the fine-tuned encoder was re-encoded"
        : `on ${fit} of ${views.length} augmented views, to fit the time left`;
      views = views.slice(0, fit);
    }
  }
  if (views.length) {
    const viewX: Float32Array[] = [];
    for (const [v, images] of views.entries()) {
      viewX.push(
        await encode(
          images,
          (d) => options.onStage?.("finetuned-views", (v * train.n + d) / (views.length * train.n)),
        ),
      );
    }
    const refined = await selfLabel(fine.fit, trainX, train.n, {
      backend: model.params()[0].value.graph.backend,
      views: viewX,
      threshold: options.threshold,
      seed: options.seed,
      deadline: options.deadline,
      onProgress: (p) =>
        options.onStage?.(`finetuned-self-label loss ${p.loss.toFixed(3)}`, p.step / p.totalSteps),
    });
    selfLabelled = {
      ...(selfLabelSkipped ? { note: selfLabelSkipped } : {}),
      ...scoreClusters(
        predictClusters(refined.fit, testX, test.n).assignments,
        test.labels,
        clusters,
      ),
      threshold: options.threshold ?? 0.99,
      confident: refined.confident,
      epochs: refined.epochs,
    };
  }
  options.onStage?.("done", 1);
  return {
    ...scores,
    lr: options.lr ?? 1e-4,
    weightDecay: options.weightDecay ?? 1e-4,
    batchSize: Math.min(options.batchSize ?? 128, train.n),
    entropyWeight: options.entropyWeight ?? 5,
    heads: fine.heads.length,
    loss: fine.heads[fine.best],
    steps: fine.steps,
    epochs: fine.epochs,
    epochLoss: fine.epochLoss,
    stoppedByDeadline: fine.stoppedByDeadline,
    topImages: mostConfident(prediction, clusters, options.topImages ?? 10),
    seconds: (performance.now() - t0) / 1000,
    ...(selfLabelled ? { selfLabel: selfLabelled } : {}),
    ...(selfLabelSkipped && !selfLabelled ? { selfLabelSkipped } : {}),
  };
}
