/**
 * One SimCLR training step, shared by training, `verify` and `bench` so all three run the very
 * same computation: both views in one batch (batch norm sees all 2N), projections, contrastive
 * loss, gradients, optimiser update.
 *
 * @module
 */
import type { Tensor } from "./autograd.ts";
import { contrastiveLoss, type LossName } from "./loss.ts";
import type { SimclrModel } from "./models.ts";
import * as F from "./ops.ts";
import type { Optimizer } from "./optim.ts";

/** Loss settings of a step. */
export interface StepLoss {
  /** `ntxent` (SimCLR) or `cosine` (the seed's, collapses). */
  loss: LossName;
  /** NT-Xent temperature τ. */
  temperature: number;
}

/**
 * The forward half: both views through the model in one batch, then the loss on the two halves
 * of the projections.
 */
export function simclrLoss(
  model: SimclrModel,
  view1: Tensor,
  view2: Tensor,
  settings: StepLoss,
): Tensor {
  const n = view1.shape[0];
  const z = model.forward(F.concat([view1, view2], 0), true);
  const d = z.shape[1];
  const z1 = F.slice(z, [0, 0], [n, d]);
  const z2 = F.slice(z, [n, 0], [n, d]);
  return contrastiveLoss(settings.loss, z1, z2, settings.temperature);
}

/**
 * Forward and backward for two views `[n,32,32,3]` each. Returns the loss tensor and one gradient
 * per `model.params()` entry; call inside a `graph.tidy` to free the intermediates.
 */
export function forwardBackward(
  model: SimclrModel,
  view1: Tensor,
  view2: Tensor,
  settings: StepLoss,
): { loss: Tensor; grads: (Tensor | null)[] } {
  const loss = simclrLoss(model, view1, view2, settings);
  const grads = view1.graph.backward(loss, model.params().map((p) => p.value));
  return { loss, grads };
}

/** Result of {@linkcode trainStep}. */
export interface StepResult {
  /** The loss before the update. */
  loss: number;
}

/**
 * A full training step on host views (normalised NHWC float32): upload, forward, backward,
 * update with learning rate `lr`. Throws on a non-finite loss before touching the weights.
 */
export async function trainStep(
  model: SimclrModel,
  optimizer: Optimizer,
  view1: Float32Array,
  view2: Float32Array,
  n: number,
  settings: StepLoss,
  lr: number,
): Promise<StepResult> {
  const g = optimizer.graph;
  return await g.tidy(async () => {
    const shape = [n, 32, 32, 3];
    const { loss, grads } = forwardBackward(
      model,
      g.constant(view1, shape),
      g.constant(view2, shape),
      settings,
    );
    const value = await loss.item();
    if (!Number.isFinite(value)) {
      throw new NonFiniteLossError(value);
    }
    await optimizer.update(grads, lr);
    return { loss: value };
  });
}

/** Raised when the loss is NaN or infinite; training stops and keeps the last good checkpoint. */
export class NonFiniteLossError extends Error {
  constructor(readonly value: number) {
    super(
      // The trainer appends which checkpoint (if any) is left to resume from.
      `loss is ${value}: training stopped before the update. Lower --lr or check the data.`,
    );
    this.name = "NonFiniteLossError";
  }
}
