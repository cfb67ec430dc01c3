/**
 * Layers. Parameters are initialised on the host from a seeded {@linkcode Rng}, so every backend
 * starts from bit-identical weights; a layer holds its parameters as kept (scope-free) tensors.
 *
 * @module
 */
import type { Graph, Tensor } from "./autograd.ts";
import * as F from "./ops.ts";
import type { Rng } from "./random.ts";

/** A trainable tensor with a stable name (for checkpoints) and whether weight decay applies. */
export interface Param {
  /** Dotted path, e.g. `encoder.0.weight`. */
  readonly name: string;
  /** The current value; optimisers replace it. */
  value: Tensor;
  /** False for biases and batch-norm scales/shifts (no weight decay, no LARS adaptation). */
  readonly decay: boolean;
}

/** Non-trainable state that is still saved (batch-norm running statistics). */
export interface Buffer {
  /** Dotted path. */
  readonly name: string;
  /** The current value. */
  value: Tensor;
}

/** A layer or a composition of layers. */
export interface Module {
  /** Forward pass; `training` switches batch norm between batch and running statistics. */
  forward(x: Tensor, training: boolean): Tensor;
  /** Trainable parameters, in a fixed order. */
  params(): Param[];
  /** Saved non-trainable state, in a fixed order. */
  buffers(): Buffer[];
}

function uniformValues(rng: Rng, n: number, bound: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.range(-bound, bound);
  return v;
}

function param(g: Graph, name: string, values: Float32Array, shape: number[], decay: boolean) {
  return { name, value: g.keep(g.variable(values, shape)), decay };
}

function buffer(g: Graph, name: string, values: Float32Array, shape: number[]): Buffer {
  return { name, value: g.keep(g.constant(values, shape)) };
}

/**
 * 2-D convolution, HWIO weights. Initialised like PyTorch's default: U(−b, b) with
 * b = 1/√fan_in for weight and bias.
 */
export class Conv2d implements Module {
  readonly weight: Param;
  readonly bias?: Param;
  constructor(
    g: Graph,
    rng: Rng,
    name: string,
    cin: number,
    cout: number,
    readonly kernel: number,
    readonly stride = 1,
    readonly pad: number = Math.floor(kernel / 2),
    withBias = true,
  ) {
    const fanIn = cin * kernel * kernel;
    const b = 1 / Math.sqrt(fanIn);
    const wShape = [kernel, kernel, cin, cout];
    this.weight = param(g, `${name}.weight`, uniformValues(rng, fanIn * cout, b), wShape, true);
    if (withBias) this.bias = param(g, `${name}.bias`, uniformValues(rng, cout, b), [cout], false);
  }
  forward(x: Tensor): Tensor {
    const y = F.conv2d(x, this.weight.value, { stride: this.stride, pad: this.pad });
    return this.bias ? F.add(y, this.bias.value) : y;
  }
  params(): Param[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }
  buffers(): Buffer[] {
    return [];
  }
}

/** Fully connected layer, weight `[in, out]`, PyTorch's default initialisation. */
export class Linear implements Module {
  readonly weight: Param;
  readonly bias?: Param;
  constructor(g: Graph, rng: Rng, name: string, nIn: number, nOut: number, withBias = true) {
    const b = 1 / Math.sqrt(nIn);
    this.weight = param(g, `${name}.weight`, uniformValues(rng, nIn * nOut, b), [nIn, nOut], true);
    if (withBias) this.bias = param(g, `${name}.bias`, uniformValues(rng, nOut, b), [nOut], false);
  }
  forward(x: Tensor): Tensor {
    const y = F.matMul(x, this.weight.value);
    return this.bias ? F.add(y, this.bias.value) : y;
  }
  params(): Param[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }
  buffers(): Buffer[] {
    return [];
  }
}

/**
 * Batch normalisation over every axis but the last (channels), PyTorch semantics: training uses
 * the biased batch variance to normalise and updates the running variance with the unbiased one
 * (momentum 0.1); evaluation uses the running statistics.
 */
export class BatchNorm implements Module {
  readonly gamma: Param;
  readonly beta: Param;
  readonly runningMean: Buffer;
  readonly runningVar: Buffer;
  constructor(
    g: Graph,
    name: string,
    readonly channels: number,
    readonly momentum = 0.1,
    readonly eps = 1e-5,
  ) {
    this.gamma = param(g, `${name}.gamma`, new Float32Array(channels).fill(1), [channels], false);
    this.beta = param(g, `${name}.beta`, new Float32Array(channels), [channels], false);
    this.runningMean = buffer(g, `${name}.running_mean`, new Float32Array(channels), [channels]);
    this.runningVar = buffer(
      g,
      `${name}.running_var`,
      new Float32Array(channels).fill(1),
      [channels],
    );
  }
  forward(x: Tensor, training: boolean): Tensor {
    const g = x.graph;
    if (training) {
      // One fused kernel each way (the composed form was ~45% of a CNN step on the CPU).
      const { y, mean, variance } = F.batchNorm(x, this.gamma.value, this.beta.value, this.eps);
      this.#updateRunning(g, mean, variance, x.size / this.channels);
      return y;
    }
    const mean = this.runningMean.value;
    const variance = this.runningVar.value;
    const inv = F.div(g.scalar(1), F.sqrt(F.add(variance, g.scalar(this.eps))));
    const scaleBy = F.mul(inv, this.gamma.value);
    return F.add(F.mul(F.sub(x, mean), scaleBy), this.beta.value);
  }
  #updateRunning(g: Graph, mean: Tensor, variance: Tensor, count: number) {
    g.noGrad(() => {
      const m = this.momentum;
      const unbiased = F.scale(variance, count / Math.max(count - 1, 1));
      const newMean = F.add(F.scale(this.runningMean.value, 1 - m), F.scale(mean, m));
      const newVar = F.add(F.scale(this.runningVar.value, 1 - m), F.scale(unbiased, m));
      g.dispose(this.runningMean.value);
      g.dispose(this.runningVar.value);
      this.runningMean.value = g.keep(newMean);
      this.runningVar.value = g.keep(newVar);
    });
  }
  params(): Param[] {
    return [this.gamma, this.beta];
  }
  buffers(): Buffer[] {
    return [this.runningMean, this.runningVar];
  }
}

/** A stateless function as a module. */
export class Lambda implements Module {
  constructor(readonly fn: (x: Tensor) => Tensor) {}
  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
  params(): Param[] {
    return [];
  }
  buffers(): Buffer[] {
    return [];
  }
}

/** `max(x, 0)`. */
export const ReLU = (): Lambda => new Lambda(F.relu);

/** Max pool with a square window. */
export const MaxPool = (size: number, stride = size): Lambda =>
  new Lambda((x) => F.maxPool(x, { size, stride }));

/** Mean over the spatial axes: `[n,h,w,c]` → `[n,c]`. */
export const GlobalAvgPool = (): Lambda => new Lambda((x) => F.mean(x, [1, 2]));

/** `[n, ...]` → `[n, rest]`, in NHWC order. */
export const Flatten = (): Lambda =>
  new Lambda((x) => F.reshape(x, [x.shape[0], x.size / x.shape[0]]));

/** Modules applied in order. */
export class Sequential implements Module {
  constructor(readonly layers: Module[]) {}
  forward(x: Tensor, training: boolean): Tensor {
    let y = x;
    for (const layer of this.layers) y = layer.forward(y, training);
    return y;
  }
  params(): Param[] {
    return this.layers.flatMap((l) => l.params());
  }
  buffers(): Buffer[] {
    return this.layers.flatMap((l) => l.buffers());
  }
}
