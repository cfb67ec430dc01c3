/**
 * The evaluation protocol applied to one representation (frozen features of train and test):
 * linear probe, kNN, k-means, PCA and t-SNE, with the results in the shape `results.json` stores
 * and the report draws.
 *
 * @module
 */
import {
  type Backend,
  type KMeansRecord,
  type ProbeKind,
  Rng,
  type VariantRecord,
} from "@simclr/core";
import { classBalancedSubset, gatherLabels, gatherRows, l2Normalize } from "./features.ts";
import { knnClassify } from "./knn.ts";
import { assignToCentroids, kMeans } from "./kmeans.ts";
import { scoreClusters } from "./metrics.ts";
import type { ScanResult } from "./scan.ts";
import { fitPca, pcaTransform } from "./pca.ts";
import { linearProbe } from "./probe.ts";
import { neighbourPreservation, tsne } from "./tsne.ts";

/** Frozen features with labels. */
export interface LabelledFeatures {
  /** Row-major `[n, dim]`. */
  x: Float32Array;
  /** Class of every row. */
  labels: Uint8Array | Int32Array;
  /** Rows. */
  n: number;
}

/** Options of {@linkcode evaluateRepresentation}. */
export interface ProtocolOptions {
  /** Runs the probe's training and the large matrix products. */
  backend: Backend;
  /** Probe classifier (default logistic). */
  probe?: ProbeKind;
  /** Probe epochs per fit (default 30). */
  probeEpochs?: number;
  /** Compute the PCA projection (default true). */
  pca?: boolean;
  /** t-SNE points (class-balanced test subset); 0 skips t-SNE (default 5,000). */
  tsnePoints?: number;
  /** t-SNE iterations (default 1,000). */
  tsneIterations?: number;
  /** k-means restarts (default 5). */
  kmeansRestarts?: number;
  /** Seed of every random choice. */
  seed?: number;
  /** Progress: the stage and a fraction done. */
  onStage?: (stage: string, fraction: number) => void;
}

/**
 * Everything measured on one representation: a `variants[]` entry of `results.json` (core's
 * `VariantRecord`), with SCAN's full record.
 */
export type RepresentationResult = VariantRecord<ScanResult>;

/** Runs the whole protocol on one representation. */
export async function evaluateRepresentation(
  name: string,
  train: LabelledFeatures,
  test: LabelledFeatures,
  dim: number,
  opts: ProtocolOptions,
): Promise<RepresentationResult> {
  const stage = (s: string, f: number) => opts.onStage?.(`${name}: ${s}`, f);
  const seed = opts.seed ?? 0;
  const backend = opts.backend;

  stage("linear probe", 0);
  const probe = await linearProbe(backend, train, test, dim, {
    kind: opts.probe ?? "logistic",
    epochs: opts.probeEpochs,
    seed,
    numClasses: 10,
    onProgress: (s, done, total) => stage(`linear probe ${s}`, done / total),
  });

  stage("kNN", 0);
  const knn = await knnClassify({
    train: train.x,
    trainLabels: train.labels,
    nTrain: train.n,
    test: test.x,
    nTest: test.n,
    dim,
    testLabels: test.labels,
  }, {
    k: 200,
    temperature: 0.1,
    numClasses: 10,
    backend,
    onProgress: (done, total) => stage("kNN", done / total),
  });

  stage("k-means", 0);
  const kmeans = await evaluateKMeans(train, test, dim, {
    backend,
    seed,
    kmeansRestarts: opts.kmeansRestarts,
  });
  const result: RepresentationResult = {
    name,
    dim,
    probe,
    knn: { accuracy: knn.accuracy!, k: 200, temperature: 0.1 },
    kmeans,
  };

  if (opts.pca ?? true) {
    stage("PCA", 0);
    const pca = await fitPca(train.x, train.n, dim, {
      components: 2,
      backend,
      rng: new Rng(seed + 3),
    });
    const points = pcaTransform(pca.model, test.x, test.n, 2);
    result.pca = {
      explainedRatio: Array.from(pca.model.explainedVarianceRatio),
      points: Array.from(points, round4),
      labels: Array.from(test.labels),
    };
  }

  const tsnePoints = Math.min(opts.tsnePoints ?? 5000, test.n);
  if (tsnePoints > 0) {
    stage("t-SNE", 0);
    const rows = classBalancedSubset(test.labels, Math.floor(tsnePoints / 10), new Rng(seed + 4));
    const x = gatherRows(test.x, dim, rows);
    const iterations = opts.tsneIterations ?? 1000;
    const embedding = await tsne(x, rows.length, dim, {
      rng: new Rng(seed + 5),
      backend,
      // Perplexity 30 needs more than 91 points; tiny subsets (quick checks) get a smaller one.
      perplexity: Math.min(30, Math.floor((rows.length - 2) / 3)),
      iterations,
      onProgress: (p) => stage(`t-SNE KL ${p.kl.toFixed(3)}`, p.iteration / iterations),
    });
    result.tsne = {
      points: Array.from(embedding.embedding, round4),
      labels: Array.from(gatherLabels(test.labels, rows)),
      neighbourPreservation: neighbourPreservation(x, rows.length, dim, embedding.embedding, 2, 10),
      kl: embedding.kl,
    };
  }
  stage("done", 1);
  return result;
}

/**
 * Experiment 3's k-means: k = 10 on L2-normalised features with k-means++ restarts (default 5),
 * fitted on train, test rows assigned to the nearest centroid and scored against the classes.
 */
export async function evaluateKMeans(
  train: LabelledFeatures,
  test: LabelledFeatures,
  dim: number,
  opts: Pick<ProtocolOptions, "backend" | "seed" | "kmeansRestarts" | "onStage">,
): Promise<KMeansRecord> {
  const seed = opts.seed ?? 0;
  const backend = opts.backend;
  opts.onStage?.("k-means", 0);
  const trainUnit = l2Normalize(train.x, train.n, dim);
  const testUnit = l2Normalize(test.x, test.n, dim);
  const fit = await kMeans(trainUnit, train.n, dim, 10, {
    restarts: opts.kmeansRestarts ?? 5,
    rng: new Rng(seed + 2),
    backend,
  });
  const assigned = await assignToCentroids(fit.centroids, 10, testUnit, test.n, dim, backend);
  opts.onStage?.("k-means", 1);
  return { ...scoreClusters(assigned.assignments, test.labels, 10, 10), inertia: fit.inertia };
}

/** Four decimals: enough for a scatter plot, and a smaller `results.json`. */
function round4(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}
