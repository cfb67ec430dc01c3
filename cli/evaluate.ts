/**
 * `deno task evaluate --run runs/NAME` (or `--checkpoint FILE`): the exercise's three experiments
 * on the frozen encoder of a checkpoint, beside the raw-pixel and random-encoder baselines run
 * through the same protocol. Writes `results.json` in the run folder and prints a table.
 *
 * `results.json` is core's `ResultsDocument` (core/records.ts): the checkpoint, its hash and run id,
 * the class names, and per representation (`simclr`, `raw-pixels`, `random-encoder`) the probe,
 * kNN, k-means, and optionally PCA, t-SNE and SCAN (with `scan.finetune`, evaluate/scan_finetune.ts's
 * `ScanFinetuneResult`, when `--finetune` ran).
 * `deno task cluster` (this program with `--cluster-only`) adds `scan` to the variants of an
 * existing `results.json` (a representation not in it yet is evaluated first, without t-SNE).
 * Accuracies are fractions in [0, 1].
 *
 * `--finetune` checkpoints every epoch to `RUN/scan-finetune/resume.ckpt` (cli/cluster_helpers.ts);
 * the same command run again continues from it (other settings are refused, naming the flags),
 * and once `results.json` is written the file is deleted and the fine-tuned encoder stays as
 * `RUN/scan-finetune/checkpoint.ckpt`. Ctrl-C or SIGTERM during fine-tuning saves it and exits 130;
 * `--finetune-max-steps N` saves it at step N and exits 0.
 *
 * @module
 */
