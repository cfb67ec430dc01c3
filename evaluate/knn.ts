/**
 * Weighted k-nearest-neighbour classification of frozen features, the protocol of InstDisc
 * (Wu et al. 2018) and MoCo: cosine similarity to every training feature, the k most similar
 * vote for their class with weight `exp(s / τ)`, and the class with the largest total wins.
 *
 * @module
 */

import type { Backend, DeviceTensor } from "@simclr/core";
import { checkLabels, checkMatrix, l2Normalize, type Labels } from "./features.ts";
import { matMulABt, selectLargest } from "./linalg.ts";

/** The data of a kNN evaluation. */
export interface KnnInput {
  /** Training (memory bank) features, row-major `[nTrain, dim]`. */
  readonly train: Float32Array;
  /** Training labels, length `nTrain`. */
  readonly trainLabels: Labels;
  /** Number of training rows. */
  readonly nTrain: number;
  /** Test (query) features, row-major `[nTest, dim]`. */
  readonly test: Float32Array;
  /** Number of test rows. */
  readonly nTest: number;
  /** Feature width. */
  readonly dim: number;
  /** Test labels; when given the result includes the accuracy. */
  readonly testLabels?: Labels;
}

/** Options of {@linkcode knnClassify}. */
export interface KnnOptions {
  /** Neighbours that vote (default 200; clipped to `nTrain`). */
  readonly k?: number;
  /** Temperature τ of the vote weight `exp(s/τ)` (default 0.1). */
  readonly temperature?: number;
  /** Number of classes (default: largest training label + 1). */
  readonly numClasses?: number;
  /** Test rows per similarity block; memory is `chunkRows·nTrain` floats (default 256). */
  readonly chunkRows?: number;
  /** Computes the similarity blocks with this backend's `matMul` when given. */
  readonly backend?: Backend;
  /** Called after every block with the test rows done so far and the total. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Result of {@linkcode knnClassify}. */
export interface KnnResult {
  /** Predicted class of every test row. */
  readonly predictions: Int32Array;
  /** Share of correct predictions, when test labels were given. */
  readonly accuracy?: number;
}

/**
 * Classifies every test row by a similarity-weighted vote of its `k` nearest training rows under
 * cosine similarity (both sets are L2-normalised copies; the inputs are not changed). Work is done
 * in blocks of `chunkRows` test rows against all training rows, so memory stays bounded; the k
 * largest similarities of a row are found by heap selection rather than sorting the whole row.
 * Ties in the vote go to the lower class index.
 */
export async function knnClassify(input: KnnInput, options: KnnOptions = {}): Promise<KnnResult> {
  const { nTrain, nTest, dim } = input;
  checkMatrix(input.train, nTrain, dim, "knnClassify train");
  checkMatrix(input.test, nTest, dim, "knnClassify test");
  const labelClasses = checkLabels(input.trainLabels, nTrain, "knnClassify trainLabels");
  if (input.testLabels !== undefined) {
    checkLabels(input.testLabels, nTest, "knnClassify testLabels");
  }
  const numClasses = options.numClasses ?? labelClasses;
  if (numClasses < labelClasses) {
    throw new Error(
      `knnClassify: numClasses ${numClasses} is below the largest training label + 1 (${labelClasses})`,
    );
  }
  const kRequested = options.k ?? 200;
  if (!Number.isInteger(kRequested) || kRequested < 1) {
    throw new Error(`knnClassify: k must be a positive integer, got ${kRequested}`);
  }
  const k = Math.min(kRequested, nTrain);
  const temperature = options.temperature ?? 0.1;
  if (!(temperature > 0)) {
    throw new Error(`knnClassify: temperature must be positive, got ${temperature}`);
  }
  const chunkRows = options.chunkRows ?? 256;
  if (!Number.isInteger(chunkRows) || chunkRows < 1) {
    throw new Error(`knnClassify: chunkRows must be a positive integer, got ${chunkRows}`);
  }

  const train = l2Normalize(input.train, nTrain, dim);
  const test = l2Normalize(input.test, nTest, dim);
  const trainLabels = Int32Array.from(input.trainLabels);
  const predictions = new Int32Array(nTest);
  const heapIndex = new Int32Array(k);
  const heapValue = new Float64Array(k);
  const votes = new Float64Array(numClasses);
  const hostBlock = options.backend ? undefined : new Float32Array(chunkRows * nTrain);

  const backend = options.backend;
  const trainDevice: DeviceTensor | undefined = backend?.upload(train, [nTrain, dim]);
  try {
    for (let r0 = 0; r0 < nTest; r0 += chunkRows) {
      const rows = Math.min(chunkRows, nTest - r0);
      const queries = test.subarray(r0 * dim, (r0 + rows) * dim);
      let similarities: Float32Array;
      if (backend && trainDevice) {
        const q = backend.upload(queries.slice(), [rows, dim]);
        try {
          const s = backend.matMul(q, trainDevice, false, true);
          try {
            similarities = await backend.read(s);
          } finally {
            backend.dispose(s);
          }
        } finally {
          backend.dispose(q);
        }
      } else {
        similarities = matMulABt(queries, rows, train, nTrain, dim, hostBlock);
      }
      for (let r = 0; r < rows; r++) {
        const selected = selectLargest(similarities, r * nTrain, nTrain, k, heapIndex, heapValue);
        votes.fill(0);
        for (let t = 0; t < selected; t++) {
          votes[trainLabels[heapIndex[t]]] += Math.exp(heapValue[t] / temperature);
        }
        let best = 0;
        for (let c = 1; c < numClasses; c++) if (votes[c] > votes[best]) best = c;
        predictions[r0 + r] = best;
      }
      options.onProgress?.(r0 + rows, nTest);
    }
  } finally {
    if (backend && trainDevice) backend.dispose(trainDevice);
  }

  if (input.testLabels === undefined) return { predictions };
  let correct = 0;
  for (let i = 0; i < nTest; i++) if (predictions[i] === input.testLabels[i]) correct++;
  return { predictions, accuracy: correct / nTest };
}
