/**
 * The run folder's contract, in one place: the training log's records (`log.jsonl`), the run
 * summary (`run.json`), the evaluation results (`results.json`) and the verify document
 * (`deno task verify --json`). The trainer, `evaluate`, `report` and `verify` write and read these
 * types through the helpers here; `viz` imports them as types only.
 *
 * Reads check the shape and name the file and the field on error ({@linkcode RecordError}), and
 * read a number written as `null` (how JSON writes NaN) back as NaN; writes are atomic (`atomic.ts`) and stamp the document's version. A document without a `version` is
 * version 1 (what the code before versioning wrote, with the same field names).
 *
 * @module
 */
import { writeJsonAtomic } from "./atomic.ts";

/** File names inside a run folder. */
export const RUN_FILES = {
  checkpoint: "checkpoint.ckpt",
  log: "log.jsonl",
  summary: "run.json",
  results: "results.json",
  verify: "verify.json",
} as const;

/** Version of `results.json` this code writes and reads. */
export const RESULTS_VERSION = 1;
/** Version of `run.json` this code writes and reads. */
export const RUN_SUMMARY_VERSION = 1;
/** Version of the verify document this code writes and reads. */
export const VERIFY_VERSION = 1;

/** A run-folder file that is not of the expected shape; the message names the file and field. */
export class RecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RecordError";
  }
}

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

const STEP_FIELDS = ["step", "epoch", "loss", "lr", "imagesPerSec", "time"] as const;
const EPOCH_FIELDS = [
  "epoch",
  "step",
  "loss",
  "featureStd",
  "alignment",
  "uniformity",
  "imagesPerSec",
  "time",
] as const;

/**
 * Parses `log.jsonl` text into its step and epoch records; records of other types (the schedule
 * plan) are skipped, and a record without `type` is an epoch when it has `featureStd`. `null` in a
 * numeric field (how `JSON.stringify` writes NaN) is read as NaN, so a diverged run still plots.
 * `source` names the file in errors.
 */
export function parseTrainLog(text: string, source: string = RUN_FILES.log): TrainLogRecords {
  const steps: StepRecord[] = [];
  const epochs: EpochRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line);
    } catch (err) {
      throw new RecordError(
        `${source} line ${i + 1} is not valid JSON (${(err as Error).message})`,
      );
    }
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      throw new RecordError(`${source} line ${i + 1} must be a JSON object`);
    }
    const type = record.type ?? ("featureStd" in record ? "epoch" : "step");
    const fields = type === "step" ? STEP_FIELDS : type === "epoch" ? EPOCH_FIELDS : undefined;
    if (!fields) return;
    const out: Record<string, unknown> = { type };
    for (const field of fields) {
      const v = record[field];
      if (v === null) out[field] = NaN;
      else if (typeof v === "number") out[field] = v;
      else {
        throw new RecordError(
          `${source} line ${i + 1} (${type} record) needs a number in "${field}", got ${
            JSON.stringify(v) ?? "nothing"
          }`,
        );
      }
    }
    if (type === "step") {
      steps.push(out as unknown as StepRecord);
      return;
    }
    if (typeof record.knnAccuracy === "number") out.knnAccuracy = record.knnAccuracy;
    if (typeof record.runId === "string") out.runId = record.runId;
    if (Array.isArray(record.collapse)) out.collapse = record.collapse.map(String);
    epochs.push(out as unknown as EpochRecord);
  });
  return { steps, epochs };
}

/**
 * Reads a `log.jsonl`; undefined when there is none. A last line without its newline (cut by a
 * kill) is left out.
 */
export async function readTrainLog(path: string): Promise<TrainLogRecords | undefined> {
  const text = await readText(path);
  if (text === undefined) return undefined;
  return parseTrainLog(text.slice(0, text.lastIndexOf("\n") + 1), path);
}

// ---------------------------------------------------------------------------------------------
// run.json

/** Why a training session ended. */
export type StopReason = "done" | "time-budget" | "max-steps" | "interrupt" | "collapse";
const STOP_REASONS: readonly StopReason[] = [
  "done",
  "time-budget",
  "max-steps",
  "interrupt",
  "collapse",
];

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

