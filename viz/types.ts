/**
 * Plain-data input types for the viz package. Training and evaluation code fill these in; the
 * charts never touch a backend or a tensor, only numbers, arrays and typed arrays.
 *
 * Conventions: accuracies are fractions in [0, 1] (charts show them as percent); 2-D point sets
 * are flat row-major arrays `[x0, y0, x1, y1, …]`; images are row-major HWC RGB bytes.
 *
 * @module
 */

/** One optimizer step of the SimCLR pre-training loop (one line of the training log). */
export interface TrainStepRecord {
  /** Global optimizer step, counted from 0 or 1 over the whole run (monotone increasing). */
  step: number;
  /** Epoch the step belongs to (0- or 1-based, but consistent with {@link TrainEpochRecord.epoch}). */
  epoch: number;
  /** NT-Xent contrastive loss of the batch, in nats. */
  loss: number;
  /** Learning rate used for this step (after warm-up / cosine schedule). */
  lr: number;
  /** Training throughput measured over this step, in images per second (each image counted once, not per view). */
  imagesPerSec: number;
  /** Wall-clock seconds since the start of training when the step finished. */
  time: number;
}

/** End-of-epoch summary with the representation-collapse monitors. */
export interface TrainEpochRecord {
  /** Epoch number (same numbering as {@link TrainStepRecord.epoch}). */
  epoch: number;
  /** Mean NT-Xent loss over the epoch, in nats. */
  loss: number;
  /**
   * Mean over dimensions of the per-dimension standard deviation of L2-normalised features.
   * Collapse drives it towards 0; a healthy, spread-out representation sits near `1/sqrt(d)`.
   */
  featureStd: number;
  /** Alignment: mean squared Euclidean distance between the normalised features of positive pairs (lower = views agree). */
  alignment: number;
  /** Uniformity: `log mean exp(−2‖u−v‖²)` over pairs of normalised features (more negative = more uniform). */
  uniformity: number;
  /** Optional kNN accuracy (fraction in [0, 1]) of a quick monitor evaluated at the end of the epoch. */
  knnAccuracy?: number;
}

/** Everything the training charts need. */
export interface TrainingLog {
  /** Per-step records, in step order. */
  steps: TrainStepRecord[];
  /** Per-epoch records, in epoch order. */
  epochs: TrainEpochRecord[];
  /** Dimension `d` of the monitored features; sets the healthy `1/sqrt(d)` featureStd reference. */
  featureDim: number;
}

/** The three representations compared in the evaluation. */
export type VariantName = "simclr" | "raw-pixels" | "random-encoder";

/** Linear-probe (logistic regression on frozen features) results on the test set. */
export interface ProbeResult {
  /** Overall test accuracy, fraction in [0, 1]. */
  testAccuracy: number;
  /** Test accuracy (recall) for each class, fractions in [0, 1], indexed like {@link Results.classNames}. */
  perClassAccuracy: number[];
  /** Confusion counts: `confusion[trueClass][predictedClass]` = number of test images. */
  confusion: number[][];
}

/** k-nearest-neighbour classifier results on the test set. */
export interface KnnResult {
  /** Test accuracy, fraction in [0, 1]. */
  accuracy: number;
  /** Optional number of neighbours used (shown in captions when given). */
  k?: number;
}

/** k-means clustering of test features, compared with the true classes. */
export interface KMeansResult {
  /** Normalised mutual information between clusters and classes, in [0, 1]. */
  nmi: number;
  /** Adjusted Rand index between clusters and classes (≤ 1, 0 = chance). */
  ari: number;
  /** Clustering accuracy under the best one-to-one (Hungarian) cluster→class matching, in [0, 1]. */
  accuracy: number;
  /** Counts: `contingency[cluster][class]` = number of test images of `class` assigned to `cluster`. */
  contingency: number[][];
  /**
   * Hungarian order of clusters: `matchedOrder[c]` is the cluster matched to class `c`. When there
   * are more clusters than classes the unmatched clusters may follow (or are appended in index order).
   */
  matchedOrder: number[];
}

/** SCAN clustering of test features: the same scores as k-means, plus what SCAN adds. */
export interface ScanResult extends KMeansResult {
  /** Neighbours per train image SCAN trained with. */
  k?: number;
  /** `neighbourPurity[j]`: share of the `j + 1` nearest train neighbours with the same class. */
  neighbourPurity?: number[];
  /** Test scores of the chosen head of each head seed (the top-level scores are the first's). */
  seeds?: { seed: number; accuracy: number; nmi: number; ari: number }[];
  /** Per cluster, indices of the test images it is most confident about. */
  topImages?: number[][];
  /** Scores after SCAN's self-labelling step, when it ran. */
  selfLabel?: { accuracy: number; nmi: number; ari: number };
  /** Scores with the encoder fine-tuned end to end (SCAN's second step), when it ran. */
  finetune?: {
    accuracy: number;
    nmi: number;
    ari: number;
    /** Epochs of fine-tuning (fractional when the time budget stopped one part-way). */
    epochs?: number;
    /** Self-labelling on the fine-tuned encoder's features, when it ran. */
    selfLabel?: { accuracy: number; nmi: number; ari: number };
  };
}

