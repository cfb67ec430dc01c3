/**
 * The encoders and projection heads. Evaluation uses the encoder's output (the features); the
 * projector only serves the contrastive loss, as in SimCLR.
 *
 * @module
 */
import type { Graph, Tensor } from "./autograd.ts";
import {
  BatchNorm,
  type Buffer,
  Conv2d,
  Flatten,
  GlobalAvgPool,
  Linear,
  MaxPool,
  type Module,
  type Param,
  ReLU,
  Sequential,
} from "./nn.ts";
import * as F from "./ops.ts";
import { Rng } from "./random.ts";

/** The model names `--model` accepts. */
export const MODEL_NAMES = ["simple", "small", "resnet10", "resnet18"] as const;
/** One of {@linkcode MODEL_NAMES}. */
export type ModelName = typeof MODEL_NAMES[number];

/** An encoder and its projection head. */
export class SimclrModel implements Module {
  constructor(
    /** A {@linkcode ModelName} for the built-in models; free text for custom ones. */
    readonly name: string,
    readonly encoder: Module,
    readonly projector: Module,
    /** Width of the encoder's features. */
    readonly featureDim: number,
  ) {}
  /** Projections `z` used by the loss. */
  forward(x: Tensor, training: boolean): Tensor {
    return this.projector.forward(this.encoder.forward(x, training), training);
  }
  /** Encoder features `h` (before the projector), for evaluation. */
  features(x: Tensor, training = false): Tensor {
    return this.encoder.forward(x, training);
  }
  params(): Param[] {
    return [...this.encoder.params(), ...this.projector.params()];
  }
  buffers(): Buffer[] {
    return [...this.encoder.buffers(), ...this.projector.buffers()];
  }
  /**
   * Frees every parameter and buffer (batch-norm running statistics) on the device. The model
   * is unusable afterwards; optimiser slots belong to the optimiser (`Optimizer.dispose`).
   */
  dispose(): void {
    for (const t of [...this.params(), ...this.buffers()]) t.value.graph.dispose(t.value);
  }
}

/**
 * Projection-head settings (`--proj-hidden`, `--proj-out`, `--proj-layers`); a field that is
 * absent or 0 takes the model's default ({@linkcode DEFAULT_HEADS}).
 */
export interface HeadOptions {
  /** Width of the hidden layers. */
  projHidden?: number;
  /** Width of the projections `z` the loss sees. */
  projOut?: number;
  /** Linear layers in the head (≥ 1); 1 is a linear head, 3 is SimCLR v2's deeper head. */
  projLayers?: number;
}

/** A resolved projection head: what {@linkcode projectionHead} builds. */
export interface HeadSpec {
  /** Width of the hidden layers (unused when `layers` is 1). */
  hidden: number;
  /** Output width. */
  out: number;
  /** Linear layers. */
  layers: number;
  /**
   * Hidden layers are Linear without bias → batch norm → ReLU (SimCLR v2, the `small` head);
   * otherwise Linear with bias → ReLU.
   */
  batchNorm: boolean;
}

/** Each model's projection head when no head flag is given (the heads before the flags existed). */
export const DEFAULT_HEADS: Readonly<Record<ModelName, HeadSpec>> = {
  simple: { hidden: 256, out: 128, layers: 2, batchNorm: false },
  small: { hidden: 256, out: 128, layers: 2, batchNorm: true },
  resnet10: { hidden: 512, out: 128, layers: 2, batchNorm: false },
  resnet18: { hidden: 512, out: 128, layers: 2, batchNorm: false },
};

/** The head `model` gets with `opts`: each field absent or 0 takes the model's default. */
export function headSpec(model: ModelName, opts: HeadOptions = {}): HeadSpec {
  const d = DEFAULT_HEADS[model];
  const spec = {
    hidden: opts.projHidden || d.hidden,
    out: opts.projOut || d.out,
    layers: opts.projLayers || d.layers,
    batchNorm: d.batchNorm,
  };
  for (
    const [k, v] of [["projHidden", spec.hidden], ["projOut", spec.out], [
      "projLayers",
      spec.layers,
    ]] as const
  ) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(
        `${model} head: ${k} must be a positive integer (or 0 = default); got ${v}`,
      );
    }
  }
  return spec;
}

/**
 * The projection head: `layers − 1` hidden layers of width `hidden`, then a Linear to `out`.
 * Layers are named by their index in the `Sequential` (`projector.0`, `projector.1`, …), which is
 * also the state-dict name of the matching `nn.Sequential` in PyTorch (core/torch_layout.ts); the
 * default heads keep the names and the order of random draws they had before the head options.
 */
