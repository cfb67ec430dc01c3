/**
 * SCAN's clustering heads on frozen features: training with the SCAN loss, the self-labelling
 * fine-tune, and cluster prediction with confidences.
 *
 * @module
 */
import {
  type Backend,
  DEFAULT_OPTIMIZER,
  F,
  Graph,
  Linear,
  Optimizer,
  Rng,
  scanLoss,
  type Tensor,
} from "@simclr/core";
import {
  applyStandardizer,
  checkMatrix,
  fitStandardizer,
  gatherRows,
  l2Normalize,
} from "./features.ts";
/** Options of {@linkcode trainScanHeads}. */
export interface ScanOptions {
  /** Runs the head's forward, backward and update. */
  readonly backend: Backend;
  /** Clusters per head (default 10). */
  readonly clusters?: number;
  /** Heads trained side by side from different initialisations (default 5). */
  readonly heads?: number;
  /** Passes over the anchors (default 30). */
  readonly epochs?: number;
  /** Anchors per step (default 256). */
  readonly batchSize?: number;
  /** Adam learning rate (default 1e-3). */
  readonly lr?: number;
  /** L2 weight decay of the head's weights (default 1e-4, as SCAN). */
  readonly weightDecay?: number;
  /** Weight of the entropy term (default 5, SCAN's CIFAR-10 setting). */
  readonly entropyWeight?: number;
  /** Seed of the heads' initialisation and of the batches. */
  readonly seed?: number;
  /** `performance.now()` time after which no new epoch starts (default none). */
  readonly deadline?: number;
  /** Width of a hidden ReLU layer in each head; 0 (default) makes the heads linear. */
  readonly hidden?: number;
  /**
   * Features of augmented views of the same `n` images (each `[n, dim]`, row i a view of image
   * i). Anchors and neighbours are then drawn from the original or one of these at random, as
   * SCAN augments both; with a frozen encoder this is the only way augmentation reaches the head.
   */
  readonly views?: readonly Float32Array[];
  /** Called after every step. */
  readonly onProgress?: (p: ScanProgress) => void;
}

/** Progress of {@linkcode trainScanHeads}. */
export interface ScanProgress {
  /** Steps done. */
  readonly step: number;
  /** Steps planned. */
  readonly totalSteps: number;
  /** Epoch of the step, from 1. */
  readonly epoch: number;
  /** Mean total loss of the heads on the step. */
  readonly loss: number;
}

/** The loss of one head over the last epoch. */
export interface HeadLoss {
  /** Mean total SCAN loss. */
  readonly loss: number;
  /** Mean consistency term. */
  readonly consistency: number;
  /** Mean entropy of the batch-mean prediction (nats; ln 10 ≈ 2.303 is the maximum). */
  readonly entropy: number;
}

/** The trained heads' weights copied to the host, one {@linkcode HeadLayer} list per head. */
export async function readHeadLayers(
  heads: readonly (readonly Linear[])[],
): Promise<HeadLayer[][]> {
  const all: HeadLayer[][] = [];
  for (const head of heads) {
    const layers: HeadLayer[] = [];
    for (const layer of head) {
      const [nIn, nOut] = layer.weight.value.shape;
      layers.push({
        weight: await layer.weight.value.read(),
        bias: await layer.bias!.value.read(),
        nIn,
        nOut,
      });
    }
    all.push(layers);
  }
  return all;
}

/** One fully connected layer of a head: `y = x·weight + bias`. */
export interface HeadLayer {
  /** Row-major `[nIn, nOut]`. */
  readonly weight: Float32Array;
  /** `[nOut]`. */
  readonly bias: Float32Array;
  /** Input width. */
  readonly nIn: number;
  /** Output width. */
  readonly nOut: number;
}

/** A trained clustering head: the lowest-loss of the heads, and all heads' losses. */
export interface ScanFit {
  /** Input width. */
  readonly dim: number;
  /** Clusters. */
  readonly clusters: number;
  /** Standardisation fitted on the (L2-normalised) training features and applied before the head. */
  readonly mean: Float64Array;
  /** See `mean`. */
  readonly std: Float64Array;
  /** The chosen head's layers, input first, with a ReLU between consecutive ones. */
  readonly layers: HeadLayer[];
  /** Every head's layers (`allLayers[best]` is `layers`), to start the encoder fine-tuning. */
  readonly allLayers: HeadLayer[][];
  /** Index of the chosen head. */
  readonly best: number;
  /** Every head's loss over the last epoch. */
  readonly heads: HeadLoss[];
  /** Epochs completed (fewer than asked when the deadline came first). */
  readonly epochs: number;
}

