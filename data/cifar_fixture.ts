/**
 * A tiny dataset in the CIFAR-10 binary layout, written for tests.
 *
 * @module
 */

import { join } from "node:path";
import { type Rng, writeFileAtomic } from "@simclr/core";
import {
  CIFAR_CLASS_NAMES,
  CIFAR_IMAGE_BYTES,
  CIFAR_IMAGE_SIZE,
  CIFAR_META_FILE,
  CIFAR_NUM_CLASSES,
  CIFAR_RECORD_BYTES,
  CIFAR_TEST_FILE,
  CIFAR_TRAIN_FILES,
  type CifarSplit,
} from "./cifar_format.ts";

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
