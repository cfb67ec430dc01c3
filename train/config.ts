/**
 * `deno task train` flags: parsing, defaults, range checks and `--help`.
 *
 * @module
 */
import {
  DEFAULT_HEADS,
  FlagError,
  flagHelp,
  type FlagTable,
  LOSS_NAMES,
  type LossName,
  MODEL_NAMES,
  type ModelName,
  OPTIMIZER_NAMES,
  type OptimizerName,
  parseFlags,
} from "@simclr/core";

/** Names accepted by `--backend`; `auto` picks the fastest that works here (cli/auto.ts). */
export const BACKEND_NAMES = ["auto", "gpu", "native", "ref"] as const;
/** Names accepted by `--engine`, the TF.js engines of `--backend gpu` (no backend import here). */
export const ENGINE_NAMES = ["auto", "cuda", "webgpu", "wasm"] as const;
/** Names accepted by `--precision` (bf16 is checked against the CPU by the CLI). */
export const PRECISION_NAMES = ["fp32", "bf16"] as const;

/** `small 256, resnet18 512, …`: one field of every model's default head, for `--help`. */
function defaultsText(field: "hidden" | "out"): string {
  const byValue = new Map<number, string[]>();
  for (const [model, head] of Object.entries(DEFAULT_HEADS)) {
    byValue.set(head[field], [...(byValue.get(head[field]) ?? []), model]);
  }
  if (byValue.size === 1) return String([...byValue.keys()][0]);
  return [...byValue].map(([v, models]) => `${models.join("/")} ${v}`).join(", ");
}

const PROJ_HIDDEN_HELP: string = `projection head's hidden width (0 = model default: ${
  defaultsText("hidden")
})`;
const PROJ_OUT_HELP: string = `projection (loss input) width (0 = model default: ${
  defaultsText("out")
})`;
const PROJ_LAYERS_DEFAULT: number = DEFAULT_HEADS.small.layers;

/** Smallest `--temperature` accepted. */
export const TEMPERATURE_MIN = 0.01;

/** Backends that have no `--engine` choice (issue 11's `auto` may pick gpu, so it keeps it). */
export const BACKENDS_WITHOUT_ENGINES: readonly string[] = ["native", "ref"];

/** A training run's settings, as resolved from flags and saved in every checkpoint. */
export interface TrainConfig {
  backend: typeof BACKEND_NAMES[number];
  engine: typeof ENGINE_NAMES[number];
  /** Resolved once the engine is known: `small` on CPU engines, `resnet18` on cuda. */
  model: ModelName | "default";
  /** Encoder width override; 0 = the model's default. */
  width: number;
  /** Projection head's hidden width; 0 = the model's default (`DEFAULT_HEADS`). */
  projHidden: number;
  /** Projection head's output width; 0 = the model's default (128). */
  projOut: number;
  /** Linear layers in the projection head (2 = every model's default head). */
  projLayers: number;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  /** Base learning rate; 0 = the optimiser's default for this batch size. */
  lr: number;
  /** -1 = the optimiser's default. */
  weightDecay: number;
  warmupEpochs: number;
  temperature: number;
  loss: LossName;
  seed: number;
  /** CIFAR-10 folder; empty = the cache folder, downloading if absent. */
  data: string;
  /** Run folder. */
  out: string;
  resume: boolean;
  /** Time budget in minutes; the schedule is fitted to end in it (0 = none, --epochs decides). */
  maxMinutes: number;
  /**
   * Stop once the run reaches this optimiser step (counted over the whole run, resumes included),
   * saving a checkpoint like any other stop (0 = no limit).
   */
  maxSteps: number;
  /** Conv and matMul input precision (fp32 accumulation and master weights either way). */
  precision?: typeof PRECISION_NAMES[number];
  /** Augmentation worker threads. */
  workers: number;
  /** kNN monitor every this many epochs (0 = never). */
  knnEvery: number;
  /** Train on only the first N training images (0 = all 50,000), for quick runs. */
  limit: number;
  /** Smallest random-resized-crop area (torchvision: 0.08). */
  cropScale: number;
  /** Stop when the collapse monitors cross their thresholds two epochs in a row. */
  stopOnCollapse: boolean;
  /** Starting weights from a safetensors file in PyTorch layout (`deno task export`); "" = none. */
  initFrom: string;
}

/**
 * The flags of `deno task train`, in `--help` order; each sets the `TrainConfig` field of the same
 * name in camelCase (`--batch-size` → `batchSize`).
 */
