/**
 * `deno task train` flags: parsing, defaults, range checks and `--help`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  LOSS_NAMES,
  type LossName,
  MODEL_NAMES,
  type ModelName,
  OPTIMIZER_NAMES,
  type OptimizerName,
} from "@simclr/core";

/** Names accepted by `--backend`; `auto` picks the fastest that works here (cli/auto.ts). */
export const BACKEND_NAMES = ["auto", "gpu", "native", "ref"] as const;
/** Names accepted by `--engine`, the TF.js engines of `--backend gpu` (no backend import here). */
export const ENGINE_NAMES = ["auto", "cuda", "webgpu", "wasm"] as const;
/** Names accepted by `--precision` (bf16 is checked against the CPU by the CLI). */
export const PRECISION_NAMES = ["fp32", "bf16"] as const;

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

interface FlagSpec {
  key: keyof TrainConfig;
  flag: string;
  type: "string" | "boolean";
  default: string | number | boolean;
  help: string;
  choices?: readonly string[];
  /** Inclusive lower bound, or an exclusive one when `exclusive`. */
  min?: number;
  max?: number;
  exclusive?: boolean;
  integer?: boolean;
}

const SPECS: FlagSpec[] = [
  {
    key: "backend",
    flag: "backend",
    type: "string",
    default: "auto",
    choices: BACKEND_NAMES,
    help: "tensor backend: auto (cuda, hardware WebGPU, native, wasm: the first that works), " +
      "gpu (TF.js), native (C++ kernels via FFI) or ref (pure TypeScript, slow)",
  },
  {
    key: "engine",
    flag: "engine",
    type: "string",
    default: "auto",
    choices: ENGINE_NAMES,
    help: "TF.js engine for --backend gpu (an engine other than auto implies --backend gpu)",
  },
  {
    key: "model",
    flag: "model",
    type: "string",
    default: "default",
    choices: ["default", ...MODEL_NAMES],
    help: "encoder: simple (seed's SimpleCNN), small (CPU default), resnet18 (cuda default)",
  },
  {
    key: "width",
    flag: "width",
    type: "string",
    default: 0,
    min: 0,
    integer: true,
    help: "channel width override (0 = model default)",
  },
  {
    key: "epochs",
    flag: "epochs",
    type: "string",
    default: 30,
    min: 1,
    integer: true,
    help: "training epochs (sets the cosine schedule's length)",
  },
  {
    key: "batchSize",
    flag: "batch-size",
    type: "string",
    default: 256,
    min: 2,
    integer: true,
    help: "images per step (each gives two views)",
  },
  {
    key: "optimizer",
    flag: "optimizer",
    type: "string",
    default: "adam",
    choices: OPTIMIZER_NAMES,
    help: "adam, sgd (momentum 0.9) or lars",
  },
  {
    key: "lr",
    flag: "lr",
    type: "string",
    default: 0,
    min: 0,
    help: "base learning rate (0 = adam 1e-3, sgd 0.06·B/256, lars 0.3·B/256)",
  },
  {
    key: "weightDecay",
    flag: "weight-decay",
    type: "string",
    // -1 is the internal "optimiser's default" sentinel; a value given on the command line must
    // be ≥ 0, so a typo such as -0.1 is refused rather than silently replaced by the default.
    default: -1,
    min: 0,
    help: "L2 weight decay ≥ 0, not on biases/BN (-1 = adam/lars 1e-6, sgd 5e-4)",
  },
  {
    key: "warmupEpochs",
    flag: "warmup-epochs",
    type: "string",
    default: 1,
    min: 0,
    help: "linear learning-rate warm-up before the cosine decay",
  },
  {
    key: "temperature",
    flag: "temperature",
    type: "string",
    default: 0.5,
    // Below 0.01 the logits (up to 1/τ) overflow Adam's float32 second moments.
    min: TEMPERATURE_MIN,
    help: "NT-Xent temperature τ",
  },
  {
    key: "loss",
    flag: "loss",
    type: "string",
    default: "ntxent",
    choices: LOSS_NAMES,
    help: "ntxent (SimCLR) or cosine (the seed's; collapses)",
  },
  {
    key: "seed",
    flag: "seed",
    type: "string",
    default: 0,
    min: 0,
    integer: true,
    help: "seed of weights, data order and augmentations",
  },
  {
    key: "data",
    flag: "data",
    type: "string",
    default: "",
    help: "CIFAR-10 binary folder (default: cache, downloaded if missing)",
  },
  {
    key: "out",
    flag: "out",
    type: "string",
    default: "",
    help: "run folder (default runs/<model>-<date>)",
  },
  {
    key: "resume",
    flag: "resume",
    type: "boolean",
    default: false,
    help: "continue the run in --out from its checkpoint",
  },
  {
    key: "maxMinutes",
    flag: "max-minutes",
    type: "string",
    default: 0,
    min: 0,
    help: "time budget: the schedule is fitted to end in it, replacing --epochs (0 = none)",
  },
  {
    key: "maxSteps",
    flag: "max-steps",
    type: "string",
    default: 0,
    min: 0,
    integer: true,
    help: "stop at optimiser step N of the run, saving a checkpoint (--resume goes on; 0 = none)",
  },
  {
    key: "workers",
    flag: "workers",
    type: "string",
    default: 1,
    min: 1,
    integer: true,
    help: "augmentation worker threads",
  },
  {
    key: "knnEvery",
    flag: "knn-every",
    type: "string",
    default: 1,
    min: 0,
    integer: true,
    help: "kNN monitor every N epochs (0 = never)",
  },
  {
    key: "limit",
    flag: "limit",
    type: "string",
    default: 0,
    min: 0,
    integer: true,
    help: "use only the first N training images (0 = all)",
  },
  {
    key: "cropScale",
    flag: "crop-scale",
    type: "string",
    default: 0.08,
    min: 0,
    max: 1,
    exclusive: true,
    help: "smallest random-resized-crop area fraction",
  },
  {
    key: "stopOnCollapse",
    flag: "stop-on-collapse",
    type: "boolean",
    default: false,
    help: "stop when feature std < 0.2/√d or uniformity > −0.1 two epochs in a row " +
      "(otherwise a warning)",
  },
  {
    key: "precision",
    flag: "precision",
    type: "string",
    default: "fp32",
    choices: PRECISION_NAMES,
    help: "conv/matMul inputs: fp32, or bf16 (needs AVX512_BF16; refused until its kernels exist)",
  },
  {
    key: "initFrom",
    flag: "init-from",
    type: "string",
    default: "",
    help: "start from the weights of FILE.safetensors (PyTorch layout, as deno task export writes)",
  },
];

