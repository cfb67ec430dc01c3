/**
 * SCAN clustering (Van Gansbeke et al., "SCAN: Learning to Classify Images without Labels",
 * ECCV 2020) on frozen features: mine every training image's nearest neighbours (cosine), then
 * train linear clustering heads with the SCAN loss ({@linkcode scanLoss}) so that an image and
 * its neighbours fall in the same cluster while the entropy term keeps every cluster in use.
 * Several heads train at once from different initialisations; the one with the lowest loss (a
 * label-free choice, as in the paper) is kept and scored on the test set with the same metrics as
 * k-means.
 *
 * This file runs the whole method on one representation ({@linkcode scanRepresentation}):
 * neighbour mining is in `scan_neighbours.ts`, the heads and the self-labelling step in
 * `scan_heads.ts`. The encoder stays frozen here; `scan_finetune.ts` fine-tunes it end to end
 * (the paper's SCAN step), starting from the heads trained here ({@linkcode ScanRepresentationOptions.onFit}).
 *
 * @module
 */
import type { Labels } from "./features.ts";
import { type ClusterScores, scoreClusters } from "./metrics.ts";
import { mineNeighbours, neighbourPurity } from "./scan_neighbours.ts";
import type { ScanFinetuneResult } from "./scan_finetune.ts";
import {
  type ClusterPrediction,
  type HeadLoss,
  mostConfident,
  predictClusters,
  type ScanFit,
  type ScanOptions,
  selfLabel,
  trainScanHeads,
} from "./scan_heads.ts";

/** What `results.json` stores for SCAN on one representation (`variants[].scan`). */
export interface ScanResult extends ClusterScores {
  /** Neighbours mined per image. */
  k: number;
  /** Entropy weight of the loss. */
  entropyWeight: number;
  /** Heads trained per seed. */
  heads: number;
  /** Epochs completed (first seed). */
  epochs: number;
  /** The chosen head's loss parts over its last epoch (first seed). */
  loss: HeadLoss;
  /** `neighbourPurity[j]`: share of the `j + 1` nearest train neighbours with the same class. */
  neighbourPurity: number[];
  /** One entry per head seed: the chosen head's test scores; the top-level scores are seed 0's. */
  seeds: { seed: number; nmi: number; ari: number; accuracy: number; loss: number }[];
  /** Per cluster, the test rows it is most confident about (most first). */
  topImages: number[][];
  /** Their confidences, same layout. */
  topConfidence: number[][];
  /** Wall-clock seconds of mining, training and scoring. */
  seconds: number;
  /** After SCAN's self-labelling step (when run): the first seed's scores, and every seed's. */
  selfLabel?: ClusterScores & {
    /** Confidence threshold. */
    threshold: number;
    /** Share of train rows above it at the start of each epoch (first seed). */
    confident: number[];
    /** Epochs completed (first seed). */
    epochs: number;
    /** Test scores per head seed. */
    seeds: { seed: number; nmi: number; ari: number; accuracy: number }[];
  };
  /** SCAN with the encoder fine-tuned end to end from the first seed's heads (when run). */
  finetune?: ScanFinetuneResult;
}

/** Options of {@linkcode scanRepresentation}. */
export interface ScanRepresentationOptions extends Omit<ScanOptions, "seed" | "onProgress"> {
  /** Neighbours per image for training (default 20). */
  readonly k?: number;
  /** Largest k of the purity curve (default 50). */
  readonly purityK?: number;
  /** Head seeds: the first is reported, all give the spread (default [0]). */
  readonly seeds?: readonly number[];
  /** Confident test images kept per cluster (default 10). */
  readonly topImages?: number;
  /** Run the self-labelling step after SCAN (needs `views`). */
  readonly selfLabel?: boolean;
  /** Self-labelling confidence threshold (default 0.99). */
  readonly threshold?: number;
  /** Self-labelling epochs (default 10). */
  readonly selfLabelEpochs?: number;
  /** Progress: a stage name and the fraction done. */
  readonly onStage?: (stage: string, fraction: number) => void;
  /** Given the first seed's heads and the mined neighbours (`[n, k]`), e.g. to fine-tune from. */
  readonly onFit?: (fit: ScanFit, neighbours: Int32Array, k: number) => void;
  /**
   * Neighbours mined already (`[n, m]`, nearest first, m ≥ `k`), e.g. by {@linkcode scanSweep}:
   * mining is skipped and the purity curve goes up to m.
   */
  readonly mined?: Int32Array;
}

