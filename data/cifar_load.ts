/**
 * Validating a CIFAR-10 folder (presence, sizes, record counts, labels) and loading it into NHWC
 * bytes, with clear errors naming the file at fault.
 *
 * @module
 */

import { join } from "node:path";
import {
  checkLabels,
  type Cifar10,
  CIFAR_IMAGE_BYTES,
  CIFAR_IMAGE_SIZE,
  CIFAR_META_FILE,
  CIFAR_NUM_CLASSES,
  CIFAR_RECORD_BYTES,
  CIFAR_RECORDS_PER_FILE,
  CIFAR_TEST_FILE,
  CIFAR_TRAIN_FILES,
  CifarError,
  type CifarSplit,
  fmt,
  recordCount,
} from "./cifar_format.ts";

/** Options of {@linkcode validateCifarDir}. */
export interface ValidateOptions {
  /**
   * Require the official record counts (10,000 in every file, so 50,000 train and 10,000 test).
   * Default true; fixtures pass false, which accepts any non-zero count, or `expectedCounts`.
   */
  strictCounts?: boolean;
  /** Exact train/test totals to require instead of the official ones. */
  expectedCounts?: { train: number; test: number };
  /** Also read every file and check each label is 0–9 (default true). */
  checkLabels?: boolean;
}

/** What {@linkcode validateCifarDir} found. */
export interface CifarDirInfo {
  /** Records per train file, in file order. */
  trainFileCounts: number[];
  /** Total train records. */
  trainCount: number;
  /** Test records. */
  testCount: number;
  /** Class names from the meta file. */
  classNames: string[];
}

/** Options of {@linkcode loadCifar10}. */
export interface LoadOptions extends Omit<ValidateOptions, "checkLabels"> {
  /** Load only the first n records of each split (for quick runs). */
  limit?: number;
  /** Load only the first n train records; overrides `limit`. */
  trainLimit?: number;
  /** Load only the first n test records; overrides `limit`. */
  testLimit?: number;
}

async function fileSize(path: string, what: string): Promise<number> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new CifarError(path, `missing (${what})`);
    throw new CifarError(path, `cannot be read: ${(e as Error).message}`);
  }
  if (!info.isFile) throw new CifarError(path, "is not a regular file");
  return info.size;
}

/** Parses the meta file: one class name a line; blank lines (the official file ends with some) are ignored. */
async function readClassNames(path: string): Promise<string[]> {
  await fileSize(path, "the class-name file");
  const names = (await Deno.readTextFile(path)).split(/\r?\n/).map((s) => s.trim()).filter((s) =>
    s !== ""
  );
  if (names.length !== CIFAR_NUM_CLASSES) {
    throw new CifarError(path, `has ${names.length} class names, expected ${CIFAR_NUM_CLASSES}`);
  }
  return names;
}

/** Checks presence, sizes and counts of every file, without reading record contents. */
async function checkStructure(dir: string, opts: ValidateOptions): Promise<CifarDirInfo> {
  let dirInfo: Deno.FileInfo;
  try {
    dirInfo = await Deno.stat(dir);
  } catch {
    throw new CifarError(dir, "CIFAR-10 folder does not exist");
  }
  if (!dirInfo.isDirectory) throw new CifarError(dir, "is not a folder");
  const strict = opts.strictCounts ?? true;
  const trainFileCounts: number[] = [];
  for (const name of CIFAR_TRAIN_FILES) {
    const path = join(dir, name);
    const count = recordCount(path, await fileSize(path, "a CIFAR-10 train batch"));
    if (strict && !opts.expectedCounts && count !== CIFAR_RECORDS_PER_FILE) {
      throw new CifarError(
        path,
        `holds ${fmt(count)} records, expected ${fmt(CIFAR_RECORDS_PER_FILE)}`,
      );
    }
    trainFileCounts.push(count);
  }
  const testPath = join(dir, CIFAR_TEST_FILE);
  const testCount = recordCount(testPath, await fileSize(testPath, "the CIFAR-10 test batch"));
  if (strict && !opts.expectedCounts && testCount !== CIFAR_RECORDS_PER_FILE) {
    throw new CifarError(
      testPath,
      `holds ${fmt(testCount)} records, expected ${fmt(CIFAR_RECORDS_PER_FILE)}`,
    );
  }
  const trainCount = trainFileCounts.reduce((a, b) => a + b, 0);
  if (opts.expectedCounts) {
    if (trainCount !== opts.expectedCounts.train) {
      throw new CifarError(
        dir,
        `train batches hold ${fmt(trainCount)} records, expected ${fmt(opts.expectedCounts.train)}`,
      );
    }
    if (testCount !== opts.expectedCounts.test) {
      throw new CifarError(
        testPath,
        `holds ${fmt(testCount)} records, expected ${fmt(opts.expectedCounts.test)}`,
      );
    }
  }
  const classNames = await readClassNames(join(dir, CIFAR_META_FILE));
  return { trainFileCounts, trainCount, testCount, classNames };
}