export const TRAIN_FLAGS = {
  "backend": {
    type: "string",
    default: "auto",
    choices: BACKEND_NAMES,
    help: "tensor backend: auto (cuda, hardware WebGPU, native, wasm: the first that works), " +
      "gpu (TF.js), native (C++ kernels via FFI) or ref (pure TypeScript, slow)",
  },
  "engine": {
    type: "string",
    default: "auto",
    choices: ENGINE_NAMES,
    help: "TF.js engine for --backend gpu (an engine other than auto implies --backend gpu)",
  },
  "model": {
    type: "string",
    default: "default",
    choices: ["default", ...MODEL_NAMES],
    help:
      "encoder: simple (seed's SimpleCNN), small (CPU default), resnet10 (CIFAR ResNet, 1 block a stage), resnet18 (cuda default)",
  },
  "width": {
    type: "int",
    default: 0,
    min: 0,
    help: "channel width override (0 = model default)",
  },
  "proj-hidden": {
    type: "int",
    default: 0,
    min: 0,
    help: PROJ_HIDDEN_HELP,
  },
  "proj-out": {
    type: "int",
    default: 0,
    min: 0,
    help: PROJ_OUT_HELP,
  },
  "proj-layers": {
    type: "int",
    // Every model's head had two Linear layers before this flag; old runs read as 2.
    default: PROJ_LAYERS_DEFAULT,
    min: 1,
    help: "Linear layers in the projection head (1 = linear head, 3 = SimCLR v2's deeper head)",
  },
  "epochs": {
    type: "int",
    default: 30,
    min: 1,
    help: "training epochs (sets the cosine schedule's length)",
  },
  "batch-size": {
    type: "int",
    default: 256,
    min: 2,
    help: "images per step (each gives two views)",
  },
  "optimizer": {
    type: "string",
    default: "adam",
    choices: OPTIMIZER_NAMES,
    help: "adam, sgd (momentum 0.9) or lars",
  },
  "lr": {
    type: "number",
    default: 0,
    min: 0,
    help: "base learning rate (0 = adam 1e-3, sgd 0.06·B/256, lars 0.3·B/256)",
  },
  "weight-decay": {
    type: "number",
    // -1 is the internal "optimiser's default" sentinel; a value given on the command line must
    // be ≥ 0, so a typo such as -0.1 is refused rather than silently replaced by the default.
    default: -1,
    min: 0,
    help: "L2 weight decay ≥ 0, not on biases/BN (-1 = adam/lars 1e-6, sgd 5e-4)",
  },
  "warmup-epochs": {
    type: "number",
    default: 1,
    min: 0,
    help: "linear learning-rate warm-up before the cosine decay",
  },
  "temperature": {
    type: "number",
    // 0.2 won the recipe study (docs/recipe-study.md) against 0.5 with Adam and with SGD.
    default: 0.2,
    // Below 0.01 the logits (up to 1/τ) overflow Adam's float32 second moments.
    min: TEMPERATURE_MIN,
    help: "NT-Xent temperature τ",
  },
  "loss": {
    type: "string",
    default: "ntxent",
    choices: LOSS_NAMES,
    help: "ntxent (SimCLR) or cosine (the seed's; collapses)",
  },
  "seed": {
    type: "int",
    default: 0,
    min: 0,
    help: "seed of weights, data order and augmentations",
  },
  "data": {
    type: "string",
    arg: "DIR",
    default: "",
    help: "CIFAR-10 binary folder (default: cache, downloaded if missing)",
    defaultText: "none",
  },
  "out": {
    type: "string",
    arg: "DIR",
    default: "",
    help: "run folder (default runs/<model>-<date>)",
    defaultText: "none",
  },
  "resume": {
    type: "boolean",
    default: false,
    help: "continue the run in --out from its checkpoint",
  },
  "max-minutes": {
    type: "number",
    default: 0,
    min: 0,
    help: "time budget: the schedule is fitted to end in it, replacing --epochs (0 = none)",
  },
  "max-steps": {
    type: "int",
    default: 0,
    min: 0,
    help: "stop at optimiser step N of the run, saving a checkpoint (--resume goes on; 0 = none)",
  },
  "workers": {
    type: "int",
    default: 1,
    min: 1,
    help: "augmentation worker threads",
  },
  "knn-every": {
    type: "int",
    default: 1,
    min: 0,
    help: "kNN monitor every N epochs (0 = never)",
  },
  "limit": {
    type: "int",
    default: 0,
    min: 0,
    help: "use only the first N training images (0 = all)",
  },
  "crop-scale": {
    type: "number",
    default: 0.08,
    min: 0,
    max: 1,
    exclusive: true,
    help: "smallest random-resized-crop area fraction",
  },
  "stop-on-collapse": {
    type: "boolean",
    default: false,
    help: "stop when feature std < 0.2/√d or uniformity > −0.1 two epochs in a row " +
      "(otherwise a warning)",
  },
  "precision": {
    type: "string",
    default: "fp32",
    choices: PRECISION_NAMES,
    help: "conv/matMul inputs: fp32, or bf16 (needs AVX512_BF16; refused until its kernels exist)",
  },
  "init-from": {
    type: "string",
    arg: "FILE",
    default: "",
    help: "start from the weights of FILE.safetensors (PyTorch layout, as deno task export writes)",
    defaultText: "none",
  },
} as const satisfies FlagTable;