/**
 * SCAN on one representation: mines the train set's neighbours, trains heads for every seed, and
 * scores each seed's chosen head on the test set.
 */
export async function scanRepresentation(
  train: { x: Float32Array; labels: Labels; n: number },
  test: { x: Float32Array; labels: Labels; n: number },
  dim: number,
  options: ScanRepresentationOptions,
): Promise<ScanResult> {
  const t0 = performance.now();
  const k = options.k ?? 20;
  const purityK = options.mined
    ? options.mined.length / train.n
    : Math.max(k, Math.min(options.purityK ?? 50, train.n - 1));
  if (!Number.isInteger(purityK) || purityK < k) {
    throw new Error(
      `scanRepresentation: the mined neighbours give ${purityK} per image, k is ${k}`,
    );
  }
  const seeds = options.seeds ?? [0];
  if (seeds.length === 0) throw new Error("scanRepresentation: give at least one seed");
  const clusters = options.clusters ?? 10;
  options.onStage?.("neighbours", 0);
  const mined = options.mined ?? await mineNeighbours(train.x, train.n, dim, purityK, {
    backend: options.backend,
    onProgress: (d, t) => options.onStage?.("neighbours", d / t),
  });
  const purity = neighbourPurity(mined, purityK, train.labels);
  const neighbours = new Int32Array(train.n * k);
  for (let i = 0; i < train.n; i++) {
    neighbours.set(mined.subarray(i * purityK, i * purityK + k), i * k);
  }

  let first: { fit: ScanFit; prediction: ClusterPrediction; scores: ClusterScores } | undefined;
  const perSeed: ScanResult["seeds"] = [];
  let firstSelf: { scores: ClusterScores; confident: number[]; epochs: number } | undefined;
  const selfSeeds: NonNullable<ScanResult["selfLabel"]>["seeds"] = [];
  for (const [s, seed] of seeds.entries()) {
    // The time left is shared equally by the seeds still to run, 60/40 between the two steps.
    const share = options.deadline === undefined
      ? undefined
      : (options.deadline - performance.now()) / (seeds.length - s);
    const fit = await trainScanHeads(train.x, train.n, dim, neighbours, k, {
      ...options,
      seed,
      deadline: share === undefined
        ? undefined
        : performance.now() + share * (options.selfLabel ? 0.6 : 1),
      onProgress: (p) =>
        options.onStage?.(
          `heads seed ${seed}, loss ${p.loss.toFixed(3)}`,
          (s + p.step / p.totalSteps) / seeds.length,
        ),
    });
    const prediction = predictClusters(fit, test.x, test.n);
    const scores = scoreClusters(prediction.assignments, test.labels, clusters);
    perSeed.push({
      seed,
      nmi: scores.nmi,
      ari: scores.ari,
      accuracy: scores.accuracy,
      loss: fit.heads[fit.best].loss,
    });
    if (!first) options.onFit?.(fit, neighbours, k);
    first ??= { fit, prediction, scores };
    if (options.selfLabel) {
      const refined = await selfLabel(fit, train.x, train.n, {
        backend: options.backend,
        views: options.views ?? [],
        threshold: options.threshold,
        epochs: options.selfLabelEpochs,
        seed,
        deadline: share === undefined
          ? undefined
          : options.deadline! - share * (seeds.length - s - 1),
        onProgress: (p) =>
          options.onStage?.(
            `self-label seed ${seed}, loss ${p.loss.toFixed(3)}`,
            (s + p.step / p.totalSteps) / seeds.length,
          ),
      });
      const labelled = scoreClusters(
        predictClusters(refined.fit, test.x, test.n).assignments,
        test.labels,
        clusters,
      );
      selfSeeds.push({ seed, nmi: labelled.nmi, ari: labelled.ari, accuracy: labelled.accuracy });
      firstSelf ??= { scores: labelled, confident: refined.confident, epochs: refined.epochs };
    }
  }
  const { fit, prediction, scores } = first!;
  const top = mostConfident(prediction, clusters, options.topImages ?? 10);
  options.onStage?.("done", 1);
  return {
    ...scores,
    k,
    entropyWeight: options.entropyWeight ?? 5,
    heads: fit.heads.length,
    epochs: fit.epochs,
    loss: fit.heads[fit.best],
    neighbourPurity: purity,
    seeds: perSeed,
    topImages: top,
    topConfidence: top.map((rows) =>
      rows.map((i) => Math.round(prediction.confidence[i] * 1e4) / 1e4)
    ),
    seconds: (performance.now() - t0) / 1000,
    ...(firstSelf
      ? {
        selfLabel: {
          ...firstSelf.scores,
          threshold: options.threshold ?? 0.99,
          confident: firstSelf.confident,
          epochs: firstSelf.epochs,
          seeds: selfSeeds,
        },
      }
      : {}),
  };
}

