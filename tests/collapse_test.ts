// The seed's positive-only cosine loss collapses representations; NT-Xent, with negatives, does
// not. A tiny MLP on 64 random images whose two "views" differ by noise, trained both ways from
// the same weights; the monitor is the per-dimension std of the L2-normalised projections.
import assert from "node:assert/strict";
import { createRefBackend } from "@simclr/backend-ref";
import {
  DEFAULT_OPTIMIZER,
  featureStd,
  Flatten,
  Graph,
  Linear,
  type LossName,
  Optimizer,
  ReLU,
  Rng,
  Sequential,
  SimclrModel,
  trainStep,
} from "@simclr/core";

const N = 32;
const IMAGE = 32 * 32 * 3;

async function train(loss: LossName): Promise<{ before: number; after: number }> {
  const g = new Graph(createRefBackend());
  const rng = new Rng(3);
  const encoder = new Sequential([Flatten(), new Linear(g, rng, "enc", IMAGE, 32), ReLU()]);
  const projector = new Sequential([new Linear(g, rng, "proj", 32, 16)]);
  const model = new SimclrModel("mlp", encoder, projector, 32);
  const opt = new Optimizer(g, model.params(), DEFAULT_OPTIMIZER);
  const data = new Float32Array(N * IMAGE);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  const noisy = () => data.map((v) => v + 0.3 * rng.normal());
  const monitor = async () =>
    await g.tidy(async () => {
      const z = model.forward(g.constant(data, [N, 32, 32, 3]), false);
      return featureStd(await z.read(), N, 16);
    });
  const before = await monitor();
  for (let step = 0; step < 80; step++) {
    await trainStep(model, opt, noisy(), noisy(), N, { loss, temperature: 0.5 }, 3e-2);
  }
  return { before, after: await monitor() };
}

Deno.test("cosine loss collapses the projections; NT-Xent keeps them spread", async () => {
  const cosine = await train("cosine");
  const ntxent = await train("ntxent");
  console.log(
    `feature std: cosine ${cosine.before.toFixed(4)} → ${cosine.after.toFixed(4)}, ` +
      `ntxent ${ntxent.before.toFixed(4)} → ${ntxent.after.toFixed(4)}`,
  );
  // Collapse: at most a fifth of the starting spread is left. NT-Xent: at least half, and more
  // than five times the collapsed run's.
  assert.ok(cosine.after < 0.2 * cosine.before, `cosine did not collapse: ${cosine.after}`);
  assert.ok(ntxent.after > 0.5 * ntxent.before, `ntxent lost its spread: ${ntxent.after}`);
  assert.ok(ntxent.after > 5 * cosine.after);
});
