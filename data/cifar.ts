/**
 * CIFAR-10 in its official binary layout: validation, loading into NHWC bytes, a tiny fixture
 * writer for tests, and a checked, atomic download of the official archive.
 *
 * Layout: `data_batch_1.bin` … `data_batch_5.bin` (train), `test_batch.bin` (test) and
 * `batches.meta.txt` (class names, one a line). A record is 3,073 bytes: one label byte (0–9),
 * then the 1,024 red, 1,024 green and 1,024 blue bytes of a row-major 32×32 image.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { type ByteSink, ProgressBar, type Rng, writeFileAtomic } from "@simclr/core";
import { extractTar, TarError } from "./tar.ts";

/** Side of a CIFAR image in pixels. */
export const CIFAR_IMAGE_SIZE = 32;
/** Bytes of one image (32 × 32 × 3). */
export const CIFAR_IMAGE_BYTES = 3072;
/** Bytes of one record: label byte + image. */
export const CIFAR_RECORD_BYTES = 3073;
/** Number of classes. */
export const CIFAR_NUM_CLASSES = 10;
/** Train batch file names, in order. */
export const CIFAR_TRAIN_FILES: readonly string[] = [1, 2, 3, 4, 5].map((i) =>
  `data_batch_${i}.bin`
);
/** Test file name. */
export const CIFAR_TEST_FILE = "test_batch.bin";
/** Class-name file name. */
export const CIFAR_META_FILE = "batches.meta.txt";
/** Records in each official batch file. */
export const CIFAR_RECORDS_PER_FILE = 10_000;
/** The official CIFAR-10 class names, in label order. */
export const CIFAR_CLASS_NAMES: readonly string[] = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];
/** Where the official binary archive is published. */
export const CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/** Published MD5 of the official binary archive. */
export const CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
/** Folder name inside the official archive (and of the cached copy). */
export const CIFAR10_FOLDER = "cifar-10-batches-bin";

/** A problem with CIFAR-10 files; `file` names the file or folder at fault. */
export class CifarError extends Error {
  /** The file or folder the problem is about. */
  readonly file: string;
  /**
   * An error reading `<file>: <problem>`.
   *
   * @param file path of the offending file or folder
   * @param problem what was wrong, written to follow `file: `
   */
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = "CifarError";
    this.file = file;
  }
}

/** One split of the dataset. */
export interface CifarSplit {
  /** `count` images × 32 × 32 × 3 bytes, NHWC with interleaved RGB. */
  images: Uint8Array;
  /** `count` labels in 0–9. */
  labels: Uint8Array;
  /** Number of images. */
  count: number;
}

/** The loaded dataset. */
export interface Cifar10 {
  /** The 50,000 training images (or the first `trainLimit`). */
  train: CifarSplit;
  /** The 10,000 test images (or the first `testLimit`). */
  test: CifarSplit;
  /** The ten class names from `batches.meta.txt`, in label order. */
  classNames: string[];
}

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

function fmt(n: number): string {
  return n.toLocaleString("en-US");
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

/** Record count from a file size, or a CifarError explaining why the size is wrong. */
function recordCount(path: string, size: number): number {
  if (size === 0) throw new CifarError(path, "is empty (0 bytes)");
  if (size % CIFAR_RECORD_BYTES !== 0) {
    throw new CifarError(
      path,
      `size ${fmt(size)} bytes is not a multiple of ${fmt(CIFAR_RECORD_BYTES)} (truncated?)`,
    );
  }
  return size / CIFAR_RECORD_BYTES;
}

/** Throws if any label byte of the `count` records in `bytes` is outside 0–9. */
function checkLabels(path: string, bytes: Uint8Array, count: number, firstRecord = 0): void {
  for (let r = 0; r < count; r++) {
    const label = bytes[r * CIFAR_RECORD_BYTES];
    if (label >= CIFAR_NUM_CLASSES) {
      throw new CifarError(
        path,
        `record ${fmt(firstRecord + r)} has label ${label}, expected 0–${CIFAR_NUM_CLASSES - 1}`,
      );
    }
  }
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

/** Options of {@linkcode writeCifarFixture}. */
export interface FixtureOptions {
  /** Records in each of the five train batch files. */
  trainPerBatch: number;
  /** Records in the test file. */
  test: number;
  /** Source of labels and pixels. */
  rng: Rng;
}

/** Encodes records (label + planar RGB) from labels and NHWC images. */
function encodeRecords(images: Uint8Array, labels: Uint8Array): Uint8Array {
  const plane = CIFAR_IMAGE_SIZE * CIFAR_IMAGE_SIZE;
  const out = new Uint8Array(labels.length * CIFAR_RECORD_BYTES);
  for (let r = 0; r < labels.length; r++) {
    const dst = r * CIFAR_RECORD_BYTES;
    out[dst] = labels[r];
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) {
        out[dst + 1 + c * plane + p] = images[r * CIFAR_IMAGE_BYTES + 3 * p + c];
      }
    }
  }
  return out;
}