/**
 * Checks a CIFAR-10 binary folder before it is used: every file present, sizes a non-zero
 * multiple of 3,073, the official record counts (unless `strictCounts: false` or
 * `expectedCounts`), ten class names, and (unless `checkLabels: false`) every label in 0–9.
 * Throws a {@linkcode CifarError} naming the file and the problem.
 */
export async function validateCifarDir(
  dir: string,
  opts: ValidateOptions = {},
): Promise<CifarDirInfo> {
  const info = await checkStructure(dir, opts);
  if (opts.checkLabels ?? true) {
    const files = [...CIFAR_TRAIN_FILES, CIFAR_TEST_FILE];
    const counts = [...info.trainFileCounts, info.testCount];
    for (let f = 0; f < files.length; f++) {
      const path = join(dir, files[f]);
      checkLabels(path, await Deno.readFile(path), counts[f]);
    }
  }
  return info;
}

/** Reads the first `count` records of a file into `out` (NHWC) and `labels` from index `at`. */
async function readRecords(
  path: string,
  count: number,
  out: CifarSplit,
  at: number,
): Promise<void> {
  const bytes = new Uint8Array(count * CIFAR_RECORD_BYTES);
  const file = await Deno.open(path, { read: true });
  try {
    let filled = 0;
    while (filled < bytes.length) {
      const n = await file.read(bytes.subarray(filled));
      if (n === null) throw new CifarError(path, `ended after ${fmt(filled)} bytes while loading`);
      filled += n;
    }
  } finally {
    file.close();
  }
  checkLabels(path, bytes, count);
  const plane = CIFAR_IMAGE_SIZE * CIFAR_IMAGE_SIZE;
  for (let r = 0; r < count; r++) {
    const src = r * CIFAR_RECORD_BYTES;
    out.labels[at + r] = bytes[src];
    const dst = (at + r) * CIFAR_IMAGE_BYTES;
    // Planar RGB (R plane, G plane, B plane) -> interleaved HWC.
    for (let p = 0; p < plane; p++) {
      out.images[dst + 3 * p] = bytes[src + 1 + p];
      out.images[dst + 3 * p + 1] = bytes[src + 1 + plane + p];
      out.images[dst + 3 * p + 2] = bytes[src + 1 + 2 * plane + p];
    }
  }
}

function checkLimit(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
    throw new RangeError(`loadCifar10: ${name} must be a non-negative integer, got ${value}`);
  }
}

/**
 * Loads CIFAR-10 from a binary folder into NHWC byte arrays. The folder's structure is validated
 * first (see {@linkcode validateCifarDir}); labels are checked as the records are read. With
 * `limit`/`trainLimit`/`testLimit`, only that many leading records are read (train records come
 * from `data_batch_1.bin` onwards).
 */
export async function loadCifar10(dir: string, opts: LoadOptions = {}): Promise<Cifar10> {
  checkLimit("limit", opts.limit);
  checkLimit("trainLimit", opts.trainLimit);
  checkLimit("testLimit", opts.testLimit);
  const info = await checkStructure(dir, opts);
  const trainN = Math.min(info.trainCount, opts.trainLimit ?? opts.limit ?? Infinity);
  const testN = Math.min(info.testCount, opts.testLimit ?? opts.limit ?? Infinity);
  const split = (n: number): CifarSplit => ({
    images: new Uint8Array(n * CIFAR_IMAGE_BYTES),
    labels: new Uint8Array(n),
    count: n,
  });
  const train = split(trainN);
  const test = split(testN);
  let at = 0;
  for (let f = 0; f < CIFAR_TRAIN_FILES.length && at < trainN; f++) {
    const n = Math.min(info.trainFileCounts[f], trainN - at);
    await readRecords(join(dir, CIFAR_TRAIN_FILES[f]), n, train, at);
    at += n;
  }
  if (testN > 0) await readRecords(join(dir, CIFAR_TEST_FILE), testN, test, 0);
  return { train, test, classNames: info.classNames };
}
