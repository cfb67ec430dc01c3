/**
 * Contrastive objectives: NT-Xent (SimCLR) and the seed notebook's positive-only cosine loss,
 * kept to show the collapse it causes.
 *
 * @module
 */
import type { Tensor } from "./autograd.ts";
import * as F from "./ops.ts";

/** The loss names `--loss` accepts. */
export const LOSS_NAMES = ["ntxent", "cosine"] as const;
/** One of {@linkcode LOSS_NAMES}. */
export type LossName = typeof LOSS_NAMES[number];

/**
 * Added to the self-similarity logits: −∞, so an anchor's own term is exactly 0 in the softmax
 * whatever τ is (a finite −1e9 stops masking once the logits reach ~1e9, e.g. τ = 1e-9).
 */
const MASKED = -Infinity;

/**
 * NT-Xent over 2N views: `z1[i]` and `z2[i]` (each `[n, d]`) are positives. With rows
 * L2-normalised and `s = z·zᵀ/τ`, each of the 2N anchors scores its positive against all 2N−2
 * others; its own similarity is masked out of the softmax (not subtracted), and the loss is the
 * mean cross-entropy over all 2N anchors, i.e. both directions averaged.
 */
export function ntXentLoss(z1: Tensor, z2: Tensor, temperature: number): Tensor {
  if (!(temperature > 0)) throw new Error(`temperature must be > 0, got ${temperature}`);
  const g = z1.graph;
  const n = z1.shape[0];
  const m = 2 * n;
  const z = F.l2NormalizeRows(F.concat([z1, z2], 0));
  const logits = F.scale(F.matMul(z, z, false, true), 1 / temperature);
  const selfMask = new Float32Array(m * m);
  const positive = new Float32Array(m * m);
  for (let i = 0; i < m; i++) {
    selfMask[i * m + i] = MASKED;
    positive[i * m + ((i + n) % m)] = 1;
  }
  const masked = F.add(logits, g.constant(selfMask, [m, m]));
  // From the unmasked logits: −∞ · 0 would be NaN, and positives are never on the diagonal.
  const positiveLogit = F.sum(F.mul(logits, g.constant(positive, [m, m])), [1], true);
  return F.mean(F.sub(F.logSumExp(masked, 1), positiveLogit));
}

/**
 * The seed's loss, `nn.CosineEmbeddingLoss` with all targets 1: mean of 1 − cos(z1ᵢ, z2ᵢ).
 * It has no negatives, so mapping every image to one vector minimises it: it collapses.
 */
export function cosineLoss(z1: Tensor, z2: Tensor): Tensor {
  const g = z1.graph;
  const cos = F.sum(F.mul(F.l2NormalizeRows(z1), F.l2NormalizeRows(z2)), [1]);
  return F.sub(g.scalar(1), F.mean(cos));
}

/** The loss by name. */
export function contrastiveLoss(
  name: LossName,
  z1: Tensor,
  z2: Tensor,
  temperature: number,
): Tensor {
  return name === "cosine" ? cosineLoss(z1, z2) : ntXentLoss(z1, z2, temperature);
}
