/**
 * Builds a {@link TrainingLog} from the training JSONL log: one JSON object per line, with
 * `type: "step"` or `type: "epoch"` (as the trainer writes them). Lines of other types are
 * skipped; records without `type` are classified by their fields.
 *
 * @module
 */
import type { TrainEpochRecord, TrainingLog, TrainStepRecord } from "./types.ts";

const STEP_FIELDS = ["step", "epoch", "loss", "lr", "imagesPerSec", "time"] as const;
const EPOCH_FIELDS = ["epoch", "loss", "featureStd", "alignment", "uniformity"] as const;

/**
 * Parses JSONL text into steps and epochs. `source` names the file in error messages. NaN/∞
 * cannot appear in JSON; `null` in a numeric field (how `JSON.stringify` writes NaN) is read back
 * as NaN so a diverged run still plots.
 */
export function trainingLogFromJsonl(
  text: string,
  featureDim: number,
  source = "training log",
): TrainingLog {
  if (!Number.isInteger(featureDim) || featureDim <= 0) {
    throw new RangeError(`viz: featureDim must be a positive integer, got ${featureDim}`);
  }
  const steps: TrainStepRecord[] = [];
  const epochs: TrainEpochRecord[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line);
    } catch (err) {
      throw new SyntaxError(
        `viz: ${source} line ${i + 1} is not valid JSON (${(err as Error).message})`,
      );
    }
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      throw new TypeError(`viz: ${source} line ${i + 1} must be a JSON object`);
    }
    const type = record.type ?? ("featureStd" in record ? "epoch" : "step");
    const fields = type === "step" ? STEP_FIELDS : type === "epoch" ? EPOCH_FIELDS : undefined;
    if (!fields) return;
    const out: Record<string, number> = {};
    for (const field of fields) {
      const v = record[field];
      if (v === null) out[field] = NaN;
      else if (typeof v === "number") out[field] = v;
      else {
        throw new TypeError(
          `viz: ${source} line ${i + 1} (${type} record) needs a number in "${field}", got ${
            JSON.stringify(v)
          }`,
        );
      }
    }
    if (type === "step") steps.push(out as unknown as TrainStepRecord);
    else {
      const epoch = out as unknown as TrainEpochRecord;
      if (typeof record.knnAccuracy === "number") epoch.knnAccuracy = record.knnAccuracy;
      epochs.push(epoch);
    }
  });
  return { steps, epochs, featureDim };
}
