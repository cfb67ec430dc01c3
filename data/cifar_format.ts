/**
 * The CIFAR-10 binary format: file names, record layout, class names, where the official archive
 * lives, and the checks on a file's size and label bytes that loading and validation share.
 *
 * Layout: `data_batch_1.bin` … `data_batch_5.bin` (train), `test_batch.bin` (test) and
 * `batches.meta.txt` (class names, one a line). A record is 3,073 bytes: one label byte (0–9),
 * then the 1,024 red, 1,024 green and 1,024 blue bytes of a row-major 32×32 image.
 *
 * @module
 */

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

/** `n` with thousands separators, for messages. */
export function fmt(n: number): string {
  return n.toLocaleString("en-US");
}

/** Record count from a file size, or a CifarError explaining why the size is wrong. */
export function recordCount(path: string, size: number): number {
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
export function checkLabels(path: string, bytes: Uint8Array, count: number, firstRecord = 0): void {
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
