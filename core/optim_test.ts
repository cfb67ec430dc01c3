import assert from "node:assert/strict";
import { createRefBackend } from "@simclr/backend-ref";
import { Graph } from "./autograd.ts";
import type { Param } from "./nn.ts";
import { DEFAULT_OPTIMIZER, learningRate, Optimizer } from "./optim.ts";

function setup(decay: boolean) {
  const g = new Graph(createRefBackend());
  const p: Param = {
    name: "w",
    value: g.keep(g.variable(new Float32Array([1, -2]), [2])),
    decay,
  };
  return { g, p };
}

Deno.test("Adam: two steps match PyTorch's update rule computed by hand", async () => {
  const { g, p } = setup(false);
  const opt = new Optimizer(g, [p], { ...DEFAULT_OPTIMIZER, name: "adam" });
  const lr = 0.1;
  // Step 1, g = [0.5, -4]: m̂ = g, v̂ = g², so w −= lr·g/(|g| + ε) = lr·sign(g).
  await g.tidy(() => opt.update([g.constant([0.5, -4], [2])], lr));
  let w = await p.value.read();
  assert.ok(Math.abs(w[0] - 0.9) < 1e-6 && Math.abs(w[1] + 1.9) < 1e-6, `step 1: ${w}`);
  // Step 2, g = [1, 0]: m = [0.9·0.05 + 0.1·1, 0.9·(−0.4)] = [0.145, −0.36], m̂ = m/0.19;
  // v = [0.999·0.00025 + 0.001, 0.999·0.016] = [0.00124975, 0.015984], v̂ = v/0.001999.
  await g.tidy(() => opt.update([g.constant([1, 0], [2])], lr));
  w = await p.value.read();
  const step = (m: number, v: number) => lr * (m / 0.19) / (Math.sqrt(v / 0.001999) + 1e-8);
  assert.ok(Math.abs(w[0] - (0.9 - step(0.145, 0.00124975))) < 1e-5, `step 2: ${w[0]}`);
  assert.ok(Math.abs(w[1] - (-1.9 - step(-0.36, 0.015984))) < 1e-5, `step 2: ${w[1]}`);
});

Deno.test("SGD with momentum and weight decay, and decay skipped for no-decay params", async () => {
  for (const decay of [true, false]) {
    const { g, p } = setup(decay);
    const opt = new Optimizer(g, [p], {
      ...DEFAULT_OPTIMIZER,
      name: "sgd",
      momentum: 0.9,
      weightDecay: 0.1,
    });
    // buf₁ = g + wd·w; w₁ = w − lr·buf₁; buf₂ = 0.9·buf₁ + g + wd·w₁; w₂ = w₁ − lr·buf₂.
    const wd = decay ? 0.1 : 0;
    let w = 1, buf = 0;
    for (let i = 0; i < 2; i++) {
      await g.tidy(() => opt.update([g.constant([1, 1], [2])], 0.5));
      buf = 0.9 * buf + 1 + wd * w;
      w = w - 0.5 * buf;
    }
    const got = await p.value.read();
    assert.ok(Math.abs(got[0] - w) < 1e-6, `decay=${decay}: ${got[0]} vs ${w}`);
  }
});

Deno.test("LARS scales each decayed layer's step by η‖w‖/‖g‖", async () => {
  const { g, p } = setup(true);
  const opt = new Optimizer(g, [p], {
    ...DEFAULT_OPTIMIZER,
    name: "lars",
    trustCoefficient: 0.5,
    weightDecay: 0,
  });
  // ‖w‖ = √5, ‖g‖ = 5 for g = [3, 4]: trust = 0.5·√5/5, w −= lr·trust·g.
  await g.tidy(() => opt.update([g.constant([3, 4], [2])], 1));
  const trust = 0.5 * Math.sqrt(5) / 5;
  const got = await p.value.read();
  assert.ok(Math.abs(got[0] - (1 - 3 * trust)) < 1e-6, `${got[0]}`);
  assert.ok(Math.abs(got[1] - (-2 - 4 * trust)) < 1e-6, `${got[1]}`);
});

Deno.test("optimiser state round-trips through the host", async () => {
  const { g, p } = setup(false);
  const opt = new Optimizer(g, [p], DEFAULT_OPTIMIZER);
  await g.tidy(() => opt.update([g.constant([1, 2], [2])], 0.01));
  const state = await opt.state();
  assert.equal(state.step, 1);
  assert.deepEqual(Object.keys(state.slots).sort(), ["w.m", "w.v"]);
  const twin = new Optimizer(g, [p], DEFAULT_OPTIMIZER);
  twin.load(state);
  assert.deepEqual(await twin.state(), state);
});

Deno.test("learning rate: linear warm-up then cosine decay to zero", () => {
  assert.equal(learningRate(1, 0, 100, 10), 0.1);
  assert.equal(learningRate(1, 9, 100, 10), 1);
  assert.ok(Math.abs(learningRate(1, 10, 100, 10) - 1) < 1e-12);
  assert.ok(Math.abs(learningRate(1, 55, 100, 10) - 0.5) < 1e-12);
  assert.ok(learningRate(1, 100, 100, 10) < 1e-12);
});