/** One point of a {@linkcode scanSweep}: neighbours per image and the entropy weight. */
export interface ScanSweepPoint {
  /** Neighbours per image. */
  k: number;
  /** Weight of the entropy term. */
  entropyWeight: number;
}

/** One row of a {@linkcode scanSweep}: the first seed's test scores and its chosen head's loss. */
export interface ScanSweepRow extends ScanSweepPoint, ClusterScores {
  /** The chosen head's loss parts over its last epoch (first seed). */
  loss: HeadLoss;
  /** Epochs completed (first seed). */
  epochs: number;
  /** Every seed's scores. */
  seeds: ScanResult["seeds"];
  /** Seconds of head training and scoring. */
  seconds: number;
}

/**
 * SCAN on frozen features for several (k, entropy weight) points: the neighbours are mined once,
 * up to the largest k (at least 50, for the purity curve), and each point trains and scores its
 * heads as {@linkcode scanRepresentation} does. `onRow` gets each row as it is done (to save
 * partial results of a long sweep); the purity curve is returned once.
 */
export async function scanSweep(
  train: { x: Float32Array; labels: Labels; n: number },
  test: { x: Float32Array; labels: Labels; n: number },
  dim: number,
  points: readonly ScanSweepPoint[],
  options: Omit<ScanRepresentationOptions, "k" | "entropyWeight" | "mined" | "onFit"> & {
    readonly onRow?: (row: ScanSweepRow, done: number) => void | Promise<void>;
  },
): Promise<{ rows: ScanSweepRow[]; neighbourPurity: number[] }> {
  if (points.length === 0) throw new Error("scanSweep: give at least one point");
  const width = Math.min(
    Math.max(options.purityK ?? 50, ...points.map((p) => p.k)),
    train.n - 1,
  );
  options.onStage?.("neighbours", 0);
  const mined = await mineNeighbours(train.x, train.n, dim, width, {
    backend: options.backend,
    onProgress: (d, t) => options.onStage?.("neighbours", d / t),
  });
  const rows: ScanSweepRow[] = [];
  let neighbourPurity: number[] = [];
  for (const [i, point] of points.entries()) {
    const r = await scanRepresentation(train, test, dim, {
      ...options,
      ...point,
      mined,
      selfLabel: false,
      onStage: (s, f) => options.onStage?.(`k=${point.k} w=${point.entropyWeight} ${s}`, f),
    });
    neighbourPurity = r.neighbourPurity;
    const row: ScanSweepRow = {
      ...point,
      nmi: r.nmi,
      ari: r.ari,
      accuracy: r.accuracy,
      contingency: r.contingency,
      matchedOrder: r.matchedOrder,
      loss: r.loss,
      epochs: r.epochs,
      seeds: r.seeds,
      seconds: r.seconds,
    };
    rows.push(row);
    await options.onRow?.(row, i + 1);
  }
  return { rows, neighbourPurity };
}
