import assert from "node:assert/strict";
import { createRefBackend } from "@simclr/backend-ref";
import { createModel, encodeImages, Graph, Rng, type SimclrModel } from "@simclr/core";
import {
  finetuneAndScore,
  type FinetuneCheckpoint,
  FinetunePaused,
  type FinetuneResume,
  finetuneScan,
} from "./scan_finetune.ts";
import { trainScanHeads } from "./scan_heads.ts";
import { mineNeighbours } from "./scan_neighbours.ts";

const NORM = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] } as const;

/** `n` 32×32 images in four colour families (label = family), with per-pixel noise. */
function colourImages(n: number, seed: number) {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * 3072);
  const labels = new Int32Array(n);
  const base = [[200, 60, 60], [60, 200, 60], [60, 60, 200], [200, 200, 60]];
  for (let i = 0; i < n; i++) {
    labels[i] = i % 4;
    for (let p = 0; p < 1024; p++) {
      for (let c = 0; c < 3; c++) {
        const v = base[labels[i]][c] + 50 * (rng.uniform() - 0.5) + (p % 32) * (c - 1);
        images[i * 3072 + p * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { images, labels, n };
}

/** Normalised float views of the indexed images, without augmentation (deterministic). */
function identityAugment(images: Uint8Array) {
  return (indices: Int32Array) => {
    const out = new Float32Array(indices.length * 3072);
    indices.forEach((index, r) => {
      for (let j = 0; j < 3072; j++) {
        const c = j % 3;
        out[r * 3072 + j] = (images[index * 3072 + j] / 255 - NORM.mean[c]) / NORM.std[c];
      }
    });
    return Promise.resolve(out);
  };
}

async function fixture() {
  const g = new Graph(createRefBackend());
  const model = createModel(g, "small", { seed: 1, width: 2 });
  const train = colourImages(24, 5);
  const test = colourImages(8, 6);
  const x = await encodeImages(model, train.images, { ...NORM });
  const k = 3;
  const neighbours = await mineNeighbours(x, train.n, model.featureDim, k);
  const start = await trainScanHeads(x, train.n, model.featureDim, neighbours, k, {
    backend: g.backend,
    heads: 3,
    epochs: 2,
    batchSize: 12,
    clusters: 4,
  });
  return { g, model, train, test, neighbours, k, start };
}

async function encoderValues(model: SimclrModel): Promise<Float32Array[]> {
  const out = [];
  for (const t of [...model.encoder.params(), ...model.encoder.buffers()]) {
    out.push(await t.value.read());
  }
  return out;
}

Deno.test("finetuneScan changes the encoder's weights and statistics and lowers the SCAN loss", async () => {
  const { model, train, neighbours, k, start } = await fixture();
  assert.equal(start.allLayers.length, 3);
  assert.equal(start.layers, start.allLayers[start.best]);
  const before = await encoderValues(model);
  const projector = await model.projector.params()[0].value.read();
  const fine = await finetuneScan(model, start, train.n, neighbours, k, {
    augment: identityAugment(train.images),
    epochs: 8,
    batchSize: 12,
    lr: 1e-2,
    seed: 3,
  });
  assert.equal(fine.steps, 16);
  assert.equal(fine.epochs, 8);
  assert.equal(fine.stoppedByDeadline, false);
  assert.equal(fine.epochLoss.length, 8);
  assert.equal(fine.window, 2);
  // The loss falls: the last epoch's mean is well below the first's (with ln 4 ≈ 1.39 the most
  // the entropy can give, 0.2 is a real drop, not noise of a fixed-data run).
  assert.ok(
    fine.epochLoss[7] < fine.epochLoss[0] - 0.2,
    `epoch losses ${fine.epochLoss.map((v) => v.toFixed(3))}`,
  );
  // Every encoder tensor moved (weights by Adam, batch-norm running statistics by the forward).
  const after = await encoderValues(model);
  after.forEach((values, i) => {
    const moved = values.reduce((m, v, j) => Math.max(m, Math.abs(v - before[i][j])), 0);
    assert.ok(moved > 1e-4, `encoder tensor ${i} moved by ${moved}`);
  });
  // The projector is not part of SCAN and stays as it was.
  assert.deepEqual(await model.projector.params()[0].value.read(), projector);
  // The chosen head is the lowest-loss one, and its weights are what the fit carries.
  const losses = fine.heads.map((h) => h.loss);
  assert.equal(fine.best, losses.indexOf(Math.min(...losses)));
  assert.equal(fine.fit.layers, fine.fit.allLayers[fine.best]);
  assert.notDeepEqual(fine.fit.layers[0].weight, start.allLayers[fine.best][0].weight);
  assert.equal(fine.fit.allLayers.length, 3);
});

Deno.test("finetuneScan stops at the deadline after one step and refuses mismatched input", async () => {
  const { model, train, neighbours, k, start } = await fixture();
  const fine = await finetuneScan(model, start, train.n, neighbours, k, {
    augment: identityAugment(train.images),
    batchSize: 12,
    deadline: performance.now() - 1,
  });
  assert.equal(fine.steps, 1);
  assert.equal(fine.epochs, 0.5);
  assert.equal(fine.stoppedByDeadline, true);
  assert.equal(fine.window, 1);
  await assert.rejects(
    () =>
      finetuneScan(model, start, train.n, neighbours.subarray(1), k, {
        augment: identityAugment(train.images),
      }),
    /expected 24·3 neighbour indices/,
  );
  await assert.rejects(
    () =>
      finetuneScan(model, start, train.n, neighbours, k, {
        augment: () => Promise.resolve(new Float32Array(5)),
      }),
    /augment gave 5 floats for 48 images/,
  );
});

Deno.test("finetuneAndScore scores the fine-tuned encoder's test clusters and self-labels", async () => {
  const { model, train, test, neighbours, k, start } = await fixture();
  const result = await finetuneAndScore(model, start, train, test, neighbours, k, {
    augment: identityAugment(train.images),
    epochs: 2,
    batchSize: 12,
    lr: 1e-3,
    normalization: NORM,
    selfLabel: true,
    threshold: 0.3,
    viewImages: [train.images],
    topImages: 2,
  });
  assert.equal(result.contingency.length, 4);
  assert.equal(result.contingency.flat().reduce((a, b) => a + b, 0), test.n);
  assert.ok(result.accuracy >= 0.25 && result.accuracy <= 1, `${result.accuracy}`);
  assert.equal(result.steps, 4);
  assert.equal(result.lr, 1e-3);
  assert.equal(result.heads, 3);
  assert.equal(result.topImages.flat().length, Math.min(test.n, result.topImages.flat().length));
  assert.ok(result.selfLabel, "self-label ran");
  assert.equal(result.selfLabel!.contingency.flat().reduce((a, b) => a + b, 0), test.n);
  assert.ok(result.selfLabel!.confident.length >= 1);
  // A budget already spent: one step, the score still comes, self-labelling gives way.
  const late = await finetuneAndScore(model, start, train, test, neighbours, k, {
    augment: identityAugment(train.images),
    batchSize: 12,
    normalization: NORM,
    selfLabel: true,
    viewImages: [train.images],
    deadline: performance.now() + 1,
  });
  assert.equal(late.steps, 1);
  assert.equal(late.stoppedByDeadline, true);
  assert.equal(late.contingency.flat().reduce((a, b) => a + b, 0), test.n);
  assert.equal(late.selfLabel, undefined);
  assert.match(late.selfLabelSkipped!, /not run: re-encoding one augmented view would take/);
  await assert.rejects(
    () =>
      finetuneAndScore(model, start, train, test, neighbours, k, {
        augment: identityAugment(train.images),
        normalization: NORM,
        selfLabel: true,
      }),
    /self-labelling needs augmented view images/,
  );
});

/** A host copy of what `onCheckpoint` hands over: what a resume checkpoint file holds. */
async function saved(c: FinetuneCheckpoint): Promise<FinetuneResume & { reason: string }> {
  const heads = [];
  for (let h = 0; c.headParams.some((p) => p.name.startsWith(`scan.finetune.head${h}.`)); h++) {
    const weight = c.headParams.find((p) => p.name === `scan.finetune.head${h}.0.weight`)!;
    const bias = c.headParams.find((p) => p.name === `scan.finetune.head${h}.0.bias`)!;
    const [nIn, nOut] = weight.value.shape;
    heads.push([{ weight: await weight.value.read(), bias: await bias.value.read(), nIn, nOut }]);
  }
  return {
    reason: c.reason,
    step: c.step,
    stepsPerEpoch: c.stepsPerEpoch,
    epochLoss: [...c.epochLoss],
    history: structuredClone(c.history),
    heads,
    optimizer: structuredClone(c.optimizer),
  };
}

Deno.test("finetuneScan paused mid-epoch and resumed from its checkpoint ends where an unpaused run does", async () => {
  const options = { epochs: 3, batchSize: 12, lr: 1e-2, seed: 3 };
  // Uninterrupted: 3 epochs of 2 steps, a checkpoint at each epoch end.
  const a = await fixture();
  const epochEnds: (FinetuneResume & { reason: string })[] = [];
  const full = await finetuneScan(a.model, a.start, a.train.n, a.neighbours, a.k, {
    ...options,
    augment: identityAugment(a.train.images),
    onCheckpoint: async (c) => void epochEnds.push(await saved(c)),
  });
  assert.deepEqual(epochEnds.map((c) => [c.reason, c.step]), [["epoch", 2], ["epoch", 4], [
    "epoch",
    6,
  ]]);
  assert.equal(full.steps, 6);

  // The same run paused before step 4 (mid-epoch 2): its checkpoint, then FinetunePaused.
  const b = await fixture();
  let pausedAt: (FinetuneResume & { reason: string }) | undefined;
  let encoder: Float32Array[] = [];
  await assert.rejects(
    () =>
      finetuneScan(b.model, b.start, b.train.n, b.neighbours, b.k, {
        ...options,
        augment: identityAugment(b.train.images),
        pause: (step) => step >= 3 ? "max-steps" : undefined,
        onCheckpoint: async (c) => {
          if (c.reason !== "max-steps") return;
          pausedAt = await saved(c);
          encoder = await encoderValues(b.model);
        },
      }),
    (e) => e instanceof FinetunePaused && e.step === 3 && e.reason === "max-steps",
  );
  assert.equal(pausedAt?.step, 3);
  assert.equal(pausedAt!.epochLoss.length, 2, "the second epoch's partial loss is saved");

  // A new model given the saved encoder, heads and Adam state continues to the same end.
  const c = createModel(b.g, "small", { seed: 1, width: 2 });
  [...c.encoder.params(), ...c.encoder.buffers()].forEach((t, i) => {
    b.g.dispose(t.value);
    t.value = b.g.keepAsVariable(b.g.constant(encoder[i], [...t.value.shape]));
  });
  const resumed = await finetuneScan(c, b.start, b.train.n, b.neighbours, b.k, {
    ...options,
    augment: identityAugment(b.train.images),
    resume: pausedAt,
  });
  assert.equal(resumed.steps, 6);
  // Same operations in the same order on the reference backend: equal to the last bit
  // (tolerance 0), encoder weights and statistics, heads, losses and the head chosen.
  assert.deepEqual(await encoderValues(c), await encoderValues(a.model));
  assert.deepEqual(resumed.fit.allLayers, full.fit.allLayers);
  assert.deepEqual(resumed.epochLoss, full.epochLoss);
  assert.equal(resumed.best, full.best);
  assert.deepEqual(resumed.heads, full.heads);

  // Killed after the last epoch's checkpoint: a resume runs no step and gives the same choice.
  const done = await finetuneScan(a.model, a.start, a.train.n, a.neighbours, a.k, {
    ...options,
    augment: identityAugment(a.train.images),
    resume: epochEnds[2],
  });
  assert.equal(done.steps, 6);
  assert.deepEqual(done.heads, full.heads);
  assert.deepEqual(done.fit.allLayers, full.fit.allLayers);
  // A checkpoint of another batch size is refused.
  await assert.rejects(
    () =>
      finetuneScan(a.model, a.start, a.train.n, a.neighbours, a.k, {
        ...options,
        batchSize: 8,
        augment: identityAugment(a.train.images),
        resume: epochEnds[0],
      }),
    /checkpoint has 2 steps per epoch, this run 3/,
  );
});
