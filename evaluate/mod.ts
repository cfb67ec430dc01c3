/**
 * Evaluation of frozen features for simclr-ts: kNN classification, k-means clustering with
 * NMI/ARI/clustering accuracy, PCA and t-SNE pictures, and the host-side pieces of the linear probe
 * (standardisation, splits, accuracy, confusion matrix).
 *
 * Every function takes plain arrays: features as row-major `Float32Array` `[n, d]` with `n` and `d`
 * passed explicitly, labels as `Int32Array`/`Uint8Array` (any array-like of non-negative
 * integers). Functions doing heavy linear algebra accept an optional `Backend` from
 * `@simclr/core` and fall back to blocked host kernels without one.
 * Also the raw-pixel baseline's features and the evaluation's on-disk feature cache.
 *
 * @module
 */

export * from "./classification.ts";
export * from "./eigen.ts";
export * from "./features.ts";
export * from "./feature_cache.ts";
export * from "./hungarian.ts";
export * from "./kmeans.ts";
export * from "./knn.ts";
export * from "./linalg.ts";
export * from "./metrics.ts";
export * from "./pca.ts";
export * from "./pixels.ts";
export * from "./tsne.ts";
export * from "./probe.ts";
export * from "./protocol.ts";
export * from "./scan.ts";
export * from "./scan_heads.ts";
export * from "./scan_neighbours.ts";
export * from "./scan_finetune.ts";
