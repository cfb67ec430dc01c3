/**
 * Read and write helpers of the run folder's records (`records.ts` holds the types): reads check
 * the shape and name the file and the field ({@linkcode RecordError}); writes are atomic and stamp
 * the document's version.
 *
 * @module
 */
import { writeJsonAtomic } from "./atomic.ts";
import type {
  EpochRecord,
  ResultsDocument,
  RunConfigRecord,
  RunSummary,
  ScanRecord,
  StepRecord,
  StopReason,
  TrainLogRecords,
  VerifyDocument,
  VerifyRow,
} from "./records.ts";

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

const STOP_REASONS: readonly StopReason[] = [
  "done",
  "time-budget",
  "max-steps",
  "interrupt",
  "collapse",
];

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
  for (const k of ["cropScale", "width", "projHidden", "projOut", "projLayers"]) {
    r.number(config, k, "config.", true);
  }
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
      if (scan.finetune !== undefined) {
        const ft = r.object(scan.finetune, `${at}scan.finetune`);
        r.clusterScores(ft, `${at}scan.finetune.`);
        r.number(ft, "epochs", `${at}scan.finetune.`);
        r.string(ft, "checkpoint", `${at}scan.finetune.`, true);
        if (ft.selfLabel !== undefined) {
          const sl = r.object(ft.selfLabel, `${at}scan.finetune.selfLabel`);
          r.clusterScores(sl, `${at}scan.finetune.selfLabel.`);
        }
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