export function projectionHead(g: Graph, rng: Rng, nIn: number, spec: HeadSpec): Sequential {
  const layers: Module[] = [];
  let c = nIn;
  for (let i = 0; i < spec.layers - 1; i++) {
    layers.push(new Linear(g, rng, `projector.${layers.length}`, c, spec.hidden, !spec.batchNorm));
    if (spec.batchNorm) layers.push(new BatchNorm(g, `projector.${layers.length}`, spec.hidden));
    layers.push(ReLU());
    c = spec.hidden;
  }
  layers.push(new Linear(g, rng, `projector.${layers.length}`, c, spec.out));
  return new Sequential(layers);
}

/** Conv → batch norm → ReLU, the unit of the `small` and ResNet encoders. */
function convBnRelu(g: Graph, rng: Rng, name: string, cin: number, cout: number): Module[] {
  return [
    new Conv2d(g, rng, `${name}.conv`, cin, cout, 3, 1, 1, false),
    new BatchNorm(g, `${name}.bn`, cout),
    ReLU(),
  ];
}

/**
 * The seed notebook's SimpleCNN: two conv+ReLU+max-pool stages (64 and 128 channels), flattened
 * to 8,192 features; projector 8,192 → 256 → 128 by default (`head` changes it).
 */
export function simpleCnn(g: Graph, rng: Rng, head: HeadOptions = {}): SimclrModel {
  const encoder = new Sequential([
    new Conv2d(g, rng, "encoder.0", 3, 64, 3, 1, 1),
    ReLU(),
    MaxPool(2),
    new Conv2d(g, rng, "encoder.3", 64, 128, 3, 1, 1),
    ReLU(),
    MaxPool(2),
    Flatten(),
  ]);
  const projector = projectionHead(g, rng, 8192, headSpec("simple", head));
  return new SimclrModel("simple", encoder, projector, 8192);
}

/**
 * A compact CNN for CPU budgets: four conv-BN-ReLU blocks (32, 64, 128, 256 channels) with max
 * pools between them and global average pooling, 256 features; projector 256 → 256 → 128 with
 * batch norm in the hidden layer as in SimCLR v2 (by default; `head` changes it).
 */
export function smallCnn(g: Graph, rng: Rng, width = 32, head: HeadOptions = {}): SimclrModel {
  const w = width;
  const encoder = new Sequential([
    ...convBnRelu(g, rng, "encoder.0", 3, w),
    MaxPool(2),
    ...convBnRelu(g, rng, "encoder.1", w, 2 * w),
    MaxPool(2),
    ...convBnRelu(g, rng, "encoder.2", 2 * w, 4 * w),
    MaxPool(2),
    ...convBnRelu(g, rng, "encoder.3", 4 * w, 8 * w),
    GlobalAvgPool(),
  ]);
  const projector = projectionHead(g, rng, 8 * w, headSpec("small", head));
  return new SimclrModel("small", encoder, projector, 8 * w);
}

/** ResNet basic block: two 3×3 conv-BN, identity or 1×1-conv-BN shortcut, ReLU after the sum. */
export class BasicBlock implements Module {
  readonly main: Sequential;
  readonly shortcut?: Sequential;
  constructor(g: Graph, rng: Rng, name: string, cin: number, cout: number, stride: number) {
    this.main = new Sequential([
      new Conv2d(g, rng, `${name}.conv1`, cin, cout, 3, stride, 1, false),
      new BatchNorm(g, `${name}.bn1`, cout),
      ReLU(),
      new Conv2d(g, rng, `${name}.conv2`, cout, cout, 3, 1, 1, false),
      new BatchNorm(g, `${name}.bn2`, cout),
    ]);
    if (stride !== 1 || cin !== cout) {
      this.shortcut = new Sequential([
        new Conv2d(g, rng, `${name}.down`, cin, cout, 1, stride, 0, false),
        new BatchNorm(g, `${name}.down_bn`, cout),
      ]);
    }
  }
  forward(x: Tensor, training: boolean): Tensor {
    const skip = this.shortcut ? this.shortcut.forward(x, training) : x;
    return F.relu(F.add(this.main.forward(x, training), skip));
  }
  params(): Param[] {
    return [...this.main.params(), ...(this.shortcut?.params() ?? [])];
  }
  buffers(): Buffer[] {
    return [...this.main.buffers(), ...(this.shortcut?.buffers() ?? [])];
  }
}

