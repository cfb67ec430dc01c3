/**
 * The run folder's contract, in one place: the training log's records (`log.jsonl`), the run
 * summary (`run.json`), the evaluation results (`results.json`) and the verify document
 * (`deno task verify --json`). The trainer, `evaluate`, `report` and `verify` write and read these
 * types through the helpers here; `viz` imports them as types only.
 *
 * The types are here; the read and write helpers are in `records_io.ts` (re-exported from here).
 * Reads check the shape and name the file and the field on error (`RecordError`), and read a number
 * written as `null` (how JSON writes NaN) back as NaN; writes are atomic (`atomic.ts`) and stamp
 * the document's version. A document without a `version` is version 1 (what the code before
 * versioning wrote, with the same field names).
 *
 * @module
 */
import type { RESULTS_VERSION, RUN_SUMMARY_VERSION, VERIFY_VERSION } from "./records_io.ts";

export * from "./records_io.ts";

// ---------------------------------------------------------------------------------------------
// log.jsonl

/** A `log.jsonl` record of one optimiser step. */
export interface StepRecord {
  type: "step";
  /** Global optimiser step after this one, counted from 1 over the whole run. */
  step: number;
  /** Epochs done, fractional (`step / stepsPerEpoch`). */
  epoch: number;
  /** Contrastive loss of the batch, in nats (NaN when it diverged; JSON `null`). */
  loss: number;
  /** Learning rate used for this step. */
  lr: number;
  /** Images per second over the last few steps (each image once, not per view). */
  imagesPerSec: number;
  /** Training seconds since the run started (resumes included) when the step finished. */
  time: number;
}

/** A `log.jsonl` record of an epoch end (or a stop), with the collapse and kNN monitors. */
export interface EpochRecord {
  type: "epoch";
  /** Epochs done, fractional at a stop mid-epoch. */
  epoch: number;
  /** Global optimiser step. */
  step: number;
  /** Mean loss over the epoch's steps. */
  loss: number;
  /** Mean per-dimension std of L2-normalised features; collapse drives it to 0, healthy ≈ 1/√d. */
  featureStd: number;
  /** Mean squared distance between the normalised features of positive pairs (lower: views agree). */
  alignment: number;
  /** `log mean exp(−2‖u−v‖²)` over pairs of normalised features (more negative: more uniform). */
  uniformity: number;
  /** kNN monitor accuracy in [0, 1], when it ran at this epoch. */
  knnAccuracy?: number;
  /** Images per second over the epoch. */
  imagesPerSec: number;
  /** Training seconds since the run started. */
  time: number;
  /** The run's id (as in the checkpoint), so `report` can tell a foreign log apart. */
  runId?: string;
  /** Set when the monitors crossed the collapse thresholds at this epoch. */
  collapse?: string[];
}

/** The step and epoch records of a log, in file order. */
export interface TrainLogRecords {
  steps: StepRecord[];
  epochs: EpochRecord[];
}

// ---------------------------------------------------------------------------------------------
// run.json

/** Why a training session ended. */
export type StopReason = "done" | "time-budget" | "max-steps" | "interrupt" | "collapse";
/**
 * The settings of a run that readers of `run.json` use (the trainer saves all of its
 * `TrainConfig`, which has these and more).
 */
export interface RunConfigRecord {
  /** Encoder name. */
  model: string;
  /** Epochs of the schedule. */
  epochs: number;
  /** Images per step. */
  batchSize: number;
  /** Optimiser name. */
  optimizer: string;
  /** Base learning rate; 0 = the optimiser's default. */
  lr: number;
  /** NT-Xent temperature. */
  temperature: number;
  /** Loss name. */
  loss: string;
  /** Seed of weights, data order and augmentations. */
  seed: number;
  /** CIFAR-10 folder the run trained on. */
  data: string;
  /** Smallest random-resized-crop area. */
  cropScale?: number;
  /** Encoder width override; 0 = the model's default. */
  width?: number;
  /** Projection head's hidden width; 0 or absent = the model's default (`DEFAULT_HEADS`). */
  projHidden?: number;
  /** Projection head's output width; 0 or absent = the model's default. */
  projOut?: number;
  /** Linear layers in the projection head; absent (runs from before the flag) = 2. */
  projLayers?: number;
  /** TF.js engine asked for. */
  engine?: string;
}

