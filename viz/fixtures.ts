/**
 * Synthetic, deterministic report data shaped like a real run (CIFAR-10 class names, 5,000-point
 * embeddings, a few epochs of logs). Used by the tests and by `demo.ts`; the numbers mean nothing.
 *
 * @module
 */
import type {
  AugmentationSample,
  ReportData,
  Results,
  TrainEpoch,
  TrainingLog,
  TrainStep,
  VariantName,
  VariantResult,
  VerifyRowView,
} from "./types.ts";
import { CIFAR_CLASS_NAMES } from "@simclr/data";

/** CIFAR-10 class names in label order (the data package holds the one list). */
export const CIFAR10_CLASSES: string[] = [...CIFAR_CLASS_NAMES];

/** Mulberry32: tiny seeded uniform generator so fixtures do not depend on other packages. */
export function seededUniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(uniform: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** A training log: `epochs × stepsPerEpoch` steps with warm-up + cosine LR and decaying loss. */
export function syntheticLog(epochs = 8, stepsPerEpoch = 50, seed = 1): TrainingLog {
  const u = seededUniform(seed);
  const total = epochs * stepsPerEpoch;
  const warmup = Math.max(1, Math.round(total * 0.1));
  const steps: TrainStep[] = [];
  let time = 0;
  for (let s = 0; s < total; s++) {
    const lr = s < warmup
      ? 0.6 * (s + 1) / warmup
      : 0.6 * 0.5 * (1 + Math.cos(Math.PI * (s - warmup) / (total - warmup)));
    const imagesPerSec = 850 + 60 * normal(u) - (s === 0 ? 600 : 0);
    time += 256 / imagesPerSec;
    steps.push({
      step: s,
      epoch: Math.floor(s / stepsPerEpoch),
      loss: 5.5 - 1.6 * (1 - Math.exp(-s / (total / 4))) + 0.08 * normal(u),
      lr,
      imagesPerSec,
      time,
    });
  }
  const epochRecords: TrainEpoch[] = [];
  for (let e = 0; e < epochs; e++) {
    const progress = (e + 1) / epochs;
    epochRecords.push({
      epoch: e,
      loss: 5.5 - 1.6 * (1 - Math.exp(-4 * progress)),
      featureStd: 0.02 + 0.058 * progress,
      alignment: 0.4 + 0.5 * Math.exp(-3 * progress),
      uniformity: -1.2 - 2 * progress,
      knnAccuracy: e % 2 === 1 || e === epochs - 1 ? 0.3 + 0.45 * progress : undefined,
    });
  }
  return { steps, epochs: epochRecords, featureDim: 128 };
}

/** Class-clustered 2-D points: `n` points, labels cycling through the ten classes. */
export function syntheticEmbedding(
  n: number,
  spread: number,
  seed: number,
): { points: Float32Array; labels: Uint8Array } {
  const u = seededUniform(seed);
  const points = new Float32Array(2 * n);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 10;
    labels[i] = c;
    const angle = (2 * Math.PI * c) / 10;
    points[2 * i] = 10 * Math.cos(angle) + spread * normal(u);
    points[2 * i + 1] = 6 * Math.sin(angle) + spread * normal(u);
  }
  return { points, labels };
}

/** Confusion counts for 1,000 test images per class with the given per-class accuracy. */
function syntheticConfusion(perClass: number[], u: () => number): number[][] {
  return perClass.map((acc, t) => {
    const row = new Array(10).fill(0);
    row[t] = Math.round(acc * 1000);
    let rest = 1000 - row[t];
    while (rest > 0) {
      const p = Math.floor(u() * 10);
      if (p === t) continue;
      const take = Math.min(rest, 1 + Math.floor(u() * 40));
      row[p] += take;
      rest -= take;
    }
    return row;
  });
}

