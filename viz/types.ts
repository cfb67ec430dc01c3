/**
 * Plain-data input types for the viz package. Training and evaluation code fill these in; the
 * charts never touch a backend or a tensor, only numbers, arrays and typed arrays.
 *
 * Conventions: accuracies are fractions in [0, 1] (charts show them as percent); 2-D point sets
 * are flat row-major arrays `[x0, y0, x1, y1, …]`; images are row-major HWC RGB bytes.
 *
 * The run-folder records themselves (log, `results.json`, verify rows) are core's
 * (`core/records.ts`); the types here say which part of them each chart draws, so synthetic
 * fixtures need fill in only that.
 *
 * @module
 */
import type {
  ClusterScores,
  EpochRecord,
  KnnRecord,
  PcaRecord,
  ProbeRecord,
  ResultsDocument,
  ScanFinetuneRecord,
  ScanRecord,
  StepRecord,
  TsneRecord,
  VerifyRow,
} from "@simclr/core";

/** One training step, as the loss and learning-rate charts read it from the log. */
export type TrainStep = Pick<
  StepRecord,
  "step" | "epoch" | "loss" | "lr" | "imagesPerSec" | "time"
>;

/** One epoch end, as the collapse-monitor charts read it from the log. */
export type TrainEpoch = Pick<
  EpochRecord,
  "epoch" | "loss" | "featureStd" | "alignment" | "uniformity" | "knnAccuracy"
>;

/** Everything the training charts need. */
export interface TrainingLog {
  /** Per-step records, in step order. */
  steps: TrainStep[];
  /** Per-epoch records, in epoch order. */
  epochs: TrainEpoch[];
  /** Dimension `d` of the monitored features; sets the healthy `1/sqrt(d)` featureStd reference. */
  featureDim: number;
}

/** The three representations compared in the evaluation. */
export type VariantName = "simclr" | "raw-pixels" | "random-encoder";

/** The part of a probe record the accuracy table, bars and confusion heatmap draw. */
export type ProbeView = Pick<ProbeRecord, "testAccuracy" | "perClassAccuracy" | "confusion">;

/** The part of a SCAN record the report draws: the scores, and what SCAN adds when present. */
export type ScanView =
  & ClusterScores
  & Partial<Pick<ScanRecord, "k" | "neighbourPurity" | "seeds" | "topImages">>
  & {
    selfLabel?: Pick<ClusterScores, "accuracy" | "nmi" | "ari">;
    /** The row of the encoder fine-tuned by the SCAN loss (SCAN's second step), when it ran. */
    finetune?: ScanFinetuneView;
  };

/** The part of a `scan.finetune` record (core's `ScanFinetuneRecord`) the report draws. */
export type ScanFinetuneView =
  & Pick<ScanFinetuneRecord, "accuracy" | "nmi" | "ari">
  & Partial<Pick<ScanFinetuneRecord, "epochs">>
  & { selfLabel?: Pick<ClusterScores, "accuracy" | "nmi" | "ari"> };

/** One representation as the report draws it: a `VariantRecord` (core) or a part of one. */
export interface VariantResult {
  /**
   * Which representation these results describe: one of {@link VariantName} (other names are
   * drawn too, in grey, under their own name).
   */
  name: VariantName | (string & Record<never, never>);
  probe: ProbeView;
  knn: Pick<KnnRecord, "accuracy"> & Partial<Pick<KnnRecord, "k">>;
  kmeans?: ClusterScores;
  scan?: ScanView;
  pca?: PcaView;
  tsne?: TsneView;
}

/** The evaluation as the report draws it: the class names and the representations of a `ResultsDocument`. */
export interface Results {
  classNames: ResultsDocument["classNames"];
  variants: VariantResult[];
}

/** A verify row as the verify chart draws it (core's `VerifyRow`; the group may be left out). */
export type VerifyRowView = Omit<VerifyRow, "group"> & Partial<Pick<VerifyRow, "group">>;

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

/** A PCA projection as the scatter draws it: points of any array type. */
export type PcaView = Embedding2D & Pick<PcaRecord, "explainedRatio">;

/** A t-SNE embedding as the scatter draws it: points of any array type. */
export type TsneView = Embedding2D & Pick<TsneRecord, "neighbourPreservation">;

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
  verify?: VerifyRowView[];
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
