/**
 * Scores comparing a clustering with the true classes: contingency table, normalised mutual
 * information (NMI), adjusted Rand index (ARI) and clustering accuracy under the best one-to-one
 * matching of clusters to classes (Hungarian algorithm).
 *
 * @module
 */

import type { ClusterScores } from "@simclr/core";
import { checkLabels, type Labels } from "./features.ts";
import { hungarian } from "./hungarian.ts";

/** Counts of (cluster, class) pairs. */
export interface ContingencyTable {
  /** Number of clusters (rows). */
  readonly rows: number;
  /** Number of classes (columns). */
  readonly cols: number;
  /** Row-major `[rows, cols]` counts: entry (i, j) = points in cluster i with class j. */
  readonly counts: Int32Array;
  /** Number of points. */
  readonly total: number;
}

/**
 * Builds the clusters × classes contingency table. Sizes default to the largest label + 1 of each
 * side; larger sizes can be given (empty rows and columns change no score).
 */
export function contingencyTable(
  clusters: Labels,
  classes: Labels,
  numClusters?: number,
  numClasses?: number,
): ContingencyTable {
  const n = clusters.length;
  if (n === 0) throw new Error("contingencyTable: no points");
  const rowsNeeded = checkLabels(clusters, n, "contingencyTable clusters");
  const colsNeeded = checkLabels(classes, n, "contingencyTable classes");
  const rows = numClusters ?? rowsNeeded;
  const cols = numClasses ?? colsNeeded;
  if (rows < rowsNeeded || cols < colsNeeded) {
    throw new Error(
      `contingencyTable: sizes ${rows}×${cols} are below the labels' ${rowsNeeded}×${colsNeeded}`,
    );
  }
  const counts = new Int32Array(rows * cols);
  for (let i = 0; i < n; i++) counts[clusters[i] * cols + classes[i]]++;
  return { rows, cols, counts, total: n };
}

interface Marginals {
  rowSums: Float64Array;
  colSums: Float64Array;
  nonEmptyRows: number;
  nonEmptyCols: number;
}

function marginals(table: ContingencyTable): Marginals {
  const { rows, cols, counts } = table;
  const rowSums = new Float64Array(rows);
  const colSums = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      rowSums[i] += counts[i * cols + j];
      colSums[j] += counts[i * cols + j];
    }
  }
  return {
    rowSums,
    colSums,
    nonEmptyRows: rowSums.filter((v) => v > 0).length,
    nonEmptyCols: colSums.filter((v) => v > 0).length,
  };
}

function entropy(sums: Float64Array, total: number): number {
  let h = 0;
  for (const s of sums) if (s > 0) h -= (s / total) * Math.log(s / total);
  return h;
}

/**
 * Normalised mutual information `MI(U, V) / ((H(U) + H(V)) / 2)` in nats, the arithmetic-mean
 * normalisation that is scikit-learn's default. Symmetric, invariant to relabelling, 1 for
 * identical partitions and 0 for independent ones. Edge cases follow scikit-learn: both
 * partitions a single group → 1; zero mutual information → 0.
 */
export function normalizedMutualInformation(clusters: Labels, classes: Labels): number {
  const table = contingencyTable(clusters, classes);
  const { rowSums, colSums, nonEmptyRows, nonEmptyCols } = marginals(table);
  if (nonEmptyRows === 1 && nonEmptyCols === 1) return 1;
  const { rows, cols, counts, total } = table;
  let mi = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const nij = counts[i * cols + j];
      // The ratio is formed from integers so an exactly independent cell gives log(1) = 0.
      if (nij > 0) mi += (nij / total) * Math.log((total * nij) / (rowSums[i] * colSums[j]));
    }
  }
  if (mi <= 0) return 0;
  const normaliser = (entropy(rowSums, total) + entropy(colSums, total)) / 2;
  return Math.min(1, mi / normaliser);
}

function pairs(v: number): number {
  return (v * (v - 1)) / 2;
}

/**
 * Adjusted Rand index (Hubert & Arabie): the Rand index corrected for chance,
 * `(Σ C(nij,2) − E) / ((Σ C(ai,2) + Σ C(bj,2))/2 − E)` with `E = Σ C(ai,2)·Σ C(bj,2) / C(n,2)`.
 * 1 for identical partitions, about 0 for random ones, can be negative. When the denominator is
 * zero both partitions are the same trivial one (all together or all apart) and 1 is returned, as
 * scikit-learn does.
 */
export function adjustedRandIndex(clusters: Labels, classes: Labels): number {
  const table = contingencyTable(clusters, classes);
  const { rowSums, colSums } = marginals(table);
  let sumCells = 0;
  for (const c of table.counts) sumCells += pairs(c);
  let sumRows = 0;
  for (const a of rowSums) sumRows += pairs(a);
  let sumCols = 0;
  for (const b of colSums) sumCols += pairs(b);
  const expected = (sumRows * sumCols) / pairs(table.total);
  const maximum = (sumRows + sumCols) / 2;
  if (maximum === expected) return 1;
  return (sumCells - expected) / (maximum - expected);
}

/** Result of {@linkcode clusteringAccuracy}. */
export interface ClusteringAccuracy {
  /** Share of points whose cluster is matched to their class. */
  readonly accuracy: number;
  /** For each cluster, the class it is matched to, or −1 when clusters outnumber classes. */
  readonly clusterToClass: Int32Array;
  /** Number of correctly matched points. */
  readonly correct: number;
}

/**
 * Clustering accuracy: the share of points that are right when each cluster is mapped to a
 * distinct class by the one-to-one matching maximising agreement (Hungarian algorithm on the
 * contingency table). Points in clusters left unmatched (more clusters than classes) count as
 * wrong.
 */
export function clusteringAccuracy(clusters: Labels, classes: Labels): ClusteringAccuracy {
  const table = contingencyTable(clusters, classes);
  const match = hungarian(table.counts, table.rows, table.cols, { maximize: true });
  return {
    accuracy: match.total / table.total,
    clusterToClass: match.rowToColumn,
    correct: match.total,
  };
}

/** The scores `results.json` keeps for a clustering (core/records.ts holds the type). */
export type { ClusterScores } from "@simclr/core";

/**
 * NMI, ARI, Hungarian accuracy and the `[numClusters][numClasses]` contingency table of
 * `clusters` against `classes`.
 */
export function scoreClusters(
  clusters: Labels,
  classes: Labels,
  numClusters: number,
  numClasses: number = checkLabels(classes, classes.length, "scoreClusters classes"),
): ClusterScores {
  const table = contingencyTable(clusters, classes, numClusters, numClasses);
  const matched = clusteringAccuracy(clusters, classes);
  return {
    nmi: normalizedMutualInformation(clusters, classes),
    ari: adjustedRandIndex(clusters, classes),
    accuracy: matched.accuracy,
    contingency: Array.from(
      { length: numClusters },
      (_, r) => Array.from(table.counts.subarray(r * numClasses, (r + 1) * numClasses)),
    ),
    matchedOrder: Array.from({ length: numClasses }, (_, c) => matched.clusterToClass.indexOf(c)),
  };
}
