/**
 * Experiment 1: a linear classifier on frozen, standardised features, trained with core's
 * autograd on a backend. Multinomial logistic regression (softmax cross-entropy) or a linear SVM
 * (Weston–Watkins multi-class hinge), both with L2 on the weights; the L2 strength is chosen on a
 * held-out 10% of train, then the model is refitted on all of train and scored on test.
 *
 * @module
 */
import {
  type Backend,
  DEFAULT_OPTIMIZER,
  F,
  Graph,
  learningRate,
  Optimizer,
  type Param,
  type ProbeKind,
  type ProbeRecord,
  Rng,
  type Tensor,
} from "@simclr/core";
import { accuracy, confusionMatrix, perClassAccuracy } from "./classification.ts";
import {
  applyStandardizer,
  checkLabels,
  checkMatrix,
  fitStandardizer,
  gatherLabels,
  gatherRows,
  type Labels,
  trainValidationSplit,
} from "./features.ts";

/** Options of {@linkcode linearProbe}. */
export interface ProbeOptions {
  /** Classifier; default logistic. */
  kind?: ProbeKind;
  /** L2 strengths tried on the validation split (default 1e-6 … 1e-2, ×10). */
  lambdas?: number[];
  /** Passes over the training rows per fit (default 30). */
  epochs?: number;
  /** Rows per step (default 1,024). */
  batchSize?: number;
  /** Adam learning rate, cosine-decayed (default 1e-2). */
  lr?: number;
  /** Share of train held out to choose λ (default 0.1). */
  validationFraction?: number;
  /** Seed of the split, the row order and the (zero) initialisation. */
  seed?: number;
  /** Number of classes (default: largest label + 1). */
  numClasses?: number;
  /** Progress: a stage name, and fits done of fits total. */
  onProgress?: (stage: string, done: number, total: number) => void;
}

/** A labelled feature matrix. */
export interface FeatureSet {
  /** Row-major `[n, dim]`. */
  x: Float32Array;
  /** Length `n`. */
  labels: Labels;
  /** Rows. */
  n: number;
}

/**
 * Fits the probe on `train` and scores `test`; features are standardised with train's mean and
 * std. Runs on `backend` (matrix products, softmax, gradients, Adam).
 */
export async function linearProbe(
  backend: Backend,
  train: FeatureSet,
  test: FeatureSet,
  dim: number,
  opts: ProbeOptions = {},
): Promise<ProbeRecord> {
  checkMatrix(train.x, train.n, dim, "linearProbe train");
  checkMatrix(test.x, test.n, dim, "linearProbe test");
  const k = opts.numClasses ?? Math.max(
    checkLabels(train.labels, train.n, "linearProbe train labels"),
    checkLabels(test.labels, test.n, "linearProbe test labels"),
  );
  const kind = opts.kind ?? "logistic";
  const lambdas = opts.lambdas ?? [1e-6, 1e-5, 1e-4, 1e-3, 1e-2];
  const seed = opts.seed ?? 0;
  const split = trainValidationSplit(
    train.n,
    opts.validationFraction ?? 0.1,
    new Rng(seed),
    train.labels,
  );
  const fitSet = subset(train, dim, split.train);
  const valSet = subset(train, dim, split.validation);
  const total = lambdas.length + 1;
  const validation: ProbeRecord["validation"] = [];
  for (const [i, lambda] of lambdas.entries()) {
    opts.onProgress?.(`λ=${lambda}`, i, total);
    const model = await fitLinear(backend, fitSet, dim, k, kind, lambda, opts);
    const pred = predict(model, standardize(model, valSet.x, valSet.n), valSet.n, dim, k);
    validation.push({ lambda, accuracy: accuracy(pred, valSet.labels) });
  }
  const best = validation.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
  opts.onProgress?.(`refit λ=${best.lambda}`, lambdas.length, total);
  const model = await fitLinear(backend, train, dim, k, kind, best.lambda, opts);
  opts.onProgress?.("done", total, total);
  const trainPred = predict(model, standardize(model, train.x, train.n), train.n, dim, k);
  const testPred = predict(model, standardize(model, test.x, test.n), test.n, dim, k);
  const confusion = confusionMatrix(test.labels, testPred, k);
  return {
    kind,
    lambda: best.lambda,
    validation,
    trainAccuracy: accuracy(trainPred, train.labels),
    testAccuracy: accuracy(testPred, test.labels),
    perClassAccuracy: Array.from(perClassAccuracy(test.labels, testPred, k)),
    confusion: Array.from(
      { length: k },
      (_, r) => Array.from(confusion.counts.subarray(r * k, (r + 1) * k)),
    ),
  };
}

/** A fitted linear classifier with the standardisation it was trained under. */
interface LinearModel {
  weights: Float32Array; // [dim, k]
  bias: Float32Array; // [k]
  mean: Float64Array;
  std: Float64Array;
}