/** `run.json`: written when a training session ends (finished or stopped). */
export interface RunSummary<C extends RunConfigRecord = RunConfigRecord> {
  version: typeof RUN_SUMMARY_VERSION;
  /** The run's settings. */
  config: C;
  /** The engine line (backend and why). */
  engine: string;
  /** Width `d` of the encoder's features. */
  featureDim: number;
  stepsPerEpoch: number;
  /** Steps of the whole schedule. */
  totalSteps: number;
  /** Random id fixed when the run started, as in the checkpoint and the log. */
  runId: string;
  /** The budget-fitted schedule (`--max-minutes`; train/schedule.ts's `SchedulePlan`). */
  plan?: object;
  /** Why the session ended. */
  stopped: StopReason;
  /** Global optimiser step reached. */
  step: number;
  /** Epochs done, fractional. */
  epoch: number;
  /** Seconds spent in training steps, over all sessions. */
  trainSeconds: number;
  /** Loss of the last step (NaN when it diverged). */
  lastLoss: number;
  /** Images per second over the last steps. */
  imagesPerSec: number;
}

// ---------------------------------------------------------------------------------------------
// results.json

/** A linear probe's classifier kind. */
export type ProbeKind = "logistic" | "svm";

/** Experiment 1: a linear classifier on frozen, standardised features. Accuracies in [0, 1]. */
export interface ProbeRecord {
  kind: ProbeKind;
  /** The chosen L2 strength. */
  lambda: number;
  /** Validation accuracy of every λ tried. */
  validation: { lambda: number; accuracy: number }[];
  /** Top-1 accuracy on the training rows (refitted model). */
  trainAccuracy: number;
  /** Top-1 accuracy on test. */
  testAccuracy: number;
  /** Accuracy within each true class on test, indexed like `classNames`. */
  perClassAccuracy: number[];
  /** `[true][predicted]` test counts. */
  confusion: number[][];
}

/** Weighted kNN classification of the test set. */
export interface KnnRecord {
  /** Test accuracy in [0, 1]. */
  accuracy: number;
  /** Neighbours that vote. */
  k: number;
  /** Temperature of the vote weight `exp(s/τ)`. */
  temperature: number;
}

/** The scores kept for a clustering of the test set against the classes (k-means and SCAN). */
export interface ClusterScores {
  /** Normalised mutual information with the classes, in [0, 1]. */
  nmi: number;
  /** Adjusted Rand index (≤ 1, 0 = chance). */
  ari: number;
  /** Hungarian-matched clustering accuracy in [0, 1]. */
  accuracy: number;
  /** `[cluster][class]` counts. */
  contingency: number[][];
  /** `matchedOrder[c]`: the cluster matched to class c (Hungarian; −1 when none is). */
  matchedOrder: number[];
}

/** Experiment 3: k-means (k = 10) fitted on train, scored on test. */
export interface KMeansRecord extends ClusterScores {
  /** Inertia of the fit on train. */
  inertia: number;
}

/**
 * SCAN clustering on one representation: the fields every reader relies on. evaluate's
 * `ScanResult` (evaluate/scan.ts) is the full record written, and extends this.
 */
export interface ScanRecord extends ClusterScores {
  /** Neighbours mined per train image. */
  k: number;
  /** `neighbourPurity[j]`: share of the `j + 1` nearest train neighbours of the same class. */
  neighbourPurity: number[];
  /** The chosen head's test scores per head seed; the top-level scores are the first seed's. */
  seeds: { seed: number; nmi: number; ari: number; accuracy: number }[];
  /** Per cluster, the test rows it is most confident about (most first). */
  topImages: number[][];
  /** Scores after SCAN's self-labelling step, when it ran. */
  selfLabel?: ClusterScores;
  /** SCAN with the encoder fine-tuned end to end from the frozen heads, when it ran. */
  finetune?: ScanFinetuneRecord;
}

/**
 * SCAN's second step (`scan.finetune`): the fields every reader relies on. evaluate's
 * `ScanFinetuneResult` (evaluate/scan_finetune.ts) is the full record written, and extends this.
 */
