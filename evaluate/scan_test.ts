import assert from "node:assert/strict";
import { createRefBackend } from "@simclr/backend-ref";
import { Rng } from "@simclr/core";
import { scanRepresentation, scanSweep } from "./scan.ts";
import { mostConfident, predictClusters, selfLabel, trainScanHeads } from "./scan_heads.ts";
import { mineNeighbours, neighbourPurity } from "./scan_neighbours.ts";
import { gaussianBlobs } from "./test_data.ts";

/** Unit vectors at the given angles (degrees), scaled by `r` to show only direction counts. */
function circle(degrees: number[], r = [1, 3, 0.5, 2]): Float32Array {
  return Float32Array.from(degrees.flatMap((a, i) => {
    const t = (a * Math.PI) / 180;
    return [r[i % r.length] * Math.cos(t), r[i % r.length] * Math.sin(t)];
  }));
}

Deno.test("mineNeighbours: cosine neighbours by hand, nearest first, never the row itself", async () => {
  const x = circle([0, 10, 30, 100]);
  const expected = [1, 2, 0, 2, 1, 0, 2, 1];
  assert.deepEqual([...(await mineNeighbours(x, 4, 2, 2))], expected);
  assert.deepEqual(
    [...(await mineNeighbours(x, 4, 2, 2, { backend: createRefBackend(), chunkRows: 3 }))],
    expected,
  );
  await assert.rejects(() => mineNeighbours(x, 4, 2, 4), /k must be an integer in \[1, 3\]/);
});

Deno.test("mineNeighbours matches a brute-force sort on random data, in chunks", async () => {
  const rng = new Rng(4);
  const n = 37, d = 5, k = 6;
  const x = Float32Array.from({ length: n * d }, () => rng.normal());
  const got = await mineNeighbours(x, n, d, k, { chunkRows: 8 });
  const unit = (i: number) => {
    const v = [...x.subarray(i * d, i * d + d)];
    const norm = Math.hypot(...v);
    return v.map((a) => a / norm);
  };
  for (let i = 0; i < n; i++) {
    const ui = unit(i);
    const sims = Array.from({ length: n }, (_, j) => ui.reduce((s, a, c) => s + a * unit(j)[c], 0));
    const order = [...sims.keys()].filter((j) => j !== i).sort((a, b) => sims[b] - sims[a]);
    assert.deepEqual([...got.subarray(i * k, (i + 1) * k)], order.slice(0, k), `row ${i}`);
  }
});

Deno.test("neighbourPurity: share of same-class neighbours for every k, by hand", () => {
  // Row 0 (class 0): neighbours 1 (0), 2 (1) → 1, 1/2. Row 1 (0): 2 (1), 0 (0) → 0, 1/2.
  // Row 2 (1): 3 (1), 0 (0) → 1, 1/2. Row 3 (1): 0 (0), 1 (0) → 0, 0.
  const purity = neighbourPurity(Int32Array.of(1, 2, 2, 0, 3, 0, 0, 1), 2, [0, 0, 1, 1]);
  assert.deepEqual(purity, [0.5, 0.375]);
  assert.throws(() => neighbourPurity(Int32Array.of(1, 2), 2, [0, 0]), /expected 2·2/);
});

/** Four well-separated blobs in 8 dimensions: train on 400 points, test on the other 200. */
function blobData() {
  const blobs = gaussianBlobs(4, 150, 8, 1, 0.15, 6);
  const nTrain = 400, d = 8;
  return {
    d,
    train: { x: blobs.x.slice(0, nTrain * d), labels: blobs.labels.slice(0, nTrain), n: nTrain },
    test: { x: blobs.x.slice(nTrain * d), labels: blobs.labels.slice(nTrain), n: 200 },
  };
}

Deno.test("SCAN heads recover separated blobs, the lowest-loss head is kept, its parts add up", async () => {
  const { d, train, test } = blobData();
  const backend = createRefBackend();
  const k = 5;
  const neighbours = await mineNeighbours(train.x, train.n, d, k);
  const common = { backend, clusters: 4, heads: 3, epochs: 15, batchSize: 64, lr: 0.01, seed: 1 };
  const fit = await trainScanHeads(train.x, train.n, d, neighbours, k, common);
  assert.equal(fit.heads.length, 3);
  assert.equal(fit.epochs, 15);
  assert.equal(fit.heads[fit.best].loss, Math.min(...fit.heads.map((h) => h.loss)));
  // Four equal clusters: the mean prediction's entropy reaches ln 4 = 1.386.
  assert.ok(fit.heads[fit.best].entropy > 1.3, `entropy ${fit.heads[fit.best].entropy}`);
  const scored = await scanRepresentation(train, test, d, { ...common, k, seeds: [1, 2] });
  assert.ok(scored.accuracy > 0.97, `ACC ${scored.accuracy}`);
  assert.ok(scored.nmi > 0.9, `NMI ${scored.nmi}`);
  assert.equal(scored.seeds.length, 2);
  assert.equal(scored.seeds[0].accuracy, scored.accuracy);
  assert.deepEqual(scored.contingency.flat().reduce((a, b) => a + b), 200);
  assert.equal(scored.neighbourPurity.length, 50);
  assert.ok(scored.neighbourPurity[0] > 0.97, `purity ${scored.neighbourPurity[0]}`);

  // The reported parts add up: total = consistency − 5 · entropy.
  for (const h of fit.heads) {
    assert.ok(Math.abs(h.loss - (h.consistency - 5 * h.entropy)) < 1e-4, JSON.stringify(h));
  }
});

