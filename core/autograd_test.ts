// Gradient checks of every differentiable op and the losses against central differences, on the
// reference backend (float32 outputs, so differences use eps = 1e-2 and a 2e-2 relative bound).
import assert from "node:assert/strict";
import { createRefBackend } from "@simclr/backend-ref";
import { Graph, type Tensor } from "./autograd.ts";
import * as F from "./ops.ts";
import { cosineLoss, ntXentLoss, scanLoss } from "./loss.ts";
import { BatchNorm } from "./nn.ts";
import { Rng } from "./random.ts";

function randomArray(rng: Rng, n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.range(lo, hi);
  return a;
}

/**
 * Checks d/dx of `sum(R ⊙ f(xs))` for every input against central differences.
 * Relative error: |a − n| / max(|a|, |n|, 1e-2) per element, must stay under `tol`.
 */
async function gradCheck(
  name: string,
  shapes: number[][],
  f: (xs: Tensor[]) => Tensor,
  opts: { lo?: number; hi?: number; tol?: number; eps?: number; seed?: number } = {},
) {
  const g = new Graph(createRefBackend());
  const rng = new Rng(opts.seed ?? 1);
  const values = shapes.map((s) =>
    randomArray(rng, s.reduce((p, d) => p * d, 1), opts.lo, opts.hi)
  );
  const probe = async (vals: Float32Array[]) =>
    await g.tidy(async () => {
      const xs = vals.map((v, i) => g.variable(v, shapes[i]));
      const y = f(xs);
      return { y: await y.read(), shape: [...y.shape] };
    });
  const { y, shape } = await probe(values);
  const r = randomArray(new Rng(99), y.length);
  const objective = async (vals: Float32Array[]) => {
    const out = (await probe(vals)).y;
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i] * r[i];
    return s;
  };
  const analytic = await g.tidy(async () => {
    const xs = values.map((v, i) => g.variable(v, shapes[i]));
    const out = f(xs);
    const loss = F.sum(F.mul(out, g.constant(r, shape)));
    const grads = g.backward(loss, xs);
    return await Promise.all(grads.map((d) => d!.read()));
  });
  const eps = opts.eps ?? 1e-2;
  const tol = opts.tol ?? 2e-2;
  for (let k = 0; k < values.length; k++) {
    for (let i = 0; i < values[k].length; i++) {
      const plus = values.map((v) => v.slice());
      const minus = values.map((v) => v.slice());
      plus[k][i] += eps;
      minus[k][i] -= eps;
      const numeric = ((await objective(plus)) - (await objective(minus))) / (2 * eps);
      const a = analytic[k][i];
      const rel = Math.abs(a - numeric) / Math.max(Math.abs(a), Math.abs(numeric), 1e-2);
      assert.ok(rel < tol, `${name}: input ${k}[${i}] autograd ${a} vs numeric ${numeric}`);
    }
  }
}

Deno.test("gradients of elementwise ops with broadcasting", async () => {
  await gradCheck("add", [[2, 3], [3]], ([a, b]) => F.add(a, b));
  await gradCheck("sub", [[2, 1, 3], [4, 1]], ([a, b]) => F.sub(a, b));
  await gradCheck("mul", [[2, 3], [2, 1]], ([a, b]) => F.mul(a, b));
  await gradCheck("div", [[2, 3], [3]], ([a, b]) => F.div(a, b), { lo: 0.5, hi: 2 });
  await gradCheck("exp", [[5]], ([a]) => F.exp(a));
  await gradCheck("log", [[5]], ([a]) => F.log(a), { lo: 0.5, hi: 2 });
  await gradCheck("sqrt", [[5]], ([a]) => F.sqrt(a), { lo: 0.5, hi: 2 });
  await gradCheck("relu", [[7]], ([a]) => F.relu(a));
});

Deno.test("gradients of reductions and layout ops", async () => {
  await gradCheck("sum", [[2, 3, 4]], ([a]) => F.sum(a, [0, 2]));
  await gradCheck("mean keepDims", [[2, 3, 4]], ([a]) => F.mean(a, [1], true));
  await gradCheck("concat", [[2, 3], [2, 2]], ([a, b]) => F.concat([a, b], 1));
  await gradCheck("slice", [[4, 5]], ([a]) => F.slice(a, [1, 2], [2, 3]));
  await gradCheck("pad", [[2, 3]], ([a]) => F.pad(a, [[1, 0], [2, 1]]));
  await gradCheck("broadcastTo", [[1, 3]], ([a]) => F.broadcastTo(a, [2, 4, 3]));
  await gradCheck("logSumExp", [[3, 5]], ([a]) => F.logSumExp(a, 1));
  await gradCheck("l2NormalizeRows", [[3, 4]], ([a]) => F.l2NormalizeRows(a));
});

Deno.test("gradients of matMul with every transpose combination", async () => {
  await gradCheck("ab", [[2, 3], [3, 4]], ([a, b]) => F.matMul(a, b));
  await gradCheck("aᵀb", [[3, 2], [3, 4]], ([a, b]) => F.matMul(a, b, true, false));
  await gradCheck("abᵀ", [[2, 3], [4, 3]], ([a, b]) => F.matMul(a, b, false, true));
  await gradCheck("aᵀbᵀ", [[3, 2], [4, 3]], ([a, b]) => F.matMul(a, b, true, true));
});

