/**
 * The evaluation protocol applied to one representation (frozen features of train and test):
 * linear probe, kNN, k-means, PCA and t-SNE, with the results in the shape `results.json` stores
 * and the report draws.
 *
 * @module
 */
import { type Backend, Rng } from "@simclr/core";
import { classBalancedSubset, gatherLabels, gatherRows, l2Normalize } from "./features.ts";
import { knnClassify } from "./knn.ts";
import { assignToCentroids, kMeans } from "./kmeans.ts";
import {
  adjustedRandIndex,
  clusteringAccuracy,
  contingencyTable,
  normalizedMutualInformation,
} from "./metrics.ts";
import { fitPca, pcaTransform } from "./pca.ts";
import { linearProbe, type ProbeKind, type ProbeResult } from "./probe.ts";
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

/** Everything measured on one representation (the `variants[]` entries of `results.json`). */
export interface RepresentationResult {
  /** `simclr`, `raw-pixels` or `random-encoder`. */
  name: string;
  /** Feature width. */
  dim: number;
  /** Experiment 1: linear classifier on standardised features. */
  probe: ProbeResult;
  /** Weighted kNN, cosine similarity, k=200, τ=0.1. */
  knn: { accuracy: number; k: number; temperature: number };
  /** Experiment 3: k-means (k=10) on L2-normalised features, fit on train, scored on test. */
  kmeans: {
    nmi: number;
    ari: number;
    accuracy: number;
    /** `[cluster][class]` test counts. */
    contingency: number[][];
    /** `matchedOrder[c]`: the cluster matched to class c (Hungarian). */
    matchedOrder: number[];
    /** Inertia of the fit on train. */
    inertia: number;
  };
  /** Experiment 2: PCA fitted on train, test projected onto the first two components. */
  pca?: { explainedRatio: number[]; points: number[]; labels: number[] };
  /** Experiment 2: t-SNE of a class-balanced test subset. */
  tsne?: { points: number[]; labels: number[]; neighbourPreservation: number; kl: number };
}

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
  const trainUnit = l2Normalize(train.x, train.n, dim);
  const testUnit = l2Normalize(test.x, test.n, dim);
  const fit = await kMeans(trainUnit, train.n, dim, 10, {
    restarts: opts.kmeansRestarts ?? 5,
    rng: new Rng(seed + 2),
    backend,
  });
  const assigned = await assignToCentroids(fit.centroids, 10, testUnit, test.n, dim, backend);
  const clusters = assigned.assignments;
  const table = contingencyTable(clusters, test.labels, 10, 10);
  const matched = clusteringAccuracy(clusters, test.labels);
  const matchedOrder = Array.from({ length: 10 }, (_, c) => matched.clusterToClass.indexOf(c));
  const result: RepresentationResult = {
    name,
    dim,
    probe,
    knn: { accuracy: knn.accuracy!, k: 200, temperature: 0.1 },
    kmeans: {
      nmi: normalizedMutualInformation(clusters, test.labels),
      ari: adjustedRandIndex(clusters, test.labels),
      accuracy: matched.accuracy,
      contingency: Array.from(
        { length: 10 },
        (_, r) => Array.from(table.counts.subarray(r * 10, r * 10 + 10)),
      ),
      matchedOrder,
      inertia: fit.inertia,
    },
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

/** Four decimals: enough for a scatter plot, and a smaller `results.json`. */
function round4(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}