function syntheticVariant(
  name: VariantName,
  base: number,
  spread: number,
  points: number,
  seed: number,
): VariantResult {
  const u = seededUniform(seed);
  const perClass = CIFAR10_CLASSES.map(() =>
    Math.min(0.98, Math.max(0.05, base + 0.15 * normal(u)))
  );
  const confusion = syntheticConfusion(perClass, u);
  const perClassAccuracy = confusion.map((row, t) => row[t] / 1000);
  const testAccuracy = perClassAccuracy.reduce((a, b) => a + b, 0) / 10;
  // Contingency: cluster j mostly holds class order[j], so matchedOrder undoes the shuffle.
  const clusterOfClass = [3, 7, 0, 9, 1, 4, 8, 2, 6, 5];
  const contingency = Array.from({ length: 10 }, () => new Array(10).fill(0));
  const mixed = syntheticConfusion(perClass.map((a) => a * 0.8), u);
  mixed.forEach((row, cls) =>
    row.forEach((count, other) => {
      contingency[clusterOfClass[other]][cls] += count;
    })
  );
  const embedding = syntheticEmbedding(points, spread, seed + 1);
  return {
    name,
    probe: { testAccuracy, perClassAccuracy, confusion },
    knn: { accuracy: testAccuracy * 0.95, k: 20 },
    kmeans: {
      nmi: base * 0.6,
      ari: base * 0.45,
      accuracy: base * 0.8,
      contingency,
      matchedOrder: clusterOfClass,
    },
    pca: {
      explainedRatio: [0.21, 0.12, 0.07],
      ...syntheticEmbedding(points, spread * 1.5, seed + 2),
    },
    tsne: { ...embedding, neighbourPreservation: 0.2 + base * 0.3 },
  };
}

/** Evaluation results for simclr, raw-pixels and random-encoder with `points` embedded points. */
export function syntheticResults(points = 5000, seed = 7): Results {
  return {
    classNames: CIFAR10_CLASSES,
    variants: [
      syntheticVariant("simclr", 0.8, 1.2, points, seed),
      syntheticVariant("raw-pixels", 0.38, 4, points, seed + 10),
      syntheticVariant("random-encoder", 0.3, 5, points, seed + 20),
    ],
  };
}

/** Verification rows spanning many decades, one exact zero and one failure. */
export function syntheticVerify(): VerifyRowView[] {
  const rows: [string, number[], number, number][] = [
    ["matmul forward", [256, 512], 3e-7, 1e-5],
    ["conv2d forward", [64, 16, 16, 64], 2e-6, 1e-5],
    ["conv2d grad input", [64, 16, 16, 64], 5e-6, 1e-4],
    ["conv2d grad filter", [3, 3, 64, 128], 8e-5, 1e-4],
    ["batchnorm forward", [64, 8, 8, 128], 1e-7, 1e-5],
    ["relu forward", [64, 8, 8, 128], 0, 1e-6],
    ["nt-xent loss", [], 4e-8, 1e-5],
    ["nt-xent grad", [512, 128], 3e-4, 1e-4],
    ["sgd update (LARS)", [3, 3, 64, 128], 6e-7, 1e-5],
  ];
  return rows.map(([name, shape, relDiff, tolerance]) => ({
    name,
    shape,
    maxAbsDiff: relDiff * 3.1,
    relDiff,
    tolerance,
    ok: relDiff <= tolerance,
  }));
}

/**
 * `count` verification rows in three groups, like the full verify harness writes: relDiff spread
 * over decades by a seeded generator, every 7th row an exact zero, and two failures (one NaN).
 */
export function syntheticVerifyMany(count = 240, seed = 3): VerifyRowView[] {
  const u = seededUniform(seed);
  const groups = ["kernels", "small", "resnet18"];
  const rows = Array.from({ length: count }, (_, i): VerifyRowView => {
    const tolerance = i < count / 3 ? 1e-5 : 1e-3;
    const relDiff = i % 7 === 0 ? 0 : tolerance * Math.pow(10, -0.3 - 4 * u());
    return {
      group: groups[Math.floor((3 * i) / count)],
      name: `tensor ${i}`,
      shape: [i % 5 + 1, 3],
      maxAbsDiff: relDiff * 2,
      relDiff,
      tolerance,
      ok: true,
    };
  });
  rows[10] = { ...rows[10], relDiff: NaN, ok: false };
  rows[count - 5] = { ...rows[count - 5], relDiff: 0.03, ok: false };
  return rows;
}

/** A 32 × 32 RGB test image: smooth colour gradients plus a class-dependent square. */
export function syntheticImage(seed: number, side = 32): Uint8Array {
  const img = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const o = (y * side + x) * 3;
      const inSquare = Math.abs(x - side / 2) < side / 5 && Math.abs(y - side / 2) < side / 5;
      img[o] = inSquare ? 240 : (x * 8 + seed * 40) & 255;
      img[o + 1] = inSquare ? 220 - seed * 30 : (y * 8) & 255;
      img[o + 2] = inSquare ? 40 : 128 + seed * 20;
    }
  }
  return img;
}