/** Features as the head sees them: L2-normalised, then standardised with train statistics. */
function headInput(
  x: Float32Array,
  n: number,
  dim: number,
  s: { dim: number; mean: Float64Array; std: Float64Array },
) {
  return applyStandardizer(s, l2Normalize(x, n, dim), n);
}

/**
 * Trains `heads` linear clustering heads on frozen features `x` (`[n, dim]`) with the SCAN loss:
 * each step takes a batch of anchors and, for each, one of its `k` mined neighbours
 * (`neighbours`, `[n, k]`) drawn at random, and sums the heads' losses (their gradients are
 * independent). Returns the head with the lowest mean loss over the last epoch.
 */
export async function trainScanHeads(
  x: Float32Array,
  n: number,
  dim: number,
  neighbours: Int32Array,
  k: number,
  options: ScanOptions,
): Promise<ScanFit> {
  checkMatrix(x, n, dim, "trainScanHeads features");
  if (neighbours.length !== n * k) {
    throw new Error(
      `trainScanHeads: expected ${n}·${k} neighbour indices, got ${neighbours.length}`,
    );
  }
  const clusters = options.clusters ?? 10;
  const heads = options.heads ?? 5;
  const epochs = options.epochs ?? 30;
  const batchSize = Math.min(options.batchSize ?? 256, n);
  const lr = options.lr ?? 1e-3;
  const entropyWeight = options.entropyWeight ?? 5;
  for (
    const [name, v] of [["clusters", clusters], ["heads", heads], ["epochs", epochs], [
      "batchSize",
      batchSize,
    ]] as const
  ) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`trainScanHeads: ${name} must be a positive integer, got ${v}`);
    }
  }
  const seed = options.seed ?? 0;
  const rng = new Rng(seed);
  const standardizer = fitStandardizer(l2Normalize(x, n, dim), n, dim);
  const input = headInput(x, n, dim, standardizer);

  const hidden = options.hidden ?? 0;
  const views = options.views ?? [];
  for (const [v, view] of views.entries()) checkMatrix(view, n, dim, `trainScanHeads view ${v}`);
  const g = new Graph(options.backend);
  const heads_: Linear[][] = Array.from({ length: heads }, (_, h) =>
    hidden > 0
      ? [
        new Linear(g, rng, `scan.head${h}.0`, dim, hidden),
        new Linear(g, rng, `scan.head${h}.1`, hidden, clusters),
      ]
      : [new Linear(g, rng, `scan.head${h}`, dim, clusters)]);
  const params = heads_.flat().flatMap((l) => l.params());
  const optimizer = new Optimizer(g, params, {
    ...DEFAULT_OPTIMIZER,
    name: "adam",
    weightDecay: options.weightDecay ?? 1e-4,
  });
  const stacked = new Float32Array(n * dim * (1 + views.length));
  stacked.set(input);
  views.forEach((view, v) => stacked.set(headInput(view, n, dim, standardizer), (v + 1) * n * dim));
  // Batches are gathered on the host (the backend has no gather kernel) and uploaded per step.
  const forward = (layers: Linear[], x: Tensor) =>
    layers.reduce((y, layer, l) => layer.forward(l > 0 ? F.relu(y) : y), x);
  const stepsPerEpoch = Math.ceil(n / batchSize);
  const totalSteps = epochs * stepsPerEpoch;
  const sums = new Float64Array(heads * 3);
  let step = 0;
  let epochsDone = 0;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      if (options.deadline !== undefined && epoch > 0 && performance.now() > options.deadline) {
        break;
      }
      sums.fill(0);
      const order = rng.permutation(n);
      for (let s = 0; s < stepsPerEpoch; s++) {
        const rows = order.subarray(s * batchSize, Math.min(n, (s + 1) * batchSize));
        const b = rows.length;
        const pairs = new Int32Array(2 * b);
        for (let i = 0; i < b; i++) {
          // With views, each side is a random one of the 1 + views.length versions of its image.
          pairs[i] = rng.int(1 + views.length) * n + rows[i];
          pairs[b + i] = rng.int(1 + views.length) * n + neighbours[rows[i] * k + rng.int(k)];
        }
        const values = await g.tidy(async () => {
          const x = g.constant(gatherRows(stacked, dim, pairs), [2 * b, dim]);
          const parts: Tensor[] = [];
          let total: Tensor | undefined;
          for (let h = 0; h < heads; h++) {
            const logits = forward(heads_[h], x);
            const anchor = F.slice(logits, [0, 0], [b, clusters]);
            const neighbour = F.slice(logits, [b, 0], [b, clusters]);
            const loss = scanLoss(anchor, neighbour, entropyWeight);
            total = total ? F.add(total, loss.total) : loss.total;
            parts.push(
              F.reshape(loss.total, [1]),
              F.reshape(loss.consistency, [1]),
              F.reshape(loss.entropy, [1]),
            );
          }
          const grads = g.backward(total!, params.map((p) => p.value));
          await optimizer.update(grads, lr);
          return await g.noGrad(() => F.concat(parts, 0)).read();
        });
        for (let i = 0; i < values.length; i++) sums[i] += values[i] * b;
        let mean = 0;
        for (let h = 0; h < heads; h++) mean += values[3 * h] / heads;
        if (!Number.isFinite(mean)) {
          throw new Error(
            `SCAN loss became ${mean} at step ${step + 1}; try a lower learning rate`,
          );
        }
        step++;
        options.onProgress?.({ step, totalSteps, epoch: epoch + 1, loss: mean });
      }
      epochsDone++;
    }
    const headLosses: HeadLoss[] = Array.from({ length: heads }, (_, h) => ({
      loss: sums[3 * h] / n,
      consistency: sums[3 * h + 1] / n,
      entropy: sums[3 * h + 2] / n,
    }));
    let best = 0;
    for (let h = 1; h < heads; h++) if (headLosses[h].loss < headLosses[best].loss) best = h;
    const allLayers = await readHeadLayers(heads_);
    return {
      dim,
      clusters,
      mean: standardizer.mean,
      std: standardizer.std,
      layers: allLayers[best],
      allLayers,
      best,
      heads: headLosses,
      epochs: epochsDone,
    };
  } finally {
    optimizer.dispose();
    for (const p of params) g.dispose(p.value);
  }
}

