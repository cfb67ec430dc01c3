/**
 * `deno task evaluate --run runs/NAME` (or `--checkpoint FILE`): the exercise's three experiments
 * on the frozen encoder of a checkpoint, beside the raw-pixel and random-encoder baselines run
 * through the same protocol. Writes `results.json` in the run folder and prints a table.
 *
 * `results.json` schema (version 1):
 * ```
 * { version: 1, createdAt, checkpoint, checkpointHash (SHA-256 of weights and buffers), runId,
 *   step, epoch, model, featureDim, engine, seconds,
 *   classNames: string[10],
 *   variants: [{ name: "simclr" | "raw-pixels" | "random-encoder", dim,
 *     probe: { kind, lambda, validation: [{lambda, accuracy}], trainAccuracy, testAccuracy,
 *              perClassAccuracy: number[10], confusion: number[10][10] (true × predicted) },
 *     knn: { accuracy, k, temperature },
 *     kmeans: { nmi, ari, accuracy, contingency: number[10][10] (cluster × class),
 *               matchedOrder: number[10] (cluster matched to each class), inertia },
 *     pca?: { explainedRatio: number[2], points: number[2n] (x0,y0,x1,y1,…), labels: number[n] },
 *     tsne?: { points: number[2m], labels: number[m], neighbourPreservation, kl },
 *     scan?: ScanResult (evaluate/scan.ts: nmi, ari, accuracy, contingency, matchedOrder,
 *            neighbourPurity, seeds, topImages, …, finetune?: ScanFinetuneResult
 *            (evaluate/scan_finetune.ts)) }] }
 * ```
 * `deno task cluster` (this program with `--cluster-only`) adds `scan` to the variants of an
 * existing `results.json` (a representation not in it yet is evaluated first, without t-SNE).
 * Accuracies are fractions in [0, 1].
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import {
  createModel,
  encodeImages,
  Graph,
  type ModelName,
  ProgressBar,
  writeJsonAtomic,
} from "@simclr/core";
import { CIFAR10_MEAN, CIFAR10_STD, ensureCifar10, loadCifar10 } from "@simclr/data";
import {
  cachedFeatures,
  dataIdentity,
  evaluateRepresentation,
  finetuneAndScore,
  type LabelledFeatures,
  pixelFeatures,
  type RepresentationResult,
  type ScanFit,
  scanRepresentation,
} from "@simclr/evaluate";
import {
  BACKENDS_WITHOUT_ENGINES,
  loadCheckpoint,
  loadWeights,
  RUN_FILES,
  type TrainConfig,
  weightsHash,
} from "@simclr/train";
import {
  BACKEND_NAMES,
  type BackendName,
  chooseBackend,
  ENGINE_NAMES,
  type EngineName,
} from "./backends.ts";
import { augmentedTrainImages, poolAugment, printScan, readResults } from "./cluster_helpers.ts";

const USAGE = `usage: deno task evaluate (--run DIR | --checkpoint FILE) [flags]
  --run DIR            run folder (its checkpoint.ckpt; results.json is written there)
  --checkpoint FILE    a checkpoint file (results.json is written beside it)
  --backend B          ${BACKEND_NAMES.join("|")} (default auto: the fastest that works here)
  --engine E           ${ENGINE_NAMES.join("|")} for --backend gpu (default auto)
  --data DIR           CIFAR-10 folder (default: the one the run trained on)
  --probe KIND         logistic|svm (default logistic)
  --baselines LIST     comma list of raw-pixels,random-encoder, or none (default both)
  --tsne-points N      class-balanced test points for t-SNE, 0 to skip (default 5000)
  --limit N            use only the first N train and N/5 test images (quick checks; default all)
  --cluster            also run SCAN clustering on every representation (see deno task cluster)
  --cluster-only       only SCAN, added to results.json (what is not in it yet is evaluated first,
                       without t-SNE): deno task cluster
  --cluster-k N        SCAN: neighbours mined per train image (default 20)
  --heads N            SCAN: heads trained side by side, lowest loss kept (default 5)
  --head-epochs N      SCAN: epochs over the train set (default 30)
  --views N            SCAN: augmented views of every train image encoded for the heads (default 2)
  --hidden N           SCAN: hidden ReLU layer width of the heads, 0 for linear heads (default 0)
  --seeds LIST         SCAN: comma list of head seeds; the first is reported (default 0)
  --entropy-weight W   SCAN: weight of the entropy term (default 5)
  --self-label         SCAN: then self-label (threshold 0.99, augmented views; needs --views ≥ 1)
  --finetune           SCAN: then fine-tune the encoder and the heads end to end on augmented views of
                       each image and a mined neighbour (SimCLR features only), starting from the
                       frozen heads; scored beside them (results.json scan.finetune)
  --finetune-epochs N  SCAN fine-tuning: epochs over the train set (default 10; --max-minutes may stop
                       it earlier)
  --finetune-lr LR     SCAN fine-tuning: Adam learning rate of encoder and heads (default 1e-4, as SCAN)
  --finetune-batch N   SCAN fine-tuning: anchors per step, each with one neighbour (default 128)
  --max-minutes M      SCAN: stop training heads when the command has run M minutes (default none);
                       with --finetune, 20% of the time goes to the frozen heads, the rest to
                       fine-tuning, keeping back what re-encoding the images takes
  --help               this text`;

interface EvalFlags {
  run?: string;
  checkpoint?: string;
  backend: BackendName;
  engine: EngineName;
  data?: string;
  probe: "logistic" | "svm";
  baselines: string[];
  tsnePoints: number;
  limit: number;
  cluster: boolean;
  clusterOnly: boolean;
  clusterK: number;
  heads: number;
  headEpochs: number;
  seeds: number[];
  views: number;
  selfLabel: boolean;
  hidden: number;
  entropyWeight: number;
  maxMinutes: number;
  finetune: boolean;
  finetuneEpochs: number;
  finetuneLr: number;
  finetuneBatch: number;
}

function parseFlags(args: string[]): EvalFlags | "help" {
  const { values } = parseArgs({
    args,
    options: {
      run: { type: "string" },
      checkpoint: { type: "string" },
      backend: { type: "string", default: "auto" },
      engine: { type: "string" },
      data: { type: "string" },
      probe: { type: "string", default: "logistic" },
      baselines: { type: "string", default: "raw-pixels,random-encoder" },
      "tsne-points": { type: "string", default: "5000" },
      limit: { type: "string", default: "0" },
      cluster: { type: "boolean", default: false },
      "cluster-only": { type: "boolean", default: false },
      "cluster-k": { type: "string", default: "20" },
      heads: { type: "string", default: "5" },
      "head-epochs": { type: "string", default: "30" },
      seeds: { type: "string", default: "0" },
      views: { type: "string", default: "2" },
      "self-label": { type: "boolean", default: false },
      hidden: { type: "string", default: "0" },
      "entropy-weight": { type: "string", default: "5" },
      "max-minutes": { type: "string", default: "0" },
      finetune: { type: "boolean", default: false },
      "finetune-epochs": { type: "string", default: "10" },
      "finetune-lr": { type: "string", default: "1e-4" },
      "finetune-batch": { type: "string", default: "128" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) return "help";
  const oneOf = (flag: string, v: string, allowed: readonly string[]) => {
    if (!allowed.includes(v)) {
      throw new Error(`--${flag} must be one of ${allowed.join(", ")}; got "${v}"`);
    }
    return v;
  };
  const count = (flag: string, v: string) => {
    const n = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || !Number.isInteger(n)) {
      throw new Error(`--${flag} must be an integer ≥ 0; got "${v}"`);
    }
    return n;
  };
  const positive = (flag: string, v: string) => {
    const n = count(flag, v);
    if (n < 1) throw new Error(`--${flag} must be an integer ≥ 1; got "${v}"`);
    return n;
  };
  const nonNegative = (flag: string, v: string) => {
    const x = Number(v);
    if (v.trim() === "" || !Number.isFinite(x) || x < 0) {
      throw new Error(`--${flag} must be a number ≥ 0; got "${v}"`);
    }
    return x;
  };
  const positiveNumber = (flag: string, v: string) => {
    const x = nonNegative(flag, v);
    if (x === 0) throw new Error(`--${flag} must be a number > 0; got "${v}"`);
    return x;
  };
  if (values["self-label"] && values.views === "0") {
    throw new Error("--self-label trains on augmented views; give --views 1 or more");
  }
  if (values.finetune && !values.cluster && !values["cluster-only"]) {
    throw new Error("--finetune is SCAN's second step; give --cluster, or use deno task cluster");
  }
  if (!values.run === !values.checkpoint) {
    throw new Error("give exactly one of --run DIR or --checkpoint FILE");
  }
  if (values.engine !== undefined && BACKENDS_WITHOUT_ENGINES.includes(values.backend!)) {
    throw new Error(`--engine is for --backend gpu; --backend ${values.backend} has no engines`);
  }
  const baselines = values.baselines === "none" ? [] : values.baselines!.split(",");
  for (const b of baselines) oneOf("baselines", b, ["raw-pixels", "random-encoder"]);
  return {
    run: values.run,
    checkpoint: values.checkpoint,
    backend: oneOf("backend", values.backend!, BACKEND_NAMES) as BackendName,
    engine: oneOf("engine", values.engine ?? "auto", ENGINE_NAMES) as EngineName,
    data: values.data,
    probe: oneOf("probe", values.probe!, ["logistic", "svm"]) as "logistic" | "svm",
    baselines,
    tsnePoints: count("tsne-points", values["tsne-points"]!),
    limit: count("limit", values.limit!),
    cluster: values.cluster! || values["cluster-only"]!,
    clusterOnly: values["cluster-only"]!,
    clusterK: positive("cluster-k", values["cluster-k"]!),
    heads: positive("heads", values.heads!),
    headEpochs: positive("head-epochs", values["head-epochs"]!),
    views: count("views", values.views!),
    selfLabel: values["self-label"]!,
    hidden: count("hidden", values.hidden!),
    seeds: values.seeds!.split(",").map((v) => count("seeds", v)),
    entropyWeight: nonNegative("entropy-weight", values["entropy-weight"]!),
    maxMinutes: nonNegative("max-minutes", values["max-minutes"]!),
    finetune: values.finetune!,
    finetuneEpochs: positive("finetune-epochs", values["finetune-epochs"]!),
    finetuneLr: positiveNumber("finetune-lr", values["finetune-lr"]!),
    finetuneBatch: positive("finetune-batch", values["finetune-batch"]!),
  };
}

async function main(): Promise<number> {
  let flags;
  try {
    flags = parseFlags(Deno.args);
  } catch (e) {
    console.error(`evaluate: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (flags === "help") {
    console.log(USAGE);
    return 0;
  }
  const t0 = performance.now();
  const ckptPath = flags.checkpoint ?? join(flags.run!, RUN_FILES.checkpoint);
  const outDir = flags.run ?? join(ckptPath, "..");
  const ckpt = await loadCheckpoint<TrainConfig & { model: ModelName }>(ckptPath);
  const config = ckpt.meta.config;
  const checkpointHash = await weightsHash(ckpt);
  const chosen = await chooseBackend(flags.backend, flags.engine);
  if (chosen.selection) console.error(chosen.selection);
  console.error(`engine: ${chosen.description}`);
  if (chosen.hint) console.error(chosen.hint);
  console.error(
    `checkpoint: ${ckptPath} (step ${ckpt.meta.step}, epoch ${
      ckpt.meta.epoch.toFixed(2)
    }, model ${config.model})`,
  );

  const strictCounts = flags.limit === 0;
  const dataDir = await ensureCifar10({
    data: flags.data ?? config.data,
    validate: { strictCounts },
  });
  const data = await loadCifar10(dataDir, { strictCounts });
  const nTrain = flags.limit ? Math.min(flags.limit, data.train.count) : data.train.count;
  const nTest = flags.limit
    ? Math.min(Math.max(Math.floor(flags.limit / 5), 10), data.test.count)
    : data.test.count;

  const g = new Graph(chosen.backend);
  const encodeWith = async (seed: number, trained: boolean) => {
    const model = createModel(g, config.model, { seed, width: config.width || undefined });
    if (trained) loadWeights(g, model, ckpt, ckptPath);
    const bar = new ProgressBar({
      total: nTrain + nTest,
      label: trained ? "encode" : "encode (random)",
    });
    const opts = { mean: CIFAR10_MEAN, std: CIFAR10_STD };
    const train = await encodeImages(model, data.train.images.subarray(0, nTrain * 3072), {
      ...opts,
      onProgress: (d) => bar.update(d),
    });
    const test = await encodeImages(model, data.test.images.subarray(0, nTest * 3072), {
      ...opts,
      onProgress: (d) => bar.update(nTrain + d),
    });
    bar.finish();
    for (const p of model.params()) g.dispose(p.value);
    for (const b of model.buffers()) g.dispose(b.value);
    return { train, test, dim: model.featureDim };
  };
  // SCAN's augmented views of the train images (uint8, like the originals), made once.
  let augmented: Uint8Array[] | undefined;
  const trainViews = () => {
    if (flags.views === 0) return [];
    if (augmented) return augmented;
    augmented = augmentedTrainImages(data.train.images, nTrain, flags.views, config.seed + 7, {
      cropScale: [config.cropScale ?? 0.08, 1],
    });
    return augmented;
  };
  const encodeViews = async (seed: number, trained: boolean) => {
    const images = trainViews();
    if (images.length === 0) return [];
    const model = createModel(g, config.model, { seed, width: config.width || undefined });
    if (trained) loadWeights(g, model, ckpt, ckptPath);
    const bar = new ProgressBar({ total: nTrain * images.length, label: "encode views" });
    const out = [];
    for (const [v, view] of images.entries()) {
      out.push(
        await encodeImages(model, view, {
          mean: CIFAR10_MEAN,
          std: CIFAR10_STD,
          onProgress: (d) => bar.update(v * nTrain + d),
        }),
      );
    }
    bar.finish();
    for (const p of model.params()) g.dispose(p.value);
    for (const b of model.buffers()) g.dispose(b.value);
    return out;
  };

  const variants: {
    name: string;
    get: () => Promise<{ train: Float32Array; test: Float32Array; dim: number }>;
    /** Features of the augmented train views, for SCAN. */
    views: () => Promise<Float32Array[]>;
  }[] = [
    {
      name: "simclr",
      views: () => encodeViews(config.seed, true),
      get: async () => {
        let dim = 0;
        const probe = createModel(g, config.model, { seed: 0, width: config.width || undefined });
        dim = probe.featureDim;
        for (const p of probe.params()) g.dispose(p.value);
        for (const b of probe.buffers()) g.dispose(b.value);
        const dataHash = await dataIdentity([
          data.train.images.subarray(0, nTrain * 3072),
          data.train.labels.subarray(0, nTrain),
          data.test.images.subarray(0, nTest * 3072),
          data.test.labels.subarray(0, nTest),
        ]);
        const f = await cachedFeatures(
          join(outDir, "features.bin"),
          {
            weights: checkpointHash,
            data: dataHash,
            limit: flags.limit,
            nTrain,
            nTest,
            dim,
            step: ckpt.meta.step,
          },
          () => encodeWith(config.seed, true),
        );
        return { ...f, dim };
      },
    },
  ];
  if (flags.baselines.includes("raw-pixels")) {
    variants.push({
      name: "raw-pixels",
      views: () =>
        Promise.resolve(
          trainViews().map((view) => pixelFeatures(view, nTrain, CIFAR10_MEAN, CIFAR10_STD)),
        ),
      get: () =>
        Promise.resolve({
          train: pixelFeatures(data.train.images, nTrain, CIFAR10_MEAN, CIFAR10_STD),
          test: pixelFeatures(data.test.images, nTest, CIFAR10_MEAN, CIFAR10_STD),
          dim: 3072,
        }),
    });
  }
  if (flags.baselines.includes("random-encoder")) {
    variants.push({
      name: "random-encoder",
      get: () => encodeWith(config.seed + 1, false),
      views: () => encodeViews(config.seed + 1, false),
    });
  }

  const outPath = join(outDir, "results.json");
  // deno task cluster keeps what evaluate measured and adds SCAN beside it.
  const previous = flags.clusterOnly ? await readResults(outPath) : undefined;
  const deadlineAt = flags.maxMinutes > 0 ? t0 + flags.maxMinutes * 60_000 : undefined;
  const results: RepresentationResult[] = [];
  let finetuneFailure: string | undefined;
  const scan = async (
    train: LabelledFeatures,
    test: LabelledFeatures,
    dim: number,
    name: string,
    index: number,
    onStage: (stage: string, fraction: number) => void,
  ) => {
    // The time left is shared equally by the representations still to cluster.
    const deadline = deadlineAt === undefined
      ? undefined
      : performance.now() + (deadlineAt - performance.now()) / (variants.length - index);
    const views = await variants[index].views();
    // Fine-tuning needs an encoder: the trained one, not the pixels or the random baseline.
    const finetune = flags.finetune && name === "simclr";
    let start: { fit: ScanFit; neighbours: Int32Array; k: number } | undefined;
    const result = await scanRepresentation(train, test, dim, {
      backend: chosen.backend,
      views,
      hidden: flags.hidden,
      selfLabel: flags.selfLabel,
      k: flags.clusterK,
      heads: flags.heads,
      epochs: flags.headEpochs,
      seeds: flags.seeds,
      entropyWeight: flags.entropyWeight,
      deadline: finetune && deadline !== undefined
        ? performance.now() + 0.2 * (deadline - performance.now())
        : deadline,
      onStage: (s, fr) => onStage(`${name}: ${s}`, fr),
      onFit: (fit, neighbours, k) => (start = { fit, neighbours, k }),
    });
    if (finetune) {
      // A failed fine-tuning (a NaN loss) keeps what was measured so far: results.json is still
      // written, and the command then exits 1 with the reason.
      try {
        result.finetune = await finetuneEncoder(
          start!,
          train,
          test,
          deadline,
          (s, fr) => onStage(`${name}: ${s}`, fr),
        );
      } catch (e) {
        finetuneFailure = (e as Error).message;
        console.error(`\n${name}: SCAN fine-tuning failed: ${finetuneFailure}`);
      }
    }
    return result;
  };
  // SCAN's second step: encoder and heads trained end to end on the trainer's augmentations.
  const finetuneEncoder = async (
    start: { fit: ScanFit; neighbours: Int32Array; k: number },
    train: LabelledFeatures,
    test: LabelledFeatures,
    deadline: number | undefined,
    onStage: (stage: string, fraction: number) => void,
  ) => {
    const model = createModel(g, config.model, {
      seed: config.seed,
      width: config.width || undefined,
    });
    loadWeights(g, model, ckpt, ckptPath);
    const trainImages = data.train.images.subarray(0, nTrain * 3072);
    const pool = await poolAugment(trainImages, { cropScale: [config.cropScale ?? 0.08, 1] });
    try {
      return await finetuneAndScore(
        model,
        start.fit,
        { images: trainImages, labels: train.labels, n: nTrain },
        { images: data.test.images.subarray(0, nTest * 3072), labels: test.labels, n: nTest },
        start.neighbours,
        start.k,
        {
          augment: pool.augment,
          epochs: flags.finetuneEpochs,
          batchSize: flags.finetuneBatch,
          lr: flags.finetuneLr,
          entropyWeight: flags.entropyWeight,
          seed: flags.seeds[0],
          deadline,
          normalization: { mean: CIFAR10_MEAN, std: CIFAR10_STD },
          selfLabel: flags.selfLabel,
          viewImages: flags.selfLabel ? trainViews() : [],
          onStage,
        },
      );
    } finally {
      pool.close();
      model.dispose();
    }
  };
  for (const [index, v] of variants.entries()) {
    const f = await v.get();
    let bar: ProgressBar | undefined;
    let current = "";
    const onStage = (stage: string, fraction: number) => {
      const name = stage.split(" ").slice(0, 2).join(" ");
      if (name !== current) {
        bar?.finish();
        current = name;
        bar = new ProgressBar({ total: 1000, label: name });
      }
      bar!.update(Math.round(fraction * 1000), { stage: stage.slice(name.length).trim() });
    };
    const train = { x: f.train, labels: data.train.labels.subarray(0, nTrain), n: nTrain };
    const test = { x: f.test, labels: data.test.labels.subarray(0, nTest), n: nTest };
    if (flags.clusterOnly) {
      const old = previous?.variants?.find((r) => r.name === v.name);
      // A representation not evaluated yet gets the protocol first (without t-SNE), so every
      // entry of results.json has the same fields.
      const result = old ?? await evaluateRepresentation(v.name, train, test, f.dim, {
        backend: chosen.backend,
        probe: flags.probe,
        tsnePoints: 0,
        seed: config.seed,
        onStage,
      });
      result.scan = await scan(train, test, f.dim, v.name, index, onStage);
      bar?.finish();
      results.push(result);
      continue;
    }
    const result = await evaluateRepresentation(
      v.name,
      { x: f.train, labels: data.train.labels.subarray(0, nTrain), n: nTrain },
      { x: f.test, labels: data.test.labels.subarray(0, nTest), n: nTest },
      f.dim,
      {
        backend: chosen.backend,
        probe: flags.probe,
        // t-SNE is drawn for the learned features only; the baselines get the numbers.
        tsnePoints: v.name === "simclr" ? Math.min(flags.tsnePoints, nTest) : 0,
        seed: config.seed,
        onStage,
      },
    );
    if (flags.cluster) result.scan = await scan(train, test, f.dim, v.name, index, onStage);
    bar?.finish();
    results.push(result);
    console.error(
      `${v.name}: probe ${(100 * result.probe.testAccuracy).toFixed(1)}%  kNN ${
        (100 * result.knn.accuracy).toFixed(1)
      }%  ` +
        `k-means NMI ${result.kmeans.nmi.toFixed(3)}`,
    );
  }

  const seconds = (performance.now() - t0) / 1000;
  const document = {
    version: 1,
    createdAt: new Date().toISOString(),
    checkpoint: ckptPath,
    checkpointHash,
    runId: ckpt.meta.runId,
    step: ckpt.meta.step,
    epoch: ckpt.meta.epoch,
    model: config.model,
    featureDim: results[0].dim,
    engine: chosen.description,
    trainImages: nTrain,
    testImages: nTest,
    seconds,
    classNames: data.classNames,
    variants: results,
  };
  // deno task cluster replaces the representations it ran and keeps the others as they were.
  const merged = previous?.variants
    ? [
      ...previous.variants.map((old) => results.find((r) => r.name === old.name) ?? old),
      ...results.filter((r) => !previous.variants!.some((old) => old.name === r.name)),
    ]
    : results;
  await writeJsonAtomic(outPath, previous ? { ...previous, variants: merged } : document);
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`.padStart(7);
  console.log(`\n${"representation".padEnd(16)}   probe      kNN   k-means NMI    ARI    ACC`);
  for (const r of results) {
    console.log(
      `${r.name.padEnd(16)} ${pct(r.probe.testAccuracy)}  ${pct(r.knn.accuracy)}        ${
        r.kmeans.nmi.toFixed(3)
      }  ` +
        `${r.kmeans.ari.toFixed(3)}  ${pct(r.kmeans.accuracy)}`,
    );
  }
  if (results.some((r) => r.scan)) printScan(results, data.classNames);
  const simclr = results[0];
  if (simclr.pca) {
    console.log(
      `PCA: first two components explain ${simclr.pca.explainedRatio.map(pct).join(" +")}`,
    );
  }
  if (simclr.tsne) {
    console.log(
      `t-SNE: ${simclr.tsne.labels.length} points, 10-NN preservation ${
        pct(simclr.tsne.neighbourPreservation)
      }`,
    );
  }
  console.log(`wrote ${outPath} (${(seconds / 60).toFixed(1)} min)`);
  if (finetuneFailure) {
    console.error(
      `evaluate: SCAN fine-tuning failed (results.json has the rest): ${finetuneFailure}`,
    );
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`evaluate: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