Deno.test("gradients of conv2d, max pool and batch norm", async () => {
  await gradCheck(
    "conv2d s2 p1",
    [[2, 5, 6, 2], [3, 3, 2, 3]],
    ([x, w]) => F.conv2d(x, w, { stride: 2, pad: 1 }),
  );
  await gradCheck("maxPool", [[1, 4, 4, 2]], ([x]) => F.maxPool(x, { size: 2, stride: 2 }));
  await gradCheck("batchNorm", [[3, 2, 2, 2]], ([x]) => {
    const bn = new BatchNorm(x.graph, "bn", 2);
    return bn.forward(x, true);
  }, { tol: 3e-2 });
});

Deno.test("gradients of the fused F.batchNorm for x, gamma and beta (4-D and 2-D)", async () => {
  // eps 0.1 keeps 1/√(variance + eps) from amplifying the finite-difference error.
  await gradCheck(
    "F.batchNorm 4-D",
    [[3, 2, 2, 3], [3], [3]],
    ([x, gamma, beta]) => F.batchNorm(x, gamma, beta, 0.1).y,
    { tol: 3e-2 },
  );
  await gradCheck(
    "F.batchNorm 2-D",
    [[5, 4], [4], [4]],
    ([x, gamma, beta]) => F.batchNorm(x, gamma, beta, 0.1).y,
    { tol: 3e-2 },
  );
});

Deno.test("BatchNorm training step: output, running statistics and eval mode by hand", async () => {
  const g = new Graph(createRefBackend());
  const bn = new BatchNorm(g, "bn", 2);
  // Channel 0 holds 13, 9, 9, 9 (mean 10, biased variance 3, unbiased 4); channel 1 holds
  // 1, 2, 3, 6 (mean 3, biased variance 3.5, unbiased 14/3). gamma = 1, beta = 0, eps = 1e-5.
  const x = g.constant([13, 1, 9, 2, 9, 3, 9, 6], [2, 2, 1, 2]);
  const y = await bn.forward(x, true).read();
  const expected = [13, 1, 9, 2, 9, 3, 9, 6].map((v, i) =>
    i % 2 === 0 ? (v - 10) / Math.sqrt(3 + 1e-5) : (v - 3) / Math.sqrt(3.5 + 1e-5)
  );
  y.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6, `y[${i}] ${v}`));
  // Momentum 0.1 from (0, 1): mean 0.1·m, variance 0.9 + 0.1·unbiased.
  const runningMean = await bn.runningMean.value.read();
  const runningVar = await bn.runningVar.value.read();
  const want = [[1, 0.3], [0.9 + 0.4, 0.9 + 1.4 / 3]];
  [runningMean, runningVar].forEach((got, k) =>
    got.forEach((v, c) => assert.ok(Math.abs(v - want[k][c]) < 1e-6, `running ${k}[${c}] ${v}`))
  );
  // Eval mode normalises with the running statistics.
  const evalY = await bn.forward(x, false).read();
  const byRunning = [13, 1, 9, 2, 9, 3, 9, 6].map((v, i) =>
    (v - want[0][i % 2]) / Math.sqrt(want[1][i % 2] + 1e-5)
  );
  evalY.forEach((v, i) => assert.ok(Math.abs(v - byRunning[i]) < 1e-5, `eval y[${i}] ${v}`));
});

Deno.test("gradients of the NT-Xent and cosine losses", async () => {
  await gradCheck("ntxent", [[3, 4], [3, 4]], ([a, b]) => ntXentLoss(a, b, 0.5));
  await gradCheck("cosine", [[3, 4], [3, 4]], ([a, b]) => cosineLoss(a, b));
});

Deno.test("NT-Xent equals the hand-computed value", async () => {
  const g = new Graph(createRefBackend());
  // z1 = z2 = [e1, e2], τ = 1: every anchor has its positive at similarity 1 and two others at
  // similarity 0 (its own similarity is masked out), so each term is
  // −log(e / (e + 2)) = log(e + 2) − 1 ≈ 0.551444.
  const z = g.constant([1, 0, 0, 1], [2, 2]);
  const loss = await ntXentLoss(z, z, 1).item();
  assert.ok(Math.abs(loss - (Math.log(Math.E + 2) - 1)) < 1e-6, `got ${loss}`);

  // A general case against the formula evaluated on the host in float64.
  const rng = new Rng(5);
  const n = 4, d = 3, tau = 0.3;
  const a = randomArray(rng, n * d), b = randomArray(rng, n * d);
  const rows: number[][] = [];
  for (const src of [a, b]) {
    for (let i = 0; i < n; i++) {
      const r = Array.from(src.subarray(i * d, i * d + d));
      const norm = Math.hypot(...r);
      rows.push(r.map((v) => v / norm));
    }
  }
  let expected = 0;
  for (let i = 0; i < 2 * n; i++) {
    const sims = rows.map((r) => r.reduce((s, v, k) => s + v * rows[i][k], 0) / tau);
    const pos = sims[(i + n) % (2 * n)];
    const denom = sims.reduce((s, v, j) => (j === i ? s : s + Math.exp(v)), 0);
    expected += -pos + Math.log(denom);
  }
  expected /= 2 * n;
  const got = await ntXentLoss(g.constant(a, [n, d]), g.constant(b, [n, d]), tau).item();
  assert.ok(Math.abs(got - expected) < 1e-5, `got ${got}, expected ${expected}`);
});

