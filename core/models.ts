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
 * to 8,192 features; projector 8,192 → 256 → 128.
 */
export function simpleCnn(g: Graph, rng: Rng): SimclrModel {
  const encoder = new Sequential([
    new Conv2d(g, rng, "encoder.0", 3, 64, 3, 1, 1),
    ReLU(),
    MaxPool(2),
    new Conv2d(g, rng, "encoder.3", 64, 128, 3, 1, 1),
    ReLU(),
    MaxPool(2),
    Flatten(),
  ]);
  const projector = new Sequential([
    new Linear(g, rng, "projector.0", 8 * 8 * 128, 256),
    ReLU(),
    new Linear(g, rng, "projector.2", 256, 128),
  ]);
  return new SimclrModel("simple", encoder, projector, 8192);
}

/**
 * A compact CNN for CPU budgets: four conv-BN-ReLU blocks (32, 64, 128, 256 channels) with max
 * pools between them and global average pooling, 256 features; projector 256 → 256 → 128 with
 * batch norm in the hidden layer as in SimCLR v2.
 */
export function smallCnn(g: Graph, rng: Rng, width = 32): SimclrModel {
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
  const projector = new Sequential([
    new Linear(g, rng, "projector.0", 8 * w, 256, false),
    new BatchNorm(g, "projector.1", 256),
    ReLU(),
    new Linear(g, rng, "projector.3", 256, 128),
  ]);
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
 * stages (widths ×1, ×2, ×4, ×8), global average pooling, and projector features → 512 → 128.
 * ResNet-18 is `[2, 2, 2, 2]`; ResNet-10, one block a stage, costs about half as much.
 */
export function cifarResnet(
  g: Graph,
  rng: Rng,
  name: string,
  blocks: readonly number[],
  width: number,
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
  const projector = new Sequential([
    new Linear(g, rng, "projector.0", cin, 512),
    ReLU(),
    new Linear(g, rng, "projector.2", 512, 128),
  ]);
  return new SimclrModel(name, encoder, projector, cin);
}

/** ResNet-18 with the CIFAR stem, 512 features at the standard width 64. */
export function resnet18(g: Graph, rng: Rng, width = 64): SimclrModel {
  return cifarResnet(g, rng, "resnet18", [2, 2, 2, 2], width);
}

/** ResNet-10 (one basic block a stage) with the CIFAR stem; default width 32, 256 features. */
export function resnet10(g: Graph, rng: Rng, width = 32): SimclrModel {
  return cifarResnet(g, rng, "resnet10", [1, 1, 1, 1], width);
}

/** Channel width of each model when `--width` is not given (`simple` has no width setting: 0). */
export const DEFAULT_WIDTHS: Readonly<Record<ModelName, number>> = {
  simple: 0,
  small: 32,
  resnet10: 32,
  resnet18: 64,
};

/** Options for {@linkcode createModel}. */
export interface ModelOptions {
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
      return simpleCnn(g, rng);
    case "small":
      return smallCnn(g, rng, opts.width ?? DEFAULT_WIDTHS.small);
    case "resnet10":
      return resnet10(g, rng, opts.width ?? DEFAULT_WIDTHS.resnet10);
    case "resnet18":
      return resnet18(g, rng, opts.width ?? DEFAULT_WIDTHS.resnet18);
    default:
      throw new Error(`unknown model "${name}"; expected one of ${MODEL_NAMES.join(", ")}`);
  }
}
