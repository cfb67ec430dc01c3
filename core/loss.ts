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

/** The parts of {@linkcode scanLoss}, each a scalar tensor. */
export interface ScanLossParts {
  /** What is minimised: `consistency − entropyWeight · entropy`. */
  total: Tensor;
  /** `−mean_i log⟨p_i, q_i⟩`: low when an image and its neighbour get the same cluster. */
  consistency: Tensor;
  /** `H(mean_i p_i)` in nats: high when every cluster is in use. */
  entropy: Tensor;
}

/**
 * Guards the two logarithms of the SCAN loss against a probability (or a product of two) that
 * underflows to 0 in float32; it moves no value anywhere near a realistic one.
 */
const SCAN_EPS = 1e-8;

/** Row softmax `[n, k]`, through log-sum-exp so large logits do not overflow. */
export function softmaxRows(logits: Tensor): Tensor {
  return F.exp(F.sub(logits, F.logSumExp(logits, 1)));
}

/**
 * The SCAN clustering loss (Van Gansbeke et al., ECCV 2020). `anchorLogits[i]` and
 * `neighbourLogits[i]` (each `[n, k]`) are a clustering head's outputs for an image and one of
 * its mined nearest neighbours; with `p = softmax(anchorLogits)`, `q = softmax(neighbourLogits)`
 * and `p̄ = mean_i p_i`:
 *
 *   consistency = −(1/n) Σ_i log(⟨p_i, q_i⟩ + ε),  entropy = −Σ_c p̄_c log(p̄_c + ε),
 *   total = consistency − entropyWeight · entropy,
 *
 * with ε = 1e-8. Gradients flow through both sides, as in the paper (which used the same
 * network for both). The entropy term keeps the head from putting every image in one cluster;
 * SCAN uses weight 5 on CIFAR-10.
 */
export function scanLoss(
  anchorLogits: Tensor,
  neighbourLogits: Tensor,
  entropyWeight = 5,
): ScanLossParts {
  const [n, k] = anchorLogits.shape;
  if (
    anchorLogits.shape.length !== 2 || neighbourLogits.shape.length !== 2 ||
    neighbourLogits.shape[0] !== n || neighbourLogits.shape[1] !== k
  ) {
    throw new Error(
      `scanLoss: anchor and neighbour logits must both be [n, k]; got [${anchorLogits.shape}] and [${neighbourLogits.shape}]`,
    );
  }
  if (!(entropyWeight >= 0)) {
    throw new Error(`scanLoss: entropyWeight must be ≥ 0, got ${entropyWeight}`);
  }
  const g = anchorLogits.graph;
  const eps = g.scalar(SCAN_EPS);
  const p = softmaxRows(anchorLogits);
  const q = softmaxRows(neighbourLogits);
  const agreement = F.sum(F.mul(p, q), [1]);
  const consistency = F.neg(F.mean(F.log(F.add(agreement, eps))));
  const meanP = F.mean(p, [0]);
  const entropy = F.neg(F.sum(F.mul(meanP, F.log(F.add(meanP, eps)))));
  const total = F.sub(consistency, F.scale(entropy, entropyWeight));
  return { total, consistency, entropy };
}