/**
 * A CIFAR ResNet (3×3 stride-1 stem, no max pool) with `blocks` basic blocks in each of its four
 * stages (widths ×1, ×2, ×4, ×8), global average pooling, and projector features → 512 → 128
 * (by default; `head` changes it). ResNet-18 is `[2, 2, 2, 2]`; ResNet-10, one block a stage,
 * costs about half as much.
 */
export function cifarResnet(
  g: Graph,
  rng: Rng,
  name: "resnet10" | "resnet18",
  blocks: readonly number[],
  width: number,
  head: HeadOptions = {},
): SimclrModel {
  const layers: Module[] = [...convBnRelu(g, rng, "encoder.stem", 3, width)];
  let cin = width;
  [1, 2, 4, 8].forEach((mult, stage) => {
    const cout = width * mult;
    for (let b = 0; b < blocks[stage]; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      layers.push(new BasicBlock(g, rng, `encoder.layer${stage + 1}.${b}`, cin, cout, stride));
      cin = cout;
    }
  });
  layers.push(GlobalAvgPool());
  const encoder = new Sequential(layers);
  const projector = projectionHead(g, rng, cin, headSpec(name, head));
  return new SimclrModel(name, encoder, projector, cin);
}

/** ResNet-18 with the CIFAR stem, 512 features at the standard width 64. */
export function resnet18(g: Graph, rng: Rng, width = 64, head: HeadOptions = {}): SimclrModel {
  return cifarResnet(g, rng, "resnet18", [2, 2, 2, 2], width, head);
}

/** ResNet-10 (one basic block a stage) with the CIFAR stem; default width 32, 256 features. */
export function resnet10(g: Graph, rng: Rng, width = 32, head: HeadOptions = {}): SimclrModel {
  return cifarResnet(g, rng, "resnet10", [1, 1, 1, 1], width, head);
}

/** Channel width of each model when `--width` is not given (`simple` has no width setting: 0). */
export const DEFAULT_WIDTHS: Readonly<Record<ModelName, number>> = {
  simple: 0,
  small: 32,
  resnet10: 32,
  resnet18: 64,
};

/** Options for {@linkcode createModel}. */
export interface ModelOptions extends HeadOptions {
  /** Seed for the host-side initialisation. */
  seed: number;
  /** Channel width override (small: first stage, default 32; resnet10: 32; resnet18: 64). */
  width?: number;
}

/** Builds a model by name with weights drawn from `seed`. */
export function createModel(g: Graph, name: ModelName, opts: ModelOptions): SimclrModel {
  const rng = new Rng(opts.seed);
  switch (name) {
    case "simple":
      return simpleCnn(g, rng, opts);
    case "small":
      return smallCnn(g, rng, opts.width ?? DEFAULT_WIDTHS.small, opts);
    case "resnet10":
      return resnet10(g, rng, opts.width ?? DEFAULT_WIDTHS.resnet10, opts);
    case "resnet18":
      return resnet18(g, rng, opts.width ?? DEFAULT_WIDTHS.resnet18, opts);
    default:
      throw new Error(`unknown model "${name}"; expected one of ${MODEL_NAMES.join(", ")}`);
  }
}

/** The model settings a run saves (`run.json`'s and the checkpoint's config); 0 or absent = default. */
export interface ModelSettings extends HeadOptions {
  /** Encoder width override. */
  width?: number;
}

/**
 * The {@linkcode ModelOptions} that rebuild a run's model from its saved config: the one place
 * where the trainer, `evaluate`, `cluster` and `export` turn settings into a model, so that they
 * all build the same one. A config from before the head flags has none of them: default head.
 */
export function modelOptions(config: ModelSettings, seed: number): ModelOptions {
  return {
    seed,
    width: config.width || undefined,
    projHidden: config.projHidden || undefined,
    projOut: config.projOut || undefined,
    projLayers: config.projLayers || undefined,
  };
}

/**
 * The head `model` was built with, read from its layers: Linear layers, the first one's output
 * width (the hidden width; 0 for a one-layer head) and the last one's (the output width). For
 * `deno task export`'s metadata, which `bench/load_torch.py` rebuilds the torch head from.
 */
export function headOf(model: SimclrModel): { hidden: number; out: number; layers: number } {
  const mods = model.projector instanceof Sequential ? model.projector.layers : [model.projector];
  const linears = mods.filter((m): m is Linear => m instanceof Linear);
  if (linears.length === 0) throw new Error(`${model.name}: the projector has no Linear layer`);
  const widthOf = (l: Linear) => l.weight.value.shape[1];
  return {
    hidden: linears.length > 1 ? widthOf(linears[0]) : 0,
    out: widthOf(linears[linears.length - 1]),
    layers: linears.length,
  };
}
