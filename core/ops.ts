/**
 * Differentiable operations, each a backend kernel plus its gradient rule. Composite operations
 * (mean, softmax cross-entropy, L2 normalisation) are built from these in core, never in a
 * backend; batch normalisation is the exception, one fused kernel each way (see `Backend`).
 *
 * @module
 */
import type { BinaryOp, ConvGeometry, PoolGeometry, Shape, UnaryOp } from "./backend.ts";
import type { Tensor } from "./autograd.ts";

function binary(op: BinaryOp, a: Tensor, b: Tensor, backward?: (dy: Tensor) => Tensor[]) {
  const g = a.graph;
  return g.make(g.backend.binary(op, a.data, b.data), [a, b], backward);
}

function unary(op: UnaryOp, x: Tensor, backward?: (dy: Tensor) => Tensor[]) {
  const g = x.graph;
  return g.make(g.backend.unary(op, x.data), [x], backward);
}

/**
 * Sums a broadcast gradient back down to `shape`: over the leading axes broadcasting added and
 * over the axes where `shape` has size 1.
 */
export function sumTo(dy: Tensor, shape: Shape): Tensor {
  if (dy.shape.length === shape.length && dy.shape.every((d, i) => d === shape[i])) return dy;
  const lead = dy.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < dy.shape.length; i++) {
    if (i < lead || (shape[i - lead] === 1 && dy.shape[i] !== 1)) axes.push(i);
  }
  return reshape(sum(dy, axes, false), shape);
}

/** `a + b` with broadcasting. */
export function add(a: Tensor, b: Tensor): Tensor {
  return binary("add", a, b, (dy) => [sumTo(dy, a.shape), sumTo(dy, b.shape)]);
}

/** `a − b` with broadcasting. */
export function sub(a: Tensor, b: Tensor): Tensor {
  return binary("sub", a, b, (dy) => [sumTo(dy, a.shape), sumTo(neg(dy), b.shape)]);
}

/** `a · b` elementwise with broadcasting. */
export function mul(a: Tensor, b: Tensor): Tensor {
  return binary("mul", a, b, (dy) => [sumTo(mul(dy, b), a.shape), sumTo(mul(dy, a), b.shape)]);
}

/** `a / b` elementwise with broadcasting. */
export function div(a: Tensor, b: Tensor): Tensor {
  return binary("div", a, b, (dy) => {
    const da = div(dy, b);
    return [sumTo(da, a.shape), sumTo(neg(div(mul(da, a), b)), b.shape)];
  });
}

/** Multiplies by a host number. */
export function scale(x: Tensor, s: number): Tensor {
  return mul(x, x.graph.scalar(s));
}

/** `−x`. */
export function neg(x: Tensor): Tensor {
  return unary("neg", x, (dy) => [neg(dy)]);
}

/** `eˣ`. */
export function exp(x: Tensor): Tensor {
  const y: Tensor = unary("exp", x, (dy) => [mul(dy, y)]);
  return y;
}

/** Natural logarithm. */
export function log(x: Tensor): Tensor {
  return unary("log", x, (dy) => [div(dy, x)]);
}

/** Square root. */
export function sqrt(x: Tensor): Tensor {
  const y: Tensor = unary("sqrt", x, (dy) => [div(dy, scale(y, 2))]);
  return y;
}

/** `max(x, 0)`. */
export function relu(x: Tensor): Tensor {
  return unary("relu", x, (dy) => [mul(dy, step(x))]);
}

/** 1 where x > 0, else 0 (no gradient). */
export function step(x: Tensor): Tensor {
  return unary("step", x);
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: readonly number[], keepDims = false): Tensor {
  const ax = normaliseAxes(axes, x.shape.length);
  const g = x.graph;
  return g.make(g.backend.reduce("sum", x.data, ax, keepDims), [x], (dy) => {
    const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
    return [broadcastTo(reshape(dy, kept), x.shape)];
  });
}

/** Mean over `axes` (all when omitted). */
export function mean(x: Tensor, axes?: readonly number[], keepDims = false): Tensor {
  const ax = normaliseAxes(axes, x.shape.length);
  const n = ax.reduce((p, a) => p * x.shape[a], 1);
  return scale(sum(x, ax, keepDims), 1 / n);
}

/** Maximum over `axes`, treated as a constant (used to stabilise log-sum-exp). */
export function maxConst(x: Tensor, axes: readonly number[], keepDims = false): Tensor {
  const g = x.graph;
  return g.make(g.backend.reduce("max", x.data, normaliseAxes(axes, x.shape.length), keepDims), []);
}

/** Repeats `x` along size-1 axes to `shape` (its gradient sums back). */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  if (x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i])) return x;
  const g = x.graph;
  return g.make(g.backend.broadcastTo(x.data, shape), [x], (dy) => [sumTo(dy, x.shape)]);
}