/**
 * Writes a tiny dataset in the CIFAR-10 binary layout into `dir` (created if missing), for tests.
 * Images are smooth random colour gradients plus noise (so crops and colour ops have something
 * to act on); labels are random. Returns what was written, as {@linkcode loadCifar10} would load it.
 */
export async function writeCifarFixture(
  dir: string,
  opts: FixtureOptions,
): Promise<{ train: CifarSplit; test: CifarSplit }> {
  const { trainPerBatch, test: testCount, rng } = opts;
  for (const [name, v] of [["trainPerBatch", trainPerBatch], ["test", testCount]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`writeCifarFixture: ${name} must be a positive integer, got ${v}`);
    }
  }
  await Deno.mkdir(dir, { recursive: true });
  const make = (n: number): CifarSplit => {
    const images = new Uint8Array(n * CIFAR_IMAGE_BYTES);
    const labels = new Uint8Array(n);
    for (let r = 0; r < n; r++) {
      labels[r] = rng.int(CIFAR_NUM_CLASSES);
      const base = [rng.range(0, 255), rng.range(0, 255), rng.range(0, 255)];
      const dy = [rng.range(-6, 6), rng.range(-6, 6), rng.range(-6, 6)];
      const dx = [rng.range(-6, 6), rng.range(-6, 6), rng.range(-6, 6)];
      for (let y = 0; y < CIFAR_IMAGE_SIZE; y++) {
        for (let x = 0; x < CIFAR_IMAGE_SIZE; x++) {
          for (let c = 0; c < 3; c++) {
            const v = base[c] + dy[c] * (y - 16) + dx[c] * (x - 16) + rng.range(-20, 20);
            images[r * CIFAR_IMAGE_BYTES + (y * CIFAR_IMAGE_SIZE + x) * 3 + c] = Math.max(
              0,
              Math.min(255, Math.round(v)),
            );
          }
        }
      }
    }
    return { images, labels, count: n };
  };
  const train = make(trainPerBatch * CIFAR_TRAIN_FILES.length);
  const test = make(testCount);
  for (let f = 0; f < CIFAR_TRAIN_FILES.length; f++) {
    const lo = f * trainPerBatch;
    const hi = lo + trainPerBatch;
    await writeFileAtomic(
      join(dir, CIFAR_TRAIN_FILES[f]),
      encodeRecords(
        train.images.subarray(lo * CIFAR_IMAGE_BYTES, hi * CIFAR_IMAGE_BYTES),
        train.labels.subarray(lo, hi),
      ),
    );
  }
  await writeFileAtomic(join(dir, CIFAR_TEST_FILE), encodeRecords(test.images, test.labels));
  await writeFileAtomic(
    join(dir, CIFAR_META_FILE),
    new TextEncoder().encode(CIFAR_CLASS_NAMES.join("\n") + "\n\n"),
  );
  return { train, test };
}

/** Options of {@linkcode ensureCifar10}. */
export interface EnsureOptions {
  /** A folder given by the user (`--data DIR`): validated and returned, never downloaded into. */
  data?: string;
  /** Cache root; the dataset lives in `<cacheDir>/cifar-10-batches-bin`. Default {@linkcode defaultCacheDir}. */
  cacheDir?: string;
  /** Archive URL; default the official one. */
  url?: string;
  /** `fetch` replacement, for tests. */
  fetchFn?: typeof fetch;
  /** Expected MD5 (hex) of the archive; default the published one. */
  md5?: string;
  /** Validation strictness; fixtures pass `strictCounts: false`. */
  validate?: Omit<ValidateOptions, "checkLabels">;
  /** Where the download progress bar writes; default stderr. */
  progressStream?: ByteSink;
}

/** `$XDG_CACHE_HOME/simclr-ts`, else `~/.cache/simclr-ts`, else `./.cache/simclr-ts`. */
export function defaultCacheDir(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "simclr-ts");
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  return home ? join(home, ".cache", "simclr-ts") : resolve(".cache", "simclr-ts");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Advice printed with every download failure: where the files can be put instead. */
function offlineAdvice(target: string): string {
  return `Without network access, put the CIFAR-10 binary files (${
    CIFAR_TRAIN_FILES[0]
  } … ${CIFAR_TEST_FILE}, ${CIFAR_META_FILE}) in a folder and pass --data DIR ` +
    `(e.g. --data ../shared/data/cifar-10-batches-bin), or place them in ${target}`;
}