/** Checks a parsed `run.json` (`file` names it in errors); a missing `version` is 1. */
export function parseRunSummary(value: unknown, file: string = RUN_FILES.summary): RunSummary {
  const r = new Check(file);
  const doc = r.object(value, "(top level)");
  r.version(doc, RUN_SUMMARY_VERSION);
  const config = r.object(doc.config, "config");
  r.string(config, "model", "config.");
  for (const k of ["epochs", "batchSize", "lr", "temperature", "seed"]) {
    r.number(config, k, "config.");
  }
  for (const k of ["optimizer", "loss", "data"]) r.string(config, k, "config.");
  for (const k of ["cropScale", "width"]) r.number(config, k, "config.", true);
  r.string(doc, "engine");
  r.string(doc, "runId");
  for (const k of ["featureDim", "stepsPerEpoch", "totalSteps", "step", "epoch", "trainSeconds"]) {
    r.number(doc, k);
  }
  for (const k of ["lastLoss", "imagesPerSec"]) r.number(doc, k);
  if (!STOP_REASONS.includes(doc.stopped as StopReason)) {
    r.fail("stopped", STOP_REASONS.join(" | "));
  }
  if (doc.plan !== undefined && doc.plan !== null) r.object(doc.plan, "plan");
  return { ...doc, version: RUN_SUMMARY_VERSION } as unknown as RunSummary;
}

/** Reads `run.json`; undefined when there is none. */
export async function readRunSummary(path: string): Promise<RunSummary | undefined> {
  const value = await readJson(path);
  return value === undefined ? undefined : parseRunSummary(value, path);
}

/** Writes `run.json` atomically, with its version. */
export async function writeRunSummary<C extends RunConfigRecord>(
  path: string,
  summary: Omit<RunSummary<C>, "version">,
): Promise<void> {
  await writeJsonAtomic(path, { version: RUN_SUMMARY_VERSION, ...summary });
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

/**
 * Checks a parsed `results.json` (`file` names it in errors); a missing `version` is 1. The
 * classes and variants are checked first: they are what the report draws.
 */
export function parseResults(value: unknown, file: string = RUN_FILES.results): ResultsDocument {
  const r = new Check(file);
  const doc = r.object(value, "(top level)");
  if (
    !Array.isArray(doc.classNames) || doc.classNames.some((c: unknown) => typeof c !== "string")
  ) {
    r.fail("classNames", "a list of class names");
  }
  if (!Array.isArray(doc.variants) || doc.variants.length === 0) {
    r.fail("variants", "a non-empty list");
  }
  (doc.variants as unknown[]).forEach((value, i) => {
    const at = `variants[${i}].`;
    const v = r.object(value, `variants[${i}]`);
    r.string(v, "name", at);
    const probe = r.object(v.probe, `${at}probe`);
    r.number(probe, "testAccuracy", `${at}probe.`);
    r.numbers(probe, "perClassAccuracy", `${at}probe.`);
    r.matrix(probe, "confusion", `${at}probe.`);
    r.number(probe, "trainAccuracy", `${at}probe.`);
    r.number(probe, "lambda", `${at}probe.`);
    r.string(probe, "kind", `${at}probe.`);
    if (!Array.isArray(probe.validation)) r.fail(`${at}probe.validation`, "a list");
    const knn = r.object(v.knn, `${at}knn`);
    for (const k of ["accuracy", "k", "temperature"]) r.number(knn, k, `${at}knn.`);
    const kmeans = r.object(v.kmeans, `${at}kmeans`);
    r.clusterScores(kmeans, `${at}kmeans.`);
    r.number(kmeans, "inertia", `${at}kmeans.`);
    r.number(v, "dim", at);
    if (v.scan !== undefined) {
      const scan = r.object(v.scan, `${at}scan`);
      r.clusterScores(scan, `${at}scan.`);
      r.number(scan, "k", `${at}scan.`);
      r.numbers(scan, "neighbourPurity", `${at}scan.`);
      if (!Array.isArray(scan.seeds)) r.fail(`${at}scan.seeds`, "a list");
      r.matrix(scan, "topImages", `${at}scan.`);
      if (scan.selfLabel !== undefined) {
        r.clusterScores(r.object(scan.selfLabel, `${at}scan.selfLabel`), `${at}scan.selfLabel.`);
      }
    }
    if (v.pca !== undefined) {
      const pca = r.object(v.pca, `${at}pca`);
      for (const k of ["explainedRatio", "points", "labels"]) r.numbers(pca, k, `${at}pca.`);
    }
    if (v.tsne !== undefined) {
      const tsne = r.object(v.tsne, `${at}tsne`);
      for (const k of ["points", "labels"]) r.numbers(tsne, k, `${at}tsne.`);
      for (const k of ["neighbourPreservation", "kl"]) r.number(tsne, k, `${at}tsne.`);
    }
  });
  r.version(doc, RESULTS_VERSION);
  for (const k of ["createdAt", "checkpoint", "model", "engine"]) r.string(doc, k);
  for (const k of ["checkpointHash", "runId"]) r.string(doc, k, "", true);
  for (const k of ["step", "epoch", "featureDim", "trainImages", "testImages", "seconds"]) {
    r.number(doc, k);
  }
  return { ...doc, version: RESULTS_VERSION } as unknown as ResultsDocument;
}

/** Reads `results.json`; undefined when there is none. */
export async function readResults(path: string): Promise<ResultsDocument | undefined> {
  const value = await readJson(path);
  return value === undefined ? undefined : parseResults(value, path);
}

/** Writes `results.json` atomically, with its version. */
export async function writeResults<S extends ScanRecord>(
  path: string,
  doc: Omit<ResultsDocument<S>, "version">,
): Promise<void> {
  await writeJsonAtomic(path, { version: RESULTS_VERSION, ...doc });
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

/**
 * Checks a parsed verify document (`file` names it in errors); a missing `version` is 1, and a
 * row without `group` (files from before groups) gets `""`.
 */
export function parseVerifyDocument(
  value: unknown,
  file: string = RUN_FILES.verify,
): VerifyDocument {
  const r = new Check(file);
  const doc = r.object(value, "(top level)");
  r.version(doc, VERIFY_VERSION);
  for (const k of ["engine", "backend", "peer", "broken"]) r.string(doc, k, "", true);
  if (!Array.isArray(doc.rows)) r.fail("rows", "a list of rows");
  const rows = (doc.rows as unknown[]).map((value, i): VerifyRow => {
    const at = `rows[${i}].`;
    const row = r.object(value, `rows[${i}]`);
    r.string(row, "group", at, true);
    r.string(row, "name", at);
    r.numbers(row, "shape", at);
    r.number(row, "maxAbsDiff", at);
    r.number(row, "relDiff", at);
    r.number(row, "tolerance", at);
    if (typeof row.ok !== "boolean") r.fail(`${at}ok`, "true or false");
    return {
      group: (row.group as string | undefined) ?? "",
      name: row.name as string,
      shape: row.shape as number[],
      maxAbsDiff: row.maxAbsDiff as number,
      relDiff: row.relDiff as number,
      tolerance: row.tolerance as number,
      ok: row.ok as boolean,
    };
  });
  return {
    ...doc,
    version: VERIFY_VERSION,
    rows,
    times: Array.isArray(doc.times) ? doc.times : [],
  } as VerifyDocument;
}

/** Reads a verify document; undefined when there is none. */
export async function readVerifyDocument(path: string): Promise<VerifyDocument | undefined> {
  const value = await readJson(path);
  return value === undefined ? undefined : parseVerifyDocument(value, path);
}

/** Writes a verify document atomically, with its version. */
export async function writeVerifyDocument<T>(
  path: string,
  doc: Omit<VerifyDocument<T>, "version">,
): Promise<void> {
  await writeJsonAtomic(path, { version: VERIFY_VERSION, ...doc });
}

// ---------------------------------------------------------------------------------------------
// helpers

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new RecordError(`${path}: ${(e as Error).message}`);
  }
}