/** Raised for a bad flag; the message names the flag and the valid range. */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

/** The `--help` text: every flag with its default. */
export function helpText(): string {
  const lines = SPECS.map((s) => {
    const name = s.type === "boolean"
      ? `--${s.flag}`
      : `--${s.flag} ${s.choices ? s.choices.join("|") : "N"}`;
    const def = s.type === "boolean" ? "" : ` (default: ${s.default === "" ? "none" : s.default})`;
    return `  ${name.padEnd(40)} ${s.help}${def}`;
  });
  return ["usage: deno task train [flags]", "", ...lines, `  ${"--help".padEnd(40)} this text`]
    .join(
      "\n",
    );
}

/** Parses `args`; throws {@linkcode FlagError} on unknown flags and out-of-range values. */
export function parseTrainArgs(args: string[]): TrainConfig | "help" {
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const s of SPECS) options[s.flag] = { type: s.type };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values as never;
  } catch (e) {
    throw new FlagError(`${(e as Error).message}\nRun with --help for the list of flags.`);
  }
  if (values.help) return "help";
  const config: Record<string, unknown> = {};
  for (const s of SPECS) {
    const raw = values[s.flag];
    if (raw === undefined) {
      config[s.key] = s.default;
      continue;
    }
    if (s.type === "boolean") {
      config[s.key] = raw;
      continue;
    }
    const text = String(raw);
    if (s.choices) {
      if (!s.choices.includes(text)) {
        throw new FlagError(`--${s.flag} must be one of ${s.choices.join(", ")}; got "${text}"`);
      }
      config[s.key] = text;
    } else if (typeof s.default === "number") {
      const v = Number(text);
      const range = `${s.exclusive ? ">" : "≥"} ${s.min}${
        s.max !== undefined ? ` and < ${s.max}` : ""
      }`;
      // Integers in plain decimal only: Number() would also take "0x2" and "1e0".
      const bad = !Number.isFinite(v) || text.trim() === "" ||
        (s.integer && !/^\s*\d+\s*$/.test(text)) ||
        (s.min !== undefined && (s.exclusive ? v <= s.min : v < s.min)) ||
        (s.max !== undefined && (s.exclusive ? v >= s.max : v > s.max));
      if (bad) {
        throw new FlagError(
          `--${s.flag} must be ${s.integer ? "an integer" : "a number"} ${range}; got "${text}"`,
        );
      }
      config[s.key] = v;
    } else {
      config[s.key] = text;
    }
  }
  const given = givenKeys(values);
  if (given.has("engine") && BACKENDS_WITHOUT_ENGINES.includes(String(config.backend))) {
    throw new FlagError(
      `--engine is for --backend gpu; --backend ${config.backend} has no engines`,
    );
  }
  return config as unknown as TrainConfig;
}

function givenKeys(values: Record<string, unknown>): Set<keyof TrainConfig> {
  return new Set(SPECS.filter((s) => values[s.flag] !== undefined).map((s) => s.key));
}

/** The settings that `args` names explicitly (for `--resume`, where defaults must not count). */
export function givenFlags(args: string[]): Set<keyof TrainConfig> {
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const s of SPECS) options[s.flag] = { type: s.type };
  const { values } = parseArgs({ args, options, strict: true, allowPositionals: false });
  return givenKeys(values);
}

/** The command-line spelling of a setting, e.g. `batchSize` → `--batch-size`. */
export function flagName(key: keyof TrainConfig): string {
  return `--${SPECS.find((s) => s.key === key)?.flag ?? key}`;
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