function subset(set: FeatureSet, dim: number, rows: Int32Array): FeatureSet {
  return {
    x: gatherRows(set.x, dim, rows),
    labels: gatherLabels(set.labels, rows),
    n: rows.length,
  };
}

function standardize(model: LinearModel, x: Float32Array, n: number): Float32Array {
  return applyStandardizer({ dim: model.mean.length, mean: model.mean, std: model.std }, x, n);
}

/** The training objective of one batch: data term plus (λ/2)‖W‖². */
function objective(
  kind: ProbeKind,
  logits: Tensor,
  oneHot: Tensor,
  weights: Tensor,
  lambda: number,
): Tensor {
  const g = logits.graph;
  let data: Tensor;
  if (kind === "logistic") {
    const picked = F.sum(F.mul(logits, oneHot), [1], true);
    data = F.mean(F.sub(F.logSumExp(logits, 1), picked));
  } else {
    // Weston–Watkins: Σ_{j≠y} max(0, 1 + s_j − s_y), averaged over rows.
    const sy = F.sum(F.mul(logits, oneHot), [1], true);
    const margins = F.relu(F.add(F.sub(logits, sy), g.scalar(1)));
    const others = F.sub(g.scalar(1), oneHot);
    data = F.scale(F.sum(F.mul(margins, others)), 1 / logits.shape[0]);
  }
  return F.add(data, F.scale(F.sum(F.mul(weights, weights)), lambda / 2));
}

async function fitLinear(
  backend: Backend,
  set: FeatureSet,
  dim: number,
  k: number,
  kind: ProbeKind,
  lambda: number,
  opts: ProbeOptions,
): Promise<LinearModel> {
  const standardizer = fitStandardizer(set.x, set.n, dim);
  const x = applyStandardizer(standardizer, set.x, set.n);
  const g = new Graph(backend);
  const rng = new Rng((opts.seed ?? 0) + 1);
  const epochs = opts.epochs ?? 30;
  const batch = Math.min(opts.batchSize ?? 1024, set.n);
  const stepsPerEpoch = Math.ceil(set.n / batch);
  const total = epochs * stepsPerEpoch;
  const baseLr = opts.lr ?? 1e-2;
  const oneHot = new Float32Array(set.n * k);
  for (let i = 0; i < set.n; i++) oneHot[i * k + set.labels[i]] = 1;
  const params: Param[] = [
    { name: "W", value: g.keep(g.variable(new Float32Array(dim * k), [dim, k])), decay: false },
    { name: "b", value: g.keep(g.variable(new Float32Array(k), [k])), decay: false },
  ];
  const optimizer = new Optimizer(g, params, DEFAULT_OPTIMIZER);
  // Batches are gathered on the host and uploaded (a batch is at most 1024 rows of a few
  // hundred floats), so the backends need no gather kernel.
  let step = 0;
  for (let e = 0; e < epochs; e++) {
    const order = rng.permutation(set.n);
    for (let s = 0; s < stepsPerEpoch; s++) {
      const rows = order.subarray(s * batch, Math.min((s + 1) * batch, set.n));
      const xb = new Float32Array(rows.length * dim), yb = new Float32Array(rows.length * k);
      for (let j = 0; j < rows.length; j++) {
        xb.set(x.subarray(rows[j] * dim, (rows[j] + 1) * dim), j * dim);
        yb.set(oneHot.subarray(rows[j] * k, (rows[j] + 1) * k), j * k);
      }
      await g.tidy(async () => {
        const xt = g.constant(xb, [rows.length, dim]);
        const yt = g.constant(yb, [rows.length, k]);
        const logits = F.add(F.matMul(xt, params[0].value), params[1].value);
        const loss = objective(kind, logits, yt, params[0].value, lambda);
        const grads = g.backward(loss, params.map((p) => p.value));
        await optimizer.update(grads, learningRate(baseLr, step, total, 0));
      });
      step++;
    }
  }
  const weights = await params[0].value.read();
  const bias = await params[1].value.read();
  optimizer.dispose();
  for (const t of [params[0].value, params[1].value]) g.dispose(t);
  return { weights, bias, mean: standardizer.mean, std: standardizer.std };
}

/** Arg-max of `x·W + b` for every row (on the host: one pass, no device round-trips). */
function predict(
  model: LinearModel,
  x: Float32Array,
  n: number,
  dim: number,
  k: number,
): Int32Array {
  const out = new Int32Array(n);
  const scores = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) scores[c] = model.bias[c];
    for (let j = 0; j < dim; j++) {
      const v = x[i * dim + j];
      if (v === 0) continue;
      const row = j * k;
      for (let c = 0; c < k; c++) scores[c] += v * model.weights[row + c];
    }
    let best = 0;
    for (let c = 1; c < k; c++) if (scores[c] > scores[best]) best = c;
    out[i] = best;
  }
  return out;
}