import { join, relative } from "node:path";
import {
  commandFlags,
  createModel,
  encodeImages,
  FlagError,
  Graph,
  type ModelName,
  modelOptions,
  ProgressBar,
  readResults,
  RUN_FILES,
  writeResults,
} from "@simclr/core";
import { CIFAR10_MEAN, CIFAR10_STD, ensureCifar10, loadCifar10 } from "@simclr/data";
import {
  cachedFeatures,
  dataIdentity,
  evaluateRepresentation,
  FinetunePaused,
  type LabelledFeatures,
  pixelFeatures,
  type RepresentationResult,
  type ScanFit,
  scanRepresentation,
  type ScanSweepPoint,
} from "@simclr/evaluate";
import {
  BACKENDS_WITHOUT_ENGINES,
  loadCheckpoint,
  loadWeights,
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
import {
  augmentedTrainImages,
  finetuneEncoder,
  finetunePaths,
  type FinetuneSettings,
  printScan,
  readPausedFinetune,
  runScanSweep,
  SCAN_FINETUNE_DIR,
  settingsConflicts,
} from "./cluster_helpers.ts";

/** The flags of `deno task evaluate` (and `deno task cluster`). */
const EVALUATE_FLAGS = {
  run: {
    type: "string",
    arg: "DIR",
    help: "run folder (its checkpoint.ckpt; results.json is written there)",
  },
  checkpoint: {
    type: "string",
    arg: "FILE",
    help: "a checkpoint file (results.json is written beside it)",
  },
  backend: {
    type: "string",
    default: "auto",
    choices: BACKEND_NAMES,
    help: "the backend; auto: the fastest that works here",
  },
  engine: {
    type: "string",
    choices: ENGINE_NAMES,
    defaultText: "auto",
    help: "TF.js engine for --backend gpu",
  },
  data: {
    type: "string",
    arg: "DIR",
    help: "CIFAR-10 folder (default: the one the run trained on)",
  },
  probe: {
    type: "string",
    default: "logistic",
    choices: ["logistic", "svm"],
    help: "linear probe classifier",
  },
  baselines: {
    type: "string",
    default: "raw-pixels,random-encoder",
    arg: "LIST",
    help: "comma list of raw-pixels,random-encoder, or none",
    validate: (v: string) =>
      v === "none" || v.split(",").every((b) => b === "raw-pixels" || b === "random-encoder")
        ? undefined
        : "a comma list of raw-pixels, random-encoder, or none",
  },
  "tsne-points": {
    type: "int",
    default: 5000,
    min: 0,
    help: "class-balanced test points for t-SNE, 0 to skip",
  },
  limit: {
    type: "int",
    default: 0,
    min: 0,
    help: "use only the first N train and N/5 test images (quick checks; 0 = all)",
  },
  cluster: {
    type: "boolean",
    help: "also run SCAN clustering on every representation (see deno task cluster)",
  },
  "cluster-only": {
    type: "boolean",
    help:
      "only SCAN, added to results.json (what is not in it yet is evaluated first, without t-SNE): deno task cluster",
  },
  "cluster-k": { type: "int", default: 20, min: 1, help: "SCAN: neighbours mined per train image" },
  heads: {
    type: "int",
    default: 5,
    min: 1,
    help: "SCAN: heads trained side by side, lowest loss kept",
  },
  "head-epochs": { type: "int", default: 30, min: 1, help: "SCAN: epochs over the train set" },
  views: {
    type: "int",
    default: 2,
    min: 0,
    help: "SCAN: augmented views of every train image encoded for the heads",
  },
  hidden: {
    type: "int",
    default: 0,
    min: 0,
    help: "SCAN: hidden ReLU layer width of the heads, 0 for linear heads",
  },
  seeds: {
    type: "ints",
    default: [0],
    min: 0,
    help: "SCAN: comma list of head seeds; the first is reported",
  },
  "entropy-weight": {
    type: "number",
    default: 5,
    min: 0,
    help: "SCAN: weight of the entropy term",
  },
  "self-label": {
    type: "boolean",
    help: "SCAN: then self-label (threshold 0.99, augmented views; needs --views ≥ 1)",
  },
  finetune: {
    type: "boolean",
    help: "SCAN: then fine-tune the encoder and the heads end to end on augmented views of each " +
      "image and a mined neighbour (SimCLR features only), starting from the frozen heads; " +
      "scored beside them (results.json scan.finetune)",
  },
  "finetune-epochs": {
    type: "int",
    default: 10,
    min: 1,
    help: "SCAN fine-tuning: epochs over the train set (--max-minutes may stop it earlier)",
  },
  "finetune-lr": {
    type: "number",
    arg: "LR",
    default: 1e-4,
    defaultText: "1e-4",
    min: 0,
    exclusive: true,
    help: "SCAN fine-tuning: Adam learning rate of encoder and heads (as SCAN)",
  },
  "finetune-batch": {
    type: "int",
    default: 128,
    min: 1,
    help: "SCAN fine-tuning: anchors per step, each with one neighbour",
  },
  sweep: {
    type: "string",
    arg: "K:W,…",
    help: "SCAN study (with --cluster-only): frozen heads on the simclr features for each pair " +
      "of neighbours K and entropy weight W, e.g. 5:2,5:5,20:5, the neighbours and views made " +
      "once; prints a table and writes RUN/scan-sweep.json (results.json is not changed)",
    validate: (v: string) => parseSweep(v) ? undefined : "a comma list of K:W pairs, e.g. 5:2,20:5",
  },
  "finetune-max-steps": {
    type: "int",
    default: 0,
    min: 0,
    help: "SCAN fine-tuning: pause at step N (counted over the whole fine-tuning, like train's " +
      "--max-steps), keeping RUN/scan-finetune/resume.ckpt; the same command without it " +
      "continues (0 = none)",
  },
  "max-minutes": {
    type: "number",
    arg: "M",
    default: 0,
    min: 0,
    help: "SCAN: stop training heads when the command has run M minutes (0 = none); with " +
      "--finetune, 20% of the time goes to the frozen heads, the rest to fine-tuning, keeping " +
      "back what re-encoding the images takes",
  },
} as const;

/** Parsed flags, or the exit code (help printed, or a bad flag). */
function parseEvaluateFlags(args: string[]) {
  const parsed = commandFlags("evaluate", EVALUATE_FLAGS, args, {
    usage: "usage: deno task evaluate (--run DIR | --checkpoint FILE) [flags]",
    check: (v, given) => {
      if (v["self-label"] && v.views === 0) {
        throw new FlagError("--self-label trains on augmented views; give --views 1 or more");
      }
      if (v.sweep !== undefined && !v["cluster-only"]) {
        throw new FlagError("--sweep is a SCAN study; give --cluster-only (deno task cluster)");
      }
      if (v.sweep !== undefined && (v.finetune || v["self-label"])) {
        throw new FlagError("--sweep trains frozen heads only; drop --finetune and --self-label");
      }
      if (v.finetune && !v.cluster && !v["cluster-only"]) {
        throw new FlagError(
          "--finetune is SCAN's second step; give --cluster, or use deno task cluster",
        );
      }
      if (!v.run === !v.checkpoint) {
        throw new FlagError("give exactly one of --run DIR or --checkpoint FILE");
      }
      if (given.has("engine") && BACKENDS_WITHOUT_ENGINES.includes(v.backend)) {
        throw new FlagError(
          `--engine is for --backend gpu; --backend ${v.backend} has no engines`,
        );
      }
    },
  });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  return {
    run: v.run,
    checkpoint: v.checkpoint,
    backend: v.backend as BackendName,
    engine: (v.engine ?? "auto") as EngineName,
    data: v.data,
    probe: v.probe,
    baselines: v.baselines === "none" ? [] : v.baselines.split(","),
    tsnePoints: v["tsne-points"],
    limit: v.limit,
    cluster: v.cluster || v["cluster-only"],
    clusterOnly: v["cluster-only"],
    clusterK: v["cluster-k"],
    heads: v.heads,
    headEpochs: v["head-epochs"],
    views: v.views,
    selfLabel: v["self-label"],
    hidden: v.hidden,
    seeds: v.seeds,
    entropyWeight: v["entropy-weight"],
    maxMinutes: v["max-minutes"],
    finetune: v.finetune,
    finetuneEpochs: v["finetune-epochs"],
    finetuneLr: v["finetune-lr"],
    finetuneBatch: v["finetune-batch"],
    finetuneMaxSteps: v["finetune-max-steps"],
    sweep: v.sweep === undefined ? undefined : parseSweep(v.sweep)!,
  };
}

/** `--sweep`'s pairs, or undefined when the text is not a list of K:W pairs (K ≥ 1, W ≥ 0). */
function parseSweep(text: string): ScanSweepPoint[] | undefined {
  const points = text.split(",").map((pair) => {
    const m = /^\s*(\d+):(\d+(?:\.\d+)?)\s*$/.exec(pair);
    return m ? { k: Number(m[1]), entropyWeight: Number(m[2]) } : undefined;
  });
  return points.every((p) => p && p.k >= 1) ? points as ScanSweepPoint[] : undefined;
}

async function main(): Promise<number> {
  const flags = parseEvaluateFlags(Deno.args);
  if (typeof flags === "number") return flags;
  const t0 = performance.now();
  const ckptPath = flags.checkpoint ?? join(flags.run!, RUN_FILES.checkpoint);
  const outDir = flags.run ?? join(ckptPath, "..");
  const ckpt = await loadCheckpoint<TrainConfig & { model: ModelName }>(ckptPath);
  const config = ckpt.meta.config;
  const checkpointHash = await weightsHash(ckpt);
  // A fine-tuning paused or killed by an earlier run of this command continues, if it was
  // started with the same settings; checked before anything slow runs.
  const finetuneFiles = finetunePaths(outDir);
  const finetuneSettings: FinetuneSettings = {
    checkpointHash,
    limit: flags.limit,
    clusterK: flags.clusterK,
    heads: flags.heads,
    headEpochs: flags.headEpochs,
    views: flags.views,
    hidden: flags.hidden,
    seeds: [...flags.seeds],
    entropyWeight: flags.entropyWeight,
    selfLabel: flags.selfLabel,
    finetuneEpochs: flags.finetuneEpochs,
    finetuneLr: flags.finetuneLr,
    finetuneBatch: flags.finetuneBatch,
  };
  const paused = flags.finetune ? await readPausedFinetune(finetuneFiles.resume) : undefined;
  if (!flags.finetune && await Deno.stat(finetuneFiles.resume).then(() => true, () => false)) {
    console.error(
      `note: ${finetuneFiles.resume} holds a paused SCAN fine-tuning; run deno task cluster ` +
        `--finetune with the settings it was started with to continue it`,
    );
  } else if (paused) {
    const conflicts = settingsConflicts(paused.checkpoint.meta.config.settings, finetuneSettings);
    if (conflicts.length) {
      console.error(
        `evaluate: ${finetuneFiles.resume} holds a paused SCAN fine-tuning started with other ` +
          `settings; these flags differ:\n  ${conflicts.join("\n  ")}\n` +
          `Rerun with the settings it was started with to continue it, or delete the file to ` +
          `start over. Changeable on resume: --backend, --engine, --data, --max-minutes, ` +
          `--finetune-max-steps, --baselines, --probe, --tsne-points.`,
      );
      return 2;
    }
    console.error(
      `resuming SCAN fine-tuning from ${finetuneFiles.resume} at step ${paused.checkpoint.meta.step} ` +
        `(epoch ${
          paused.checkpoint.meta.epoch.toFixed(2)
        }, saved ${paused.checkpoint.meta.savedAt}); ` +
        `SCAN on the frozen features is taken from it`,
    );
  }
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
    const model = createModel(g, config.model, modelOptions(config, seed));
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
    const model = createModel(g, config.model, modelOptions(config, seed));
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
        const probe = createModel(g, config.model, modelOptions(config, 0));
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

  if (flags.sweep) {
    const f = await variants[0].get();
    await runScanSweep(
      join(outDir, "scan-sweep.json"),
      { x: f.train, labels: data.train.labels.subarray(0, nTrain), n: nTrain },
      { x: f.test, labels: data.test.labels.subarray(0, nTest), n: nTest },
      f.dim,
      flags.sweep,
      {
        backend: chosen.backend,
        views: await variants[0].views(),
        hidden: flags.hidden,
        heads: flags.heads,
        epochs: flags.headEpochs,
        seeds: flags.seeds,
      },
      {
        checkpoint: ckptPath,
        checkpointHash,
        runId: ckpt.meta.runId,
        command: `deno task cluster ${Deno.args.filter((a) => a !== "--cluster-only").join(" ")}`,
      },
    );
    return 0;
  }
  const outPath = join(outDir, RUN_FILES.results);
  // deno task cluster keeps what evaluate measured and adds SCAN beside it.
  const previous = flags.clusterOnly ? await readResults(outPath) : undefined;
  const deadlineAt = flags.maxMinutes > 0 ? t0 + flags.maxMinutes * 60_000 : undefined;
  const results: RepresentationResult[] = [];
  let finetuneFailure: string | undefined;
  let finetuneDone = false;
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
    // Fine-tuning needs an encoder: the trained one, not the pixels or the random baseline.
    const finetune = flags.finetune && name === "simclr";
    let start: { fit: ScanFit; neighbours: Int32Array; k: number } | undefined;
    // A resumed fine-tuning brings its frozen-feature result and start with it.
    const resumed = finetune ? paused : undefined;
    if (resumed) start = resumed.start;
    const result = resumed
      ? structuredClone(resumed.checkpoint.meta.config.frozen)
      : await scanRepresentation(train, test, dim, {
        backend: chosen.backend,
        views: await variants[index].views(),
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
      // Ctrl-C or SIGTERM: save the fine-tuning's state after the current step and exit 130; a
      // second one quits at once.
      let interrupted = false;
      const onInterrupt = () => {
        if (interrupted) Deno.exit(130);
        interrupted = true;
        console.error(
          "\ninterrupt: saving SCAN fine-tuning after this step (Ctrl-C or SIGTERM again to quit now)",
        );
      };
      const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
      for (const s of signals) Deno.addSignalListener(s, onInterrupt);
      // A failed fine-tuning (a NaN loss) keeps what was measured so far: results.json is still
      // written, and the command then exits 1 with the reason. A pause is no failure: it
      // leaves results.json as it was.
      try {
        const model = createModel(g, config.model, modelOptions(config, config.seed));
        // A resumed run starts from the saved encoder (the resume checkpoint holds it in the
        // trainer's layout), the heads and Adam's state from the same file.
        if (resumed) loadWeights(g, model, resumed.checkpoint, finetuneFiles.resume);
        else loadWeights(g, model, ckpt, ckptPath);
        result.finetune = await finetuneEncoder(
          model,
          start!,
          { images: data.train.images.subarray(0, nTrain * 3072), labels: train.labels, n: nTrain },
          { images: data.test.images.subarray(0, nTest * 3072), labels: test.labels, n: nTest },
          config.cropScale ?? 0.08,
          {
            epochs: flags.finetuneEpochs,
            batchSize: flags.finetuneBatch,
            lr: flags.finetuneLr,
            entropyWeight: flags.entropyWeight,
            seed: flags.seeds[0],
            deadline,
            selfLabel: flags.selfLabel,
            viewImages: flags.selfLabel ? trainViews() : [],
            onStage: (s, fr) => onStage(`${name}: ${s}`, fr),
            resume: resumed?.resume,
            pause: (step) =>
              interrupted
                ? "interrupt"
                : flags.finetuneMaxSteps > 0 && step >= flags.finetuneMaxSteps
                ? "max-steps"
                : undefined,
          },
          {
            ...finetuneFiles,
            settings: finetuneSettings,
            frozen: structuredClone(result),
            pretext: ckpt,
          },
        );
        finetuneDone = true;
      } catch (e) {
        if (e instanceof FinetunePaused) {
          console.error(
            `\n${name}: SCAN fine-tuning paused (${e.reason}) at step ${e.step}; its state is in ` +
              `${finetuneFiles.resume}, results.json is unchanged. Run the same command ` +
              `(without --finetune-max-steps) to continue.`,
          );
          throw e;
        }
        finetuneFailure = (e as Error).message;
        console.error(`\n${name}: SCAN fine-tuning failed: ${finetuneFailure}`);
      } finally {
        for (const s of signals) Deno.removeSignalListener(s, onInterrupt);
      }
    }
    return result;
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
      const old = previous?.variants.find((r) => r.name === v.name);
      // A representation not evaluated yet gets the protocol first (without t-SNE), so every
      // entry of results.json has the same fields.
      const result: RepresentationResult = old
        ? { ...old, scan: undefined }
        : await evaluateRepresentation(v.name, train, test, f.dim, {
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
  if (previous) {
    const merged = [
      ...previous.variants.map((old) => results.find((r) => r.name === old.name) ?? old),
      ...results.filter((r) => !previous.variants.some((old) => old.name === r.name)),
    ];
    await writeResults(outPath, { ...previous, variants: merged });
  } else {
    await writeResults(outPath, document);
  }
  // The fine-tuned result is on disk: its resume checkpoint has done its job.
  if (finetuneDone) await Deno.remove(finetuneFiles.resume).catch(() => {});
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
  const ft = results.find((r) => r.name === "simclr")?.scan?.finetune;
  if (ft?.checkpoint) {
    const dir = relative(Deno.cwd(), join(outDir, SCAN_FINETUNE_DIR)) || ".";
    console.log(
      `fine-tuned encoder: ${join(outDir, ft.checkpoint)} (deno task evaluate --run ${dir}; ` +
        `deno task export --run ${dir})`,
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
    // The pause was reported where it happened.
    if (e instanceof FinetunePaused) Deno.exit(e.reason === "interrupt" ? 130 : 0);
    console.error(`evaluate: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