async function readJson(path: string): Promise<unknown> {
  const text = await readText(path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RecordError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

type Fields = Record<string, unknown>;

/** Whether `v` is a list of numbers or nulls; the nulls (JSON's NaN) become NaN in place. */
function numberList(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) {
    if (v[i] === null) v[i] = NaN;
    else if (typeof v[i] !== "number") return false;
  }
  return true;
}

/** Shape checks that name the file and the field. */
class Check {
  constructor(readonly file: string) {}

  fail(field: string, expected: string): never {
    throw new RecordError(
      `${this.file}: field "${field}" is missing or malformed (expected ${expected})`,
    );
  }

  object(value: unknown, field: string): Fields {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.fail(field, "an object");
    }
    return value as Fields;
  }

  version(doc: Fields, current: number): void {
    const v = doc.version ?? 1;
    if (v !== current) {
      throw new RecordError(
        `${this.file}: version ${JSON.stringify(v)}, but this simclr-ts reads version ${current}`,
      );
    }
  }

  /** A number; `null` (how JSON writes NaN) is read back as NaN. */
  number(o: Fields, key: string, at = "", optional = false): void {
    if (optional && o[key] === undefined) return;
    if (o[key] === null) o[key] = NaN;
    else if (typeof o[key] !== "number") this.fail(at + key, "a number");
  }

  string(o: Fields, key: string, at = "", optional = false): void {
    if (optional && o[key] === undefined) return;
    if (typeof o[key] !== "string") this.fail(at + key, "a string");
  }

  /** A list of numbers, `null` read as NaN. */
  numbers(o: Fields, key: string, at = ""): void {
    if (!numberList(o[key])) this.fail(at + key, "a list of numbers");
  }

  /** A list of lists of numbers, `null` read as NaN. */
  matrix(o: Fields, key: string, at = ""): void {
    const v = o[key];
    if (!Array.isArray(v) || !v.every(numberList)) this.fail(at + key, "a matrix");
  }

  clusterScores(o: Fields, at: string): void {
    for (const k of ["nmi", "ari", "accuracy"]) this.number(o, k, at);
    this.matrix(o, "contingency", at);
    this.numbers(o, "matchedOrder", at);
  }
}