Deno.test("SCAN with a hidden layer and augmented views, and the deadline stops after one epoch", async () => {
  const { d, train, test } = blobData();
  const backend = createRefBackend();
  const rng = new Rng(9);
  const views = [0, 1].map(() => train.x.map((v) => v + 0.05 * rng.normal()));
  const neighbours = await mineNeighbours(train.x, train.n, d, 5);
  const fit = await trainScanHeads(train.x, train.n, d, neighbours, 5, {
    backend,
    clusters: 4,
    heads: 2,
    epochs: 15,
    batchSize: 64,
    lr: 0.01,
    hidden: 16,
    views,
  });
  assert.deepEqual(fit.layers.map((l) => [l.nIn, l.nOut]), [[8, 16], [16, 4]]);
  const prediction = predictClusters(fit, test.x, test.n);
  const counts = [0, 0, 0, 0];
  for (const c of prediction.assignments) counts[c]++;
  assert.ok(Math.min(...counts) > 30, `cluster sizes ${counts}`);
  const stopped = await trainScanHeads(train.x, train.n, d, neighbours, 5, {
    backend,
    clusters: 4,
    heads: 1,
    epochs: 10,
    deadline: performance.now() - 1,
  });
  assert.equal(stopped.epochs, 1);
  await assert.rejects(
    () =>
      trainScanHeads(train.x, train.n, d, neighbours, 5, {
        backend,
        views: [new Float32Array(3)],
      }),
    /view 0: expected n·d/,
  );
});

Deno.test("mostConfident: per cluster, the most confident rows first", () => {
  const top = mostConfident(
    {
      assignments: Int32Array.of(0, 1, 0, 0, 1),
      confidence: Float32Array.of(0.5, 0.9, 0.8, 0.7, 0.95),
    },
    3,
    2,
  );
  assert.deepEqual(top, [[2, 3], [4, 1], []]);
});

Deno.test("self-labelling keeps the clusters of separated blobs and trains on confident rows", async () => {
  const { d, train, test } = blobData();
  const backend = createRefBackend();
  const rng = new Rng(3);
  const views = [0, 1].map(() => train.x.map((v) => v + 0.05 * rng.normal()));
  const scored = await scanRepresentation(train, test, d, {
    backend,
    clusters: 4,
    heads: 2,
    epochs: 10,
    batchSize: 64,
    lr: 0.01,
    k: 5,
    views,
    selfLabel: true,
    threshold: 0.9,
    selfLabelEpochs: 3,
  });
  const labelled = scored.selfLabel!;
  assert.equal(labelled.epochs, 3);
  assert.equal(labelled.confident.length, 3);
  // Separated blobs: most rows are confident and self-labelling keeps the perfect clustering.
  assert.ok(labelled.confident[0] > 0.5, `confident ${labelled.confident}`);
  assert.ok(labelled.accuracy > 0.97, `ACC ${labelled.accuracy}`);
  assert.equal(labelled.seeds.length, 1);
  await assert.rejects(
    () => selfLabel(trainFitStub(d), train.x, train.n, { backend, views: [] }),
    /needs augmented views/,
  );
});

/** A linear head of zeros: every row gets probability 1/4 for each cluster. */
function trainFitStub(d: number) {
  const layers = [{ weight: new Float32Array(d * 4), bias: new Float32Array(4), nIn: d, nOut: 4 }];
  return {
    dim: d,
    clusters: 4,
    mean: new Float64Array(d),
    std: new Float64Array(d).fill(1),
    layers,
    allLayers: [layers],
    best: 0,
    heads: [],
    epochs: 0,
  };
}

Deno.test("self-labelling with no confident row stops at once", async () => {
  const { d, train } = blobData();
  const result = await selfLabel(trainFitStub(d), train.x, train.n, {
    backend: createRefBackend(),
    views: [train.x],
  });
  assert.deepEqual(result.confident, [0]);
  assert.equal(result.epochs, 0);
});

Deno.test("scanSweep: each point scores as scanRepresentation does alone, on one mining", async () => {
  const { d, train, test } = blobData();
  const common = {
    backend: createRefBackend(),
    clusters: 4,
    heads: 2,
    epochs: 3,
    batchSize: 64,
    lr: 0.01,
    seeds: [1],
  };
  const points = [{ k: 3, entropyWeight: 2 }, { k: 60, entropyWeight: 5 }];
  const done: number[] = [];
  const sweep = await scanSweep(train, test, d, points, {
    ...common,
    onRow: (row, i) => void done.push(i, row.k),
  });
  assert.deepEqual(done, [1, 3, 2, 60]);
  // Mined once up to the largest k (60 > the default 50), so the purity curve goes that far.
  assert.equal(sweep.neighbourPurity.length, 60);
  for (const [i, point] of points.entries()) {
    const alone = await scanRepresentation(train, test, d, { ...common, ...point, purityK: 60 });
    const row = sweep.rows[i];
    // The same heads from the same neighbours: equal scores and losses (tolerance 0).
    assert.deepEqual(
      [row.k, row.entropyWeight, row.accuracy, row.nmi, row.ari, row.loss],
      [point.k, point.entropyWeight, alone.accuracy, alone.nmi, alone.ari, alone.loss],
    );
    assert.deepEqual(row.contingency, alone.contingency);
    assert.deepEqual(sweep.neighbourPurity, alone.neighbourPurity);
  }
  // Each point's weight reaches its loss: total = consistency − weight · entropy.
  const [small, large] = sweep.rows;
  assert.ok(Math.abs(small.loss.loss - (small.loss.consistency - 2 * small.loss.entropy)) < 1e-4);
  assert.ok(Math.abs(large.loss.loss - (large.loss.consistency - 5 * large.loss.entropy)) < 1e-4);
  await assert.rejects(
    () => scanRepresentation(train, test, d, { ...common, k: 5, mined: new Int32Array(400 * 3) }),
    /the mined neighbours give 3 per image, k is 5/,
  );
});