type TrainFlag = keyof typeof TRAIN_FLAGS;

/** `batch-size` → `batchSize`. */
function keyOf(flag: string): keyof TrainConfig {
  return flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) as keyof TrainConfig;
}

/** {@linkcode FlagError}, the one flag error of every command (core/flags.ts). */
export { FlagError };

/** The `--help` text: every flag with its default. */
export function helpText(): string {
  return flagHelp(TRAIN_FLAGS, { usage: "usage: deno task train [flags]", column: 40 });
}

/** Parses `args`; throws {@linkcode FlagError} on unknown flags and out-of-range values. */
export function parseTrainArgs(args: string[]): TrainConfig | "help" {
  const parsed = parseFlags(TRAIN_FLAGS, args);
  if (parsed === "help") return "help";
  const config: Record<string, unknown> = {};
  for (const [flag, value] of Object.entries(parsed.values)) config[keyOf(flag)] = value;
  if (
    parsed.given.has("engine") && BACKENDS_WITHOUT_ENGINES.includes(String(config.backend))
  ) {
    throw new FlagError(
      `--engine is for --backend gpu; --backend ${config.backend} has no engines`,
    );
  }
  if (parsed.given.has("proj-hidden") && config.projLayers === 1) {
    throw new FlagError(
      "--proj-hidden sets the width of the projection head's hidden layers, and --proj-layers 1 " +
        "has none; drop --proj-hidden or give --proj-layers ≥ 2",
    );
  }
  return config as unknown as TrainConfig;
}

/** The projection-head settings and their values in a config saved before they existed. */
type HeadSettings = Pick<TrainConfig, "projHidden" | "projOut" | "projLayers">;
const HEAD_DEFAULTS: HeadSettings = {
  projHidden: TRAIN_FLAGS["proj-hidden"].default,
  projOut: TRAIN_FLAGS["proj-out"].default,
  projLayers: TRAIN_FLAGS["proj-layers"].default,
};

/**
 * A config read from a checkpoint, with the settings added since it was written at the values
 * that rebuild the model it was trained with (the head flags: the model's default head).
 */
export function savedConfig<C extends Partial<HeadSettings>>(saved: C): C & HeadSettings {
  return { ...HEAD_DEFAULTS, ...saved };
}

/** The settings that `args` names explicitly (for `--resume`, where defaults must not count). */
export function givenFlags(args: string[]): Set<keyof TrainConfig> {
  const parsed = parseFlags(TRAIN_FLAGS, args);
  return new Set(parsed === "help" ? [] : [...parsed.given].map(keyOf));
}

/** The command-line spelling of a setting, e.g. `batchSize` → `--batch-size`. */
export function flagName(key: keyof TrainConfig): string {
  const flag = (Object.keys(TRAIN_FLAGS) as TrainFlag[]).find((f) => keyOf(f) === key);
  return `--${flag ?? key}`;
}

/** Base learning rate after defaults. */
export function resolvedLearningRate(c: TrainConfig): number {
  if (c.lr > 0) return c.lr;
  if (c.optimizer === "adam") return 1e-3;
  return (c.optimizer === "sgd" ? 0.06 : 0.3) * c.batchSize / 256;
}

/** Weight decay after defaults. */
export function resolvedWeightDecay(c: TrainConfig): number {
  if (c.weightDecay >= 0) return c.weightDecay;
  return c.optimizer === "sgd" ? 5e-4 : 1e-6;
}