/**
 * Returns a folder holding a valid CIFAR-10 binary dataset:
 * 1. `data` given: validate it and return it (no download).
 * 2. else `<cacheDir>/cifar-10-batches-bin` exists: validate and return it.
 * 3. else download `url` with a progress bar, check its MD5, extract it into a temporary folder
 *    next to the target, validate, and rename it into place — so an interrupted or corrupt
 *    download never leaves a partial dataset behind.
 *
 * Network failures throw an error saying where to put the files instead.
 */
export async function ensureCifar10(opts: EnsureOptions = {}): Promise<string> {
  const validateOpts = opts.validate ?? {};
  if (opts.data !== undefined) {
    await validateCifarDir(opts.data, validateOpts);
    return opts.data;
  }
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const target = join(cacheDir, CIFAR10_FOLDER);
  if (await exists(target)) {
    try {
      await validateCifarDir(target, validateOpts);
    } catch (e) {
      throw new CifarError(
        target,
        `cached copy is invalid (${(e as Error).message}); delete the folder to download again`,
      );
    }
    return target;
  }

  const url = opts.url ?? CIFAR10_URL;
  const expectedMd5 = (opts.md5 ?? CIFAR10_MD5).toLowerCase();
  const fetchFn = opts.fetchFn ?? fetch;
  await Deno.mkdir(cacheDir, { recursive: true });
  const work = await Deno.makeTempDir({ dir: cacheDir, prefix: ".cifar-10-download-" });
  try {
    const archive = join(work, "cifar-10-binary.tar.gz");
    await download(url, archive, expectedMd5, fetchFn, target, opts.progressStream);
    const extracted = join(work, "extracted");
    const file = await Deno.open(archive, { read: true });
    try {
      await extractTar(file.readable.pipeThrough(new DecompressionStream("gzip")), extracted);
    } catch (e) {
      const why = e instanceof TarError
        ? e.message
        : `cannot be decompressed: ${(e as Error).message}`;
      throw new CifarError(url, `archive ${why}`);
    }
    const inner = join(extracted, CIFAR10_FOLDER);
    await validateCifarDir(inner, validateOpts);
    try {
      await Deno.rename(inner, target);
    } catch (e) {
      // Another process may have finished first; its complete copy is as good as ours.
      if (!(await exists(target))) throw e;
      await validateCifarDir(target, validateOpts);
    }
    return target;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/** Streams `url` to `dest`, hashing as it goes; throws with offline advice on network failure. */
async function download(
  url: string,
  dest: string,
  expectedMd5: string,
  fetchFn: typeof fetch,
  target: string,
  progressStream: ByteSink | undefined,
): Promise<void> {
  const fail = (why: string): never => {
    throw new CifarError(url, `download failed: ${why}. ${offlineAdvice(target)}`);
  };
  let response: Response;
  try {
    response = await fetchFn(url);
  } catch (e) {
    return fail((e as Error).message);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    return fail(`HTTP ${response.status} ${response.statusText}`.trim());
  }
  const total = Number(response.headers.get("content-length") ?? 0) || 0;
  const bar = new ProgressBar({
    total,
    label: "download cifar-10-binary.tar.gz",
    unit: "bytes",
    stream: progressStream,
  });
  const hash = createHash("md5");
  let received = 0;
  const file = await Deno.open(dest, { write: true, create: true, truncate: true });
  try {
    const reader = response.body.getReader();
    while (true) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        return fail(`connection lost after ${fmt(received)} bytes (${(e as Error).message})`);
      }
      if (chunk.done) break;
      hash.update(chunk.value);
      let off = 0;
      while (off < chunk.value.length) off += await file.write(chunk.value.subarray(off));
      received += chunk.value.length;
      bar.update(received);
    }
  } finally {
    file.close();
  }
  bar.finish();
  if (total > 0 && received !== total) {
    fail(`received ${fmt(received)} of ${fmt(total)} bytes`);
  }
  const md5 = hash.digest("hex");
  if (md5 !== expectedMd5) {
    throw new CifarError(
      url,
      `MD5 of the downloaded archive is ${md5}, expected ${expectedMd5} (corrupt or wrong file); ` +
        `nothing was kept. ${offlineAdvice(target)}`,
    );
  }
}
