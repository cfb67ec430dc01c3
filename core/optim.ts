/**
 * Optimisers (Adam, SGD with momentum, LARS) with PyTorch's update rules, and the learning-rate
 * schedule (linear warm-up, cosine decay). Updates run on the device; state is saved to the host
 * only for checkpoints.
 *
 * @module
 */
import type { Graph, Tensor } from "./autograd.ts";
import type { Param } from "./nn.ts";
import * as F from "./ops.ts";

/** The optimiser names `--optimizer` accepts. */
export const OPTIMIZER_NAMES = ["adam", "sgd", "lars"] as const;
/** One of {@linkcode OPTIMIZER_NAMES}. */
export type OptimizerName = typeof OPTIMIZER_NAMES[number];

/** Hyper-parameters shared by the optimisers (each uses the ones it needs). */
export interface OptimizerConfig {
  /** Which update rule. */
  name: OptimizerName;
  /** L2 weight decay, applied only to params with `decay` (not biases or batch-norm). */
  weightDecay: number;
  /** SGD/LARS momentum. */
  momentum: number;
  /** LARS trust coefficient η. */
  trustCoefficient: number;
  /** Adam β₁. */
  beta1: number;
  /** Adam β₂. */
  beta2: number;
  /** Adam ε. */
  epsilon: number;
}

/** Defaults: Adam with the seed's settings, SGD/LARS momentum 0.9, LARS η = 0.001. */
export const DEFAULT_OPTIMIZER: OptimizerConfig = {
  name: "adam",
  weightDecay: 0,
  momentum: 0.9,
  trustCoefficient: 0.001,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
};

/** Host copy of optimiser state for checkpoints: the step count and one array per slot. */
export interface OptimizerState {
  step: number;
  slots: Record<string, { shape: number[]; data: Float32Array }>;
}

/** Applies gradients to parameters on the device. */
export class Optimizer {
  #step = 0;
  /** Per-parameter slot tensors (`m`, `v` for Adam; `momentum` for SGD/LARS), kept out of scopes. */
  readonly #slots = new Map<string, Tensor>();

  constructor(readonly graph: Graph, readonly params: Param[], readonly config: OptimizerConfig) {}

  /** Number of updates applied so far. */
  get stepCount(): number {
    return this.#step;
  }

  /**
   * One update with learning rate `lr`; `grads[i]` belongs to `params[i]` (null: skipped).
   * Old parameter and slot tensors are freed; new ones are kept.
   */
  async update(grads: readonly (Tensor | null)[], lr: number): Promise<void> {
    const g = this.graph;
    const c = this.config;
    this.#step++;
    const t = this.#step;
    await g.tidy(() =>
      g.noGrad(() => {
        this.params.forEach((p, i) => {
          const grad0 = grads[i];
          if (!grad0) return;
          const w = p.value;
          const decay = p.decay && c.weightDecay > 0;
          const grad = decay ? F.add(grad0, F.scale(w, c.weightDecay)) : grad0;
          let delta: Tensor;
          if (c.name === "adam") {
            const m = this.#blend(`${p.name}.m`, grad, c.beta1, 1 - c.beta1);
            const v = this.#blend(`${p.name}.v`, F.mul(grad, grad), c.beta2, 1 - c.beta2);
            const mHat = F.scale(m, 1 / (1 - c.beta1 ** t));
            const vHat = F.scale(v, 1 / (1 - c.beta2 ** t));
            delta = F.scale(F.div(mHat, F.add(F.sqrt(vHat), g.scalar(c.epsilon))), lr);
          } else if (c.name === "sgd") {
            delta = F.scale(this.#blend(`${p.name}.momentum`, grad, c.momentum, 1), lr);
          } else {
            // LARS: layer-wise trust ratio η‖w‖/‖g‖ for decayed weights; 1 where a norm is 0.
            let scaled = F.scale(grad, lr);
            if (p.decay) {
              const wNorm = F.sqrt(F.sum(F.mul(w, w)));
              const gNorm = F.sqrt(F.sum(F.mul(grad, grad)));
              const ratio = F.div(
                F.scale(wNorm, c.trustCoefficient),
                F.add(gNorm, g.scalar(1e-20)),
              );
              const valid = F.mul(F.step(wNorm), F.step(gNorm));
              const trust = F.add(F.mul(valid, ratio), F.sub(g.scalar(1), valid));
              scaled = F.mul(scaled, trust);
            }
            delta = this.#blend(`${p.name}.momentum`, scaled, c.momentum, 1);
          }
          p.value = g.keepAsVariable(F.sub(w, delta));
          g.dispose(w);
        });
      })
    );
  }

  /** slot ← a·slot + b·x (slot starts at 0); returns the new slot, kept. */
  #blend(key: string, x: Tensor, a: number, b: number): Tensor {
    const g = this.graph;
    const old = this.#slots.get(key);
    const bx = b === 1 ? x : F.scale(x, b);
    const next = g.keep(old ? F.add(F.scale(old, a), bx) : F.add(bx, g.scalar(0)));
    if (old) g.dispose(old);
    this.#slots.set(key, next);
    return next;
  }

  /** Copies the state to the host. */
  async state(): Promise<OptimizerState> {
    const slots: OptimizerState["slots"] = {};
    for (const [k, v] of this.#slots) slots[k] = { shape: [...v.shape], data: await v.read() };
    return { step: this.#step, slots };
  }

  /** Restores state saved by {@linkcode Optimizer.state}. */
  load(state: OptimizerState): void {
    for (const v of this.#slots.values()) this.graph.dispose(v);
    this.#slots.clear();
    this.#step = state.step;
    for (const [k, s] of Object.entries(state.slots)) {
      this.#slots.set(k, this.graph.keep(this.graph.constant(s.data, s.shape)));
    }
  }

  /** Frees the slot tensors. */
  dispose(): void {
    for (const v of this.#slots.values()) this.graph.dispose(v);
    this.#slots.clear();
  }
}

/** Learning rate at `step` of `total`: linear warm-up over `warmup` steps, then cosine to 0. */
export function learningRate(base: number, step: number, total: number, warmup: number): number {
  if (warmup > 0 && step < warmup) return (base * (step + 1)) / warmup;
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return base * 0.5 * (1 + Math.cos(Math.PI * progress));
}
