/**
 * Batch normalisation forward and backward as plain loops. `x` is viewed as `[n, C]` (every axis
 * but the last folded into rows); each channel's statistics and sums are accumulated in float64,
 * every value is computed in float64 and rounded to float32 once, on store.
 *
 * @module
 */

import { batchNormArgumentError, sizeOf } from "@simclr/core";
import { type Dense, rules } from "./dense.ts";

/** Rows `n` and channels `C` of `x` viewed as `[n, C]`. */
function rowsAndChannels(x: Dense): [number, number] {
  const channels = x.shape[x.shape.length - 1];
  return [sizeOf(x.shape) / channels, channels];
}

/**
 * Per-channel biased mean and variance of `x` in float64 (two passes: the mean first, then the
 * squared deviations from it, which avoids the cancellation of `E[x²] − E[x]²`).
 */
function channelStats(x: Dense): { mean: Float64Array; variance: Float64Array } {
  const [n, channels] = rowsAndChannels(x);
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let row = 0; row < n; row++) {
    for (let c = 0; c < channels; c++) mean[c] += x.data[row * channels + c];
  }
  for (let c = 0; c < channels; c++) mean[c] /= n;
  for (let row = 0; row < n; row++) {
    for (let c = 0; c < channels; c++) {
      const d = x.data[row * channels + c] - mean[c];
      variance[c] += d * d;
    }
  }
  for (let c = 0; c < channels; c++) variance[c] /= n;
  return { mean, variance };
}

/**
 * Training-mode batch norm over every axis but the last: returns `y`, the batch `mean` and the
 * biased batch `variance`. See `Backend.batchNorm` for the formula.
 */
export function batchNorm(
  x: Dense,
  gamma: Dense,
  beta: Dense,
  eps: number,
): { y: Dense; mean: Dense; variance: Dense } {
  const problem = batchNormArgumentError(x.shape, { gamma: gamma.shape, beta: beta.shape }, eps);
  if (problem) rules.fail("batchNorm", problem);
  const [n, channels] = rowsAndChannels(x);
  const { mean, variance } = channelStats(x);
  const y = new Float32Array(x.data.length);
  for (let c = 0; c < channels; c++) {
    const invStd = 1 / Math.sqrt(variance[c] + eps);
    for (let row = 0; row < n; row++) {
      const i = row * channels + c;
      y[i] = (x.data[i] - mean[c]) * invStd * gamma.data[c] + beta.data[c];
    }
  }
  return {
    y: { shape: [...x.shape], data: y },
    mean: { shape: [channels], data: Float32Array.from(mean) },
    variance: { shape: [channels], data: Float32Array.from(variance) },
  };
}

/**
 * Gradient of {@linkcode batchNorm} with respect to `x`, `gamma` and `beta`, from the upstream
 * gradient `dy` and the forward statistics. See `Backend.batchNormGrad` for the formula.
 */
export function batchNormGrad(
  dy: Dense,
  x: Dense,
  mean: Dense,
  variance: Dense,
  gamma: Dense,
  eps: number,
): { dx: Dense; dGamma: Dense; dBeta: Dense } {
  const problem = batchNormArgumentError(
    x.shape,
    { mean: mean.shape, variance: variance.shape, gamma: gamma.shape },
    eps,
    dy.shape,
  );
  if (problem) rules.fail("batchNormGrad", problem);
  const [n, channels] = rowsAndChannels(x);
  const invStd = Float64Array.from(variance.data, (v) => 1 / Math.sqrt(v + eps));
  const normalised = (i: number, c: number) => (x.data[i] - mean.data[c]) * invStd[c];

  // dBeta = Σ dy and dGamma = Σ dy·x̂ per channel.
  const dBeta = new Float64Array(channels);
  const dGamma = new Float64Array(channels);
  for (let row = 0; row < n; row++) {
    for (let c = 0; c < channels; c++) {
      const i = row * channels + c;
      dBeta[c] += dy.data[i];
      dGamma[c] += dy.data[i] * normalised(i, c);
    }
  }

  // dx = gamma·invStd/n · (n·dy − dBeta − x̂·dGamma).
  const dx = new Float32Array(x.data.length);
  for (let row = 0; row < n; row++) {
    for (let c = 0; c < channels; c++) {
      const i = row * channels + c;
      const k = (gamma.data[c] * invStd[c]) / n;
      dx[i] = k * (n * dy.data[i] - dBeta[c] - normalised(i, c) * dGamma[c]);
    }
  }
  return {
    dx: { shape: [...x.shape], data: dx },
    dGamma: { shape: [channels], data: Float32Array.from(dGamma) },
    dBeta: { shape: [channels], data: Float32Array.from(dBeta) },
  };
}
