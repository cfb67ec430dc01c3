// A training step leaks no device memory, and a non-finite loss stops before the weights change.
import assert from "node:assert/strict";
import { createGpuBackend } from "@simclr/backend-gpu";
import { createRefBackend } from "@simclr/backend-ref";
import {
  createModel,
  DEFAULT_OPTIMIZER,
  Graph,
  NonFiniteLossError,
  Optimizer,
  Rng,
  trainStep,
} from "@simclr/core";

Deno.test("TF.js wasm: device tensor count is flat over 50 training steps", async () => {
  const backend = await createGpuBackend({ engine: "wasm" });
  const g = new Graph(backend);
  const model = createModel(g, "small", { seed: 1, width: 4 });
  const opt = new Optimizer(g, model.params(), DEFAULT_OPTIMIZER);
  const rng = new Rng(2);
  const view = () => new Float32Array(2 * 3072).map(() => rng.normal());
  const settings = { loss: "ntxent" as const, temperature: 0.5 };
  // One step first: it creates the optimiser's state, which then lives on.
  await trainStep(model, opt, view(), view(), 2, settings, 1e-3);
  const after1 = backend.liveTensors();
  const counts: number[] = [];
  for (let s = 0; s < 50; s++) {
    await trainStep(model, opt, view(), view(), 2, settings, 1e-3);
    counts.push(backend.liveTensors());
  }
  assert.deepEqual(new Set(counts), new Set([after1]), `live tensors: ${after1} then ${counts}`);
  opt.dispose();
});

Deno.test("a NaN loss throws NonFiniteLossError and leaves the weights as they were", async () => {
  const g = new Graph(createRefBackend());
  const model = createModel(g, "small", { seed: 1, width: 2 });
  const opt = new Optimizer(g, model.params(), DEFAULT_OPTIMIZER);
  const before = await Promise.all(model.params().map((p) => p.value.read()));
  const bad = new Float32Array(2 * 3072).fill(NaN);
  await assert.rejects(
    trainStep(model, opt, bad, bad, 2, { loss: "ntxent", temperature: 0.5 }, 1e-3),
    (e: Error) => e instanceof NonFiniteLossError && /loss is NaN/.test(e.message),
  );
  const after = await Promise.all(model.params().map((p) => p.value.read()));
  assert.deepEqual(after, before);
  assert.equal(opt.stepCount, 0);
});