Deno.test("NT-Xent masks the self-similarity with −∞, so it stays out at any temperature", async () => {
  const g = new Graph(createRefBackend());
  // One pair, opposite vectors: the positive is the only other view, so the loss is exactly 0 at
  // any τ. A finite mask (−1e9) leaks back in once 1/τ exceeds 1e9: the self logit 1/τ − 1e9
  // then dominates the softmax and the loss becomes ~1.9e10 at τ = 1e-10.
  for (const tau of [0.5, 1e-3, 1e-10]) {
    const loss = await ntXentLoss(g.constant([1, 0], [1, 2]), g.constant([-1, 0], [1, 2]), tau)
      .item();
    assert.ok(Math.abs(loss) < 1e-6, `τ ${tau}: loss ${loss}`);
  }
  // The gradient through the −∞ entries is finite.
  const a = g.variable(new Float32Array([1, 0.5, -0.2, 0.3]), [2, 2]),
    b = g.variable(new Float32Array([0.1, 1, 0.4, -0.7]), [2, 2]);
  const grads = g.backward(ntXentLoss(a, b, 0.1), [a, b]);
  for (const t of grads) for (const v of await t!.read()) assert.ok(Number.isFinite(v), `${v}`);
});

Deno.test("SCAN loss equals the hand-computed value", async () => {
  const g = new Graph(createRefBackend());
  // Logits chosen so the softmaxes are exact: [0, 0] → (1/2, 1/2), [ln 3, 0] → (3/4, 1/4),
  // [0, ln 3] → (1/4, 3/4). Anchors p = (1/2, 1/2), (3/4, 1/4); neighbours q = (3/4, 1/4),
  // (1/4, 3/4). Agreements ⟨p, q⟩ = 1/2 and 3/8, so consistency = (ln 2 + ln 8/3) / 2
  // = 0.836988; mean p = (5/8, 3/8), entropy = 5/8·ln 8/5 + 3/8·ln 8/3 = 0.661563;
  // total = 0.836988 − 5·0.661563 = −2.470828.
  const ln3 = Math.log(3);
  const anchor = g.constant([0, 0, ln3, 0], [2, 2]);
  const neighbour = g.constant([ln3, 0, 0, ln3], [2, 2]);
  const parts = scanLoss(anchor, neighbour, 5);
  const close = (got: number, want: number, what: string) =>
    assert.ok(Math.abs(got - want) < 1e-5, `${what}: got ${got}, expected ${want}`);
  close(await parts.consistency.item(), 0.836988, "consistency");
  close(await parts.entropy.item(), 0.661563, "entropy");
  close(await parts.total.item(), -2.470828, "total");
  // Weight 0 leaves the consistency term alone.
  close(await scanLoss(anchor, neighbour, 0).total.item(), 0.836988, "total at weight 0");
  assert.throws(
    () => scanLoss(anchor, g.constant([0, 0, 0], [1, 3]), 5),
    /both be \[n, k\]; got \[2,2\] and \[1,3\]/,
  );
});

Deno.test("gradients of the SCAN loss and of each of its parts", async () => {
  // Logits in [−2, 2] keep every probability well above the ε guard, so the loss is smooth.
  const opts = { lo: -2, hi: 2 };
  await gradCheck("scan total", [[4, 3], [4, 3]], ([a, b]) => scanLoss(a, b, 5).total, opts);
  await gradCheck(
    "scan consistency",
    [[4, 3], [4, 3]],
    ([a, b]) => scanLoss(a, b).consistency,
    opts,
  );
  // The entropy depends on the anchors only.
  await gradCheck("scan entropy", [[4, 3]], ([a]) => scanLoss(a, a).entropy, opts);
});

Deno.test("tidy frees every intermediate and keeps what it returns", async () => {
  const backend = createRefBackend();
  const g = new Graph(backend);
  const w = g.keep(g.variable(new Float32Array([1, 2, 3, 4]), [2, 2]));
  const before = backend.liveTensors();
  for (let i = 0; i < 5; i++) {
    await g.tidy(() => {
      const x = g.constant([1, 1], [1, 2]);
      const loss = F.sum(F.exp(F.matMul(x, w)));
      g.backward(loss, [w]);
    });
  }
  assert.equal(backend.liveTensors(), before);
  const kept = await g.tidy(() => F.add(w, w));
  assert.equal(backend.liveTensors(), before + 1);
  assert.deepEqual(Array.from(await kept.read()), [2, 4, 6, 8]);
});
