/**
 * Host-side classification scores for the linear probe and kNN: accuracy, confusion matrix and
 * per-class accuracy.
 *
 * @module
 */

import { checkLabels, type Labels } from "./features.ts";

/** Share of positions where `predictions` equals `labels`. */
export function accuracy(predictions: Labels, labels: Labels): number {
  if (predictions.length !== labels.length || labels.length === 0) {
    throw new Error(
      `accuracy: expected equally long non-empty arrays, got ${predictions.length} predictions ` +
        `and ${labels.length} labels`,
    );
  }
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
  return correct / labels.length;
}

/** A square confusion matrix. */
export interface ConfusionMatrix {
  /** Number of classes (side of the matrix). */
  readonly numClasses: number;
  /** Row-major `[numClasses, numClasses]` counts: row = true class, column = predicted class. */
  readonly counts: Int32Array;
}

/**
 * Counts `(true class, predicted class)` pairs. `numClasses` defaults to the largest label or
 * prediction + 1.
 */
export function confusionMatrix(
  labels: Labels,
  predictions: Labels,
  numClasses?: number,
): ConfusionMatrix {
  const n = labels.length;
  const k = Math.max(
    checkLabels(labels, n, "confusionMatrix labels"),
    checkLabels(predictions, n, "confusionMatrix predictions"),
  );
  const size = numClasses ?? k;
  if (size < k) {
    throw new Error(
      `confusionMatrix: numClasses ${numClasses} is below the largest label + 1 (${k})`,
    );
  }
  const counts = new Int32Array(size * size);
  for (let i = 0; i < n; i++) counts[labels[i] * size + predictions[i]]++;
  return { numClasses: size, counts };
}

/**
 * Accuracy within each true class (the diagonal of the confusion matrix over its row sums).
 * A class with no examples gets NaN.
 */
export function perClassAccuracy(
  labels: Labels,
  predictions: Labels,
  numClasses?: number,
): Float64Array {
  const { numClasses: size, counts } = confusionMatrix(labels, predictions, numClasses);
  const out = new Float64Array(size);
  for (let c = 0; c < size; c++) {
    let rowSum = 0;
    for (let p = 0; p < size; p++) rowSum += counts[c * size + p];
    out[c] = rowSum === 0 ? NaN : counts[c * size + c] / rowSum;
  }
  return out;
}