export interface ScanFinetuneRecord extends ClusterScores {
  /** Epochs of fine-tuning (fractional when the time budget stopped one part-way). */
  epochs: number;
  /** Scores after self-labelling on the fine-tuned encoder's features, when it ran. */
  selfLabel?: ClusterScores;
  /**
   * The fine-tuned encoder, a checkpoint in the trainer's format, relative to the run folder
   * (`scan-finetune/checkpoint.ckpt`): `evaluate --run RUN/scan-finetune` and `export` load it.
   */
  checkpoint?: string;
}

/** Experiment 2: PCA fitted on train, test projected onto the first two components. */
export interface PcaRecord {
  /** Share of the variance explained by each component, largest first. */
  explainedRatio: number[];
  /** Flat `[x0, y0, x1, y1, …]`. */
  points: number[];
  /** True class of each point. */
  labels: number[];
}

/** Experiment 2: t-SNE of a class-balanced test subset. */
export interface TsneRecord {
  /** Flat `[x0, y0, x1, y1, …]`. */
  points: number[];
  /** True class of each point. */
  labels: number[];
  /** Share of each point's 10 nearest neighbours in feature space kept in the embedding. */
  neighbourPreservation: number;
  /** Final Kullback–Leibler divergence. */
  kl: number;
}

/** Everything measured on one representation (`variants[]` of `results.json`). */
export interface VariantRecord<S extends ScanRecord = ScanRecord> {
  /** `simclr`, `raw-pixels` or `random-encoder`. */
  name: string;
  /** Feature width. */
  dim: number;
  probe: ProbeRecord;
  knn: KnnRecord;
  kmeans: KMeansRecord;
  /** SCAN on the same features (`deno task cluster`, or `evaluate --cluster`). */
  scan?: S;
  pca?: PcaRecord;
  tsne?: TsneRecord;
}

/** `results.json`: the evaluation of one checkpoint. */
export interface ResultsDocument<S extends ScanRecord = ScanRecord> {
  version: typeof RESULTS_VERSION;
  /** ISO time of writing. */
  createdAt: string;
  /** Path of the evaluated checkpoint. */
  checkpoint: string;
  /** SHA-256 of its weights and buffers (absent in files from before it was recorded). */
  checkpointHash?: string;
  /** The run's id (absent for checkpoints from before run ids). */
  runId?: string;
  step: number;
  epoch: number;
  model: string;
  /** Width of the SimCLR features. */
  featureDim: number;
  /** The engine line. */
  engine: string;
  trainImages: number;
  testImages: number;
  /** Wall seconds of the evaluation. */
  seconds: number;
  /** Class names, indexed by label. */
  classNames: string[];
  /** One entry per representation. */
  variants: VariantRecord<S>[];
}

// ---------------------------------------------------------------------------------------------
// verify document

/** One compared tensor of the conformance suite (backend-ref/conformance.ts). */
export interface VerifyRow {
  /** `kernels` or the model name. */
  group: string;
  /** What was compared, e.g. `conv2dGradFilter [2,9,9,3]*[3,3,3,5] s2 p1`. */
  name: string;
  /** Shape of the tensor. */
  shape: number[];
  /** Largest elementwise |ref − other| (NaN: JSON `null`). */
  maxAbsDiff: number;
  /** ‖ref − other‖ / ‖ref‖ (‖ref − other‖ when ‖ref‖ = 0; NaN: JSON `null`). */
  relDiff: number;
  /** Bound on `relDiff`. */
  tolerance: number;
  /** `relDiff ≤ tolerance` and every value finite. */
  ok: boolean;
}

/**
 * `deno task verify --json FILE`: the rows, and the run's times (`T`: phase times against a
 * backend, or seconds per model against PyTorch).
 */
export interface VerifyDocument<T = unknown> {
  version: typeof VERIFY_VERSION;
  /** The checked engine (against a backend). */
  engine?: string;
  /** The checked backend's name (against a backend). */
  backend?: string;
  /** `pytorch-VERSION` (against PyTorch). */
  peer?: string;
  /** The convention broken on purpose on the PyTorch side, or `none`. */
  broken?: string;
  rows: VerifyRow[];
  times: T[];
}