/** A simple augmentation for fixtures: horizontal flip, a shifted crop and a brightness change. */
function fakeView(img: Uint8Array, side: number, flip: boolean, shift: number, gain: number) {
  const out = new Uint8Array(img.length);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const sx = Math.min(side - 1, Math.max(0, (flip ? side - 1 - x : x) + shift));
      const sy = Math.min(side - 1, Math.max(0, y + shift));
      for (let c = 0; c < 3; c++) {
        out[(y * side + x) * 3 + c] = Math.min(255, img[(sy * side + sx) * 3 + c] * gain);
      }
    }
  }
  return out;
}

/** `count` gallery samples with labels 0, 1, …. */
export function syntheticGallery(count = 4): AugmentationSample[] {
  return Array.from({ length: count }, (_, i) => {
    const original = syntheticImage(i);
    return {
      original,
      view1: fakeView(original, 32, true, 3, 1.2),
      view2: fakeView(original, 32, false, -4, 0.7),
      label: i % 10,
    };
  });
}

/** Complete report data with every part present. */
export function syntheticReportData(points = 5000): ReportData {
  return {
    title: "SimCLR on CIFAR-10 (synthetic demo data)",
    subtitle: "Deterministic fixture data; the numbers are not results.",
    log: syntheticLog(),
    results: syntheticResults(points),
    verify: syntheticVerify(),
    gallery: syntheticGallery(),
    config: { backend: "synthetic", batchSize: 256, epochs: 8, temperature: 0.5, seed: 7 },
  };
}

/**
 * `results` with SCAN added to every variant (its contingency a sharpened k-means one, a
 * falling purity curve, three head seeds), and a cluster image grid of `perCluster` images.
 */
export function withSyntheticScan(data: ReportData, perCluster = 10): ReportData {
  const results = data.results!;
  const variants = results.variants.map((v, i) => {
    const kmeans = v.kmeans!;
    const contingency = kmeans.contingency.map((row, c) =>
      row.map((n, cls) => (kmeans.matchedOrder[cls] === c ? n * 2 : Math.round(n / 2)))
    );
    const purity = Array.from({ length: 50 }, (_, j) => (0.6 - 0.15 * i) * (1 - j / 200));
    return {
      ...v,
      scan: {
        ...kmeans,
        contingency,
        nmi: kmeans.nmi + 0.1,
        ari: kmeans.ari + 0.08,
        accuracy: kmeans.accuracy + 0.12,
        k: 20,
        neighbourPurity: purity,
        seeds: [0, 1, 2].map((seed) => ({
          seed,
          accuracy: kmeans.accuracy + 0.12 + 0.01 * (seed - 1),
          nmi: kmeans.nmi + 0.1 + 0.005 * (seed - 1),
          ari: kmeans.ari + 0.08,
        })),
        // Self-labelling and encoder fine-tuning ran on the SimCLR features only.
        ...(i === 0
          ? {
            selfLabel: {
              accuracy: kmeans.accuracy + 0.171,
              nmi: kmeans.nmi + 0.142,
              ari: kmeans.ari + 0.133,
            },
            finetune: {
              accuracy: kmeans.accuracy + 0.193,
              nmi: kmeans.nmi + 0.157,
              ari: kmeans.ari + 0.144,
              epochs: 4.5,
              selfLabel: {
                accuracy: kmeans.accuracy + 0.214,
                nmi: kmeans.nmi + 0.168,
                ari: kmeans.ari + 0.151,
              },
            },
          }
          : {}),
      },
    };
  });
  const order = variants[0].scan.matchedOrder;
  const clusterImages = Array.from({ length: 10 }, (_, cluster) => ({
    cluster,
    matchedClass: order.indexOf(cluster),
    images: Array.from({ length: perCluster }, (_, j) => syntheticImage(100 * cluster + j)),
    // The first 7 are the matched class, the rest other classes.
    labels: Array.from(
      { length: perCluster },
      (_, j) => (order.indexOf(cluster) + (j < 7 ? 0 : j - 5)) % 10,
    ),
  }));
  return { ...data, results: { ...results, variants }, clusterImages };
}