/** One row of the SCAN cluster image grid. */
export interface ClusterImages {
  /** Cluster index. */
  cluster: number;
  /** Class the cluster is Hungarian-matched to (absent or −1: none). */
  matchedClass?: number;
  /** The cluster's most confident test images, row-major HWC RGB bytes each. */
  images: Uint8Array[];
  /** True class of each image. */
  labels: number[];
}

/** A 2-D embedding of test features with the true class of each point. */
export interface Embedding2D {
  /** Flat row-major coordinates `[x0, y0, x1, y1, …]`, length `2 × labels.length`. */
  points: Float32Array | number[];
  /** True class index of each point. */
  labels: ArrayLike<number>;
}

/** PCA projection of test features onto the first two principal components. */
export interface PcaResult extends Embedding2D {
  /** Fraction of total variance explained by each principal component, largest first. */
  explainedRatio: number[];
}

/** t-SNE embedding of (a subset of) the test features. */
export interface TsneResult extends Embedding2D {
  /** Fraction of each point's k nearest neighbours in feature space kept among its k nearest in the embedding, in [0, 1]. */
  neighbourPreservation: number;
}

/** All evaluation results of one representation. */
export interface VariantResult {
  /**
   * Which representation these results describe: one of {@link VariantName} (other names are
   * drawn too, in grey, under their own name).
   */
  name: VariantName | (string & Record<never, never>);
  /** Linear-probe results. */
  probe: ProbeResult;
  /** kNN results. */
  knn: KnnResult;
  /** k-means results (omitted when not computed). */
  kmeans?: KMeansResult;
  /** SCAN clustering results (omitted when not computed). */
  scan?: ScanResult;
  /** PCA projection (omitted when not computed). */
  pca?: PcaResult;
  /** t-SNE embedding (omitted when not computed). */
  tsne?: TsneResult;
}

/** The evaluation output: one entry per representation plus the class names. */
export interface Results {
  /** Class names, indexed by label (ten for CIFAR-10). */
  classNames: string[];
  /** One entry per evaluated representation, usually simclr, raw-pixels and random-encoder. */
  variants: VariantResult[];
}

/** One row of the backend verification (GPU backend vs reference backend on the same inputs). */
export interface VerifyRow {
  /** Optional group (e.g. `kernels` or a model name); the compact verify chart groups by it. */
  group?: string;
  /** What was compared, e.g. `"conv2d forward"` or `"layer1.conv.weight grad"`. */
  name: string;
  /** Shape of the compared tensor. */
  shape: number[];
  /** Largest absolute element-wise difference. */
  maxAbsDiff: number;
  /** Relative difference (as defined by the verifier, e.g. ‖a−b‖ / ‖b‖). */
  relDiff: number;
  /** Largest relative difference accepted. */
  tolerance: number;
  /** Whether the verifier judged the row a pass. */
  ok: boolean;
}

/** One augmentation example: an original image and the two random views made from it. */
export interface AugmentationSample {
  /** Original image, row-major HWC RGB bytes (32 × 32 × 3 for CIFAR-10). */
  original: Uint8Array;
  /** First augmented view, same layout and size as `original`. */
  view1: Uint8Array;
  /** Second augmented view, same layout and size as `original`. */
  view2: Uint8Array;
  /** Optional class index of the original, to label the row. */
  label?: number;
}

/** Everything the report can show; every part is optional and missing parts are left out. */
export interface ReportData {
  /** Page title (default "SimCLR on CIFAR-10"). */
  title?: string;
  /** Training log for the loss / learning-rate and collapse-monitor charts. */
  log?: TrainingLog;
  /** Evaluation results for the headline table and the evaluation charts. */
  results?: Results;
  /** Backend verification rows. */
  verify?: VerifyRow[];
  /** Augmentation examples. */
  gallery?: AugmentationSample[];
  /** SCAN's most confident test images per cluster (SimCLR features). */
  clusterImages?: ClusterImages[];
  /** Class names for the gallery when no `results` are given. */
  classNames?: string[];
  /** Run configuration (hyper-parameters, seed, backend …) shown as a small table. */
  config?: Record<string, string | number | boolean>;
  /** Free text shown under the title, e.g. the run directory or the date. */
  subtitle?: string;
}