/** Same data, new shape. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  if (x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i])) return x;
  const g = x.graph;
  return g.make(g.backend.reshape(x.data, shape), [x], (dy) => [reshape(dy, x.shape)]);
}

/** Concatenates along `axis`. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  const g = xs[0].graph;
  return g.make(g.backend.concat(xs.map((t) => t.data), axis), xs, (dy) => {
    let offset = 0;
    return xs.map((t) => {
      const begin = dy.shape.map((_, i) => (i === axis ? offset : 0));
      offset += t.shape[axis];
      return slice(dy, begin, t.shape);
    });
  });
}

/** The block at `begin` with extent `size`. */
export function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  const g = x.graph;
  return g.make(g.backend.slice(x.data, begin, size), [x], (dy) => [
    pad(dy, x.shape.map((d, i) => [begin[i], d - begin[i] - size[i]] as [number, number])),
  ]);
}

/** Zero padding. */
export function pad(x: Tensor, paddings: readonly (readonly [number, number])[]): Tensor {
  const g = x.graph;
  return g.make(g.backend.pad(x.data, paddings), [x], (dy) => [
    slice(dy, paddings.map((p) => p[0]), x.shape),
  ]);
}

/** Matrix product of 2-D tensors, optionally transposing either side first. */
export function matMul(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
  const g = a.graph;
  return g.make(g.backend.matMul(a.data, b.data, transposeA, transposeB), [a, b], (dy) => {
    if (!transposeA && !transposeB) return [matMul(dy, b, false, true), matMul(a, dy, true, false)];
    if (transposeA && !transposeB) return [matMul(b, dy, false, true), matMul(a, dy, false, false)];
    if (!transposeA && transposeB) return [matMul(dy, b, false, false), matMul(dy, a, true, false)];
    return [matMul(b, dy, true, true), matMul(dy, a, true, true)];
  });
}

/** 2-D convolution, NHWC input and HWIO filter. */
export function conv2d(x: Tensor, w: Tensor, geometry: ConvGeometry): Tensor {
  const g = x.graph;
  return g.make(g.backend.conv2d(x.data, w.data, geometry), [x, w], (dy) => [
    x.requiresGrad
      ? g.make(g.backend.conv2dGradInput(dy.data, w.data, x.shape, geometry), [])
      : null,
    w.requiresGrad
      ? g.make(g.backend.conv2dGradFilter(x.data, dy.data, w.shape, geometry), [])
      : null,
  ]);
}

/** Max pool without padding. */
export function maxPool(x: Tensor, geometry: PoolGeometry): Tensor {
  const g = x.graph;
  return g.make(g.backend.maxPool(x.data, geometry), [x], (dy) => [
    g.make(g.backend.maxPoolGrad(dy.data, x.data, geometry), []),
  ]);
}

/** What {@linkcode batchNorm} returns. */
export interface BatchNormResult {
  /** The normalised output, shape of `x`; gradients flow to `x`, `gamma` and `beta`. */
  readonly y: Tensor;
  /** Per-channel batch mean `[C]`, a constant (for the running statistics). */
  readonly mean: Tensor;
  /** Per-channel biased batch variance `[C]`, a constant (for the running statistics). */
  readonly variance: Tensor;
}

/**
 * Training-mode batch normalisation over every axis but the last (channels, C), as one fused
 * kernel each way: `y = (x − mean)/√(variance + eps)·gamma + beta` with the batch mean and biased
 * variance per channel; `gamma` and `beta` are `[C]`. The gradient of `y` accounts for the
 * statistics' dependence on `x`; `mean` and `variance` themselves carry no gradient.
 */
export function batchNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): BatchNormResult {
  const g = x.graph;
  const out = g.backend.batchNorm(x.data, gamma.data, beta.data, eps);
  const mean = g.make(out.mean, []);
  const variance = g.make(out.variance, []);
  const y = g.make(out.y, [x, gamma, beta], (dy) => {
    const d = g.backend.batchNormGrad(dy.data, x.data, mean.data, variance.data, gamma.data, eps);
    return [g.make(d.dx, []), g.make(d.dGamma, []), g.make(d.dBeta, [])];
  });
  return { y, mean, variance };
}

/** `log Σ exp(x)` over one axis, kept as size 1, stabilised by the (constant) maximum. */
export function logSumExp(x: Tensor, axis: number): Tensor {
  const m = maxConst(x, [axis], true);
  return add(log(sum(exp(sub(x, m)), [axis], true)), m);
}

/** Rows scaled to unit L2 norm; `eps` keeps zero rows finite. */
export function l2NormalizeRows(x: Tensor, eps = 1e-12): Tensor {
  const norm = sqrt(add(sum(mul(x, x), [1], true), x.graph.scalar(eps)));
  return div(x, norm);
}

function normaliseAxes(axes: readonly number[] | undefined, rank: number): number[] {
  if (!axes) return [...Array(rank).keys()];
  const out = [...new Set(axes.map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
  for (const a of out) {
    if (a < 0 || a >= rank) throw new Error(`axis ${a} out of range for rank ${rank}`);
  }
  return out;
}