/** Options of {@linkcode selfLabel}. */
export interface SelfLabelOptions {
  /** Runs the head's forward, backward and update. */
  readonly backend: Backend;
  /** Features of augmented views (each `[n, dim]`); the loss is taken on these. At least one. */
  readonly views: readonly Float32Array[];
  /** Probability above which a prediction becomes a pseudo-label (default 0.99, as SCAN). */
  readonly threshold?: number;
  /** Epochs (default 10). */
  readonly epochs?: number;
  /** Rows per step (default 256). */
  readonly batchSize?: number;
  /** Adam learning rate (default 1e-4). */
  readonly lr?: number;
  /** Seed of the batches. */
  readonly seed?: number;
  /** `performance.now()` time after which no new epoch starts. */
  readonly deadline?: number;
  /** Called after every step. */
  readonly onProgress?: (p: ScanProgress) => void;
}

/** What {@linkcode selfLabel} returns: the fine-tuned head and how many rows were confident. */
export interface SelfLabelFit {
  /** The head after self-labelling. */
  readonly fit: ScanFit;
  /** Share of train rows above the threshold at the start of each epoch. */
  readonly confident: number[];
  /** Epochs completed. */
  readonly epochs: number;
}

/**
 * SCAN's self-labelling step on a frozen encoder: each epoch, the rows whose prediction on the
 * un-augmented features passes `threshold` take that cluster as their label, and the head is
 * trained with class-balanced cross-entropy on the features of an augmented view of them (SCAN's
 * strong augmentation; the SimCLR augmentations here).
 */
export async function selfLabel(
  start: ScanFit,
  x: Float32Array,
  n: number,
  options: SelfLabelOptions,
): Promise<SelfLabelFit> {
  const { dim, clusters } = start;
  checkMatrix(x, n, dim, "selfLabel features");
  if (options.views.length === 0) throw new Error("selfLabel: needs augmented views (--views ≥ 1)");
  for (const [v, view] of options.views.entries()) checkMatrix(view, n, dim, `selfLabel view ${v}`);
  const threshold = options.threshold ?? 0.99;
  const epochs = options.epochs ?? 10;
  const batchSize = Math.min(options.batchSize ?? 256, n);
  const lr = options.lr ?? 1e-4;
  const rng = new Rng(options.seed ?? 0);
  const g = new Graph(options.backend);
  const layers = start.layers.map((l, i) => {
    const layer = new Linear(g, rng, `selflabel.${i}`, l.nIn, l.nOut);
    for (const [p, values] of [[layer.weight, l.weight], [layer.bias!, l.bias]] as const) {
      g.dispose(p.value);
      p.value = g.keep(g.variable(values, [...p.value.shape]));
    }
    return layer;
  });
  const params = layers.flatMap((l) => l.params());
  const optimizer = new Optimizer(g, params, { ...DEFAULT_OPTIMIZER, name: "adam" });
  const stacked = new Float32Array(n * dim * options.views.length);
  options.views.forEach((view, v) => stacked.set(headInput(view, n, dim, start), v * n * dim));
  const current = async (): Promise<ScanFit> => {
    const out: HeadLayer[] = [];
    for (const l of layers) {
      out.push({
        weight: await l.weight.value.read(),
        bias: await l.bias!.value.read(),
        nIn: l.weight.value.shape[0],
        nOut: l.weight.value.shape[1],
      });
    }
    return { ...start, layers: out };
  };
  const confident: number[] = [];
  let step = 0;
  let epochsDone = 0;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      if (options.deadline !== undefined && epoch > 0 && performance.now() > options.deadline) {
        break;
      }
      const prediction = predictClusters(await current(), x, n);
      const rows: number[] = [];
      const counts = new Float64Array(clusters);
      for (let i = 0; i < n; i++) {
        if (prediction.confidence[i] > threshold) {
          rows.push(i);
          counts[prediction.assignments[i]]++;
        }
      }
      confident.push(rows.length / n);
      if (rows.length === 0) break;
      // Class balancing as SCAN: weight 1 / (share of the confident rows in that cluster).
      const weights = Array.from(counts, (c) => (c > 0 ? rows.length / c : 0));
      rng.shuffle(rows);
      const steps = Math.ceil(rows.length / batchSize);
      for (let s = 0; s < steps; s++) {
        const batch = rows.slice(s * batchSize, (s + 1) * batchSize);
        const b = batch.length;
        const picks = Int32Array.from(batch, (i) => rng.int(options.views.length) * n + i);
        const target = new Float32Array(b * clusters);
        let weightSum = 0;
        batch.forEach((i, r) => {
          const c = prediction.assignments[i];
          target[r * clusters + c] = weights[c];
          weightSum += weights[c];
        });
        const loss = await g.tidy(async () => {
          let y = g.constant(gatherRows(stacked, dim, picks), [b, dim]);
          layers.forEach((layer, l) => (y = layer.forward(l > 0 ? F.relu(y) : y)));
          const logProb = F.sub(y, F.logSumExp(y, 1));
          // Weighted mean cross-entropy: −Σ w_i log p_i[c_i] / Σ w_i.
          const ce = F.scale(
            F.neg(F.sum(F.mul(logProb, g.constant(target, [b, clusters])))),
            1 / weightSum,
          );
          const grads = g.backward(ce, params.map((p) => p.value));
          await optimizer.update(grads, lr);
          return await ce.item();
        });
        if (!Number.isFinite(loss)) {
          throw new Error(`self-labelling loss became ${loss}; try a lower learning rate`);
        }
        step++;
        options.onProgress?.({ step, totalSteps: epochs * steps, epoch: epoch + 1, loss });
      }
      epochsDone++;
    }
    return { fit: await current(), confident, epochs: epochsDone };
  } finally {
    optimizer.dispose();
    for (const p of params) g.dispose(p.value);
  }
}

/** Cluster assignments of a set of rows under a trained head. */
export interface ClusterPrediction {
  /** Most probable cluster per row. */
  readonly assignments: Int32Array;
  /** Its probability per row. */
  readonly confidence: Float32Array;
}

/** Applies the chosen head of `fit` to `x` (`[n, dim]`, raw features like the training ones). */
export function predictClusters(fit: ScanFit, x: Float32Array, n: number): ClusterPrediction {
  const { dim, clusters } = fit;
  const input = headInput(x, n, dim, fit);
  const assignments = new Int32Array(n);
  const confidence = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let a: Float64Array = Float64Array.from(input.subarray(i * dim, (i + 1) * dim));
    for (const [l, layer] of fit.layers.entries()) {
      const out = Float64Array.from(layer.bias);
      for (let d = 0; d < layer.nIn; d++) {
        const v = l > 0 ? Math.max(0, a[d]) : a[d];
        if (v === 0) continue;
        for (let c = 0; c < layer.nOut; c++) out[c] += v * layer.weight[d * layer.nOut + c];
      }
      a = out;
    }
    const logits = a;
    let best = 0;
    for (let c = 1; c < clusters; c++) if (logits[c] > logits[best]) best = c;
    let z = 0;
    for (let c = 0; c < clusters; c++) z += Math.exp(logits[c] - logits[best]);
    assignments[i] = best;
    confidence[i] = 1 / z;
  }
  return { assignments, confidence };
}

/** Per cluster, the `perCluster` rows assigned to it with the highest confidence, most first. */
export function mostConfident(
  prediction: ClusterPrediction,
  clusters: number,
  perCluster: number,
): number[][] {
  const byCluster: number[][] = Array.from({ length: clusters }, () => []);
  prediction.assignments.forEach((c, i) => byCluster[c].push(i));
  return byCluster.map((rows) =>
    rows.sort((a, b) => prediction.confidence[b] - prediction.confidence[a] || a - b).slice(
      0,
      perCluster,
    )
  );
}
