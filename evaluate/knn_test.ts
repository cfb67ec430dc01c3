import assert from "node:assert/strict";
import { Rng } from "@simclr/core";
import { createRefBackend } from "@simclr/backend-ref";
import { knnClassify } from "./knn.ts";
import { gaussianBlobs, randomLabels } from "./test_data.ts";

/** Unit 2-D vectors at the given angles (radians). */
function atAngles(angles: number[]): Float32Array {
  return Float32Array.from(angles.flatMap((a) => [Math.cos(a), Math.sin(a)]));
}

Deno.test("kNN: hand-checked weighted vote, where the temperature decides", () => {
  // Query at angle 0. Class 0: one neighbour at 0.1 rad (cos 0.99500); class 1: two at 0.5 and
  // 0.6 rad (cos 0.87758, 0.82534). With τ = 0.1: class 0 gets e^9.9500 ≈ 20,952 and class 1
  // e^8.7758 + e^8.2534 ≈ 6,483 + 3,845 = 10,328, so class 0 wins against the majority.
  // With τ = 1: e^0.995 ≈ 2.705 against e^0.8776 + e^0.8253 ≈ 2.405 + 2.283 = 4.688, class 1 wins.
  const input = {
    // Scaling a row must not matter: similarity is cosine.
    train: atAngles([0.1, 0.5, 0.6]).map((v, i) => (i < 2 ? 5 * v : v)),
    trainLabels: Int32Array.of(0, 1, 1),
    nTrain: 3,
    test: atAngles([0]),
    nTest: 1,
    dim: 2,
  };
  return (async () => {
    assert.equal((await knnClassify(input, { k: 3, temperature: 0.1 })).predictions[0], 0);
    assert.equal((await knnClassify(input, { k: 3, temperature: 1 })).predictions[0], 1);
    // k = 200 is clipped to the 3 training rows.
    assert.equal((await knnClassify(input, { temperature: 1 })).predictions[0], 1);
  })();
});

Deno.test("kNN: separable blobs are classified perfectly", async () => {
  // One draw of 500 points, split 400 / 100 (labels interleave, so both parts are balanced).
  const blobs = gaussianBlobs(4, 125, 16, 3, 0.3, 1);
  const train = { x: blobs.x.subarray(0, 400 * 16), labels: blobs.labels.subarray(0, 400), n: 400 };
  const test = { x: blobs.x.subarray(400 * 16), labels: blobs.labels.subarray(400), n: 100 };
  const progress: number[] = [];
  const result = await knnClassify(
    {
      train: train.x,
      trainLabels: train.labels,
      nTrain: train.n,
      test: test.x,
      nTest: test.n,
      dim: 16,
      testLabels: test.labels,
    },
    { k: 20, chunkRows: 30, onProgress: (done) => progress.push(done) },
  );
  assert.equal(result.accuracy, 1);
  assert.deepEqual(progress, [30, 60, 90, 100]);
});

/** Reference: full sort of cosine similarities, weighted vote of the top k. */
function referenceKnn(
  train: Float32Array,
  labels: Int32Array,
  test: Float32Array,
  d: number,
  k: number,
  tau: number,
  classes: number,
): number[] {
  const norm = (x: Float32Array, i: number) =>
    Math.sqrt(Array.from({ length: d }, (_, t) => x[i * d + t] ** 2).reduce((a, b) => a + b));
  const nTrain = train.length / d;
  const out: number[] = [];
  for (let q = 0; q < test.length / d; q++) {
    const sims = Array.from({ length: nTrain }, (_, j) => {
      let s = 0;
      for (let t = 0; t < d; t++) s += test[q * d + t] * train[j * d + t];
      return [s / norm(test, q) / norm(train, j), j] as const;
    }).sort((a, b) => b[0] - a[0]);
    const votes = new Array(classes).fill(0);
    for (let t = 0; t < k; t++) votes[labels[sims[t][1]]] += Math.exp(sims[t][0] / tau);
    out.push(votes.indexOf(Math.max(...votes)));
  }
  return out;
}

Deno.test("kNN: matches a full-sort reference, host and backend", async () => {
  const rng = new Rng(9);
  const d = 12, nTrain = 400, nTest = 60, classes = 5;
  const train = Float32Array.from({ length: nTrain * d }, () => rng.normal());
  const test = Float32Array.from({ length: nTest * d }, () => rng.normal());
  const trainLabels = randomLabels(nTrain, classes, 10);
  const expected = referenceKnn(train, trainLabels, test, d, 25, 0.1, classes);
  const input = { train, trainLabels, nTrain, test, nTest, dim: d };
  const host = await knnClassify(input, { k: 25, chunkRows: 7 });
  assert.deepEqual([...host.predictions], expected);
  assert.equal(host.accuracy, undefined);
  const backend = createRefBackend();
  const onDevice = await knnClassify(input, { k: 25, chunkRows: 16, backend });
  assert.deepEqual([...onDevice.predictions], expected);
  assert.equal(backend.liveTensors(), 0, "no device tensors leak");
});

Deno.test("kNN: rejects inconsistent input", async () => {
  const base = {
    train: new Float32Array(6),
    trainLabels: Int32Array.of(0, 1, 0),
    nTrain: 3,
    test: new Float32Array(2),
    nTest: 1,
    dim: 2,
  };
  await assert.rejects(
    knnClassify({ ...base, trainLabels: Int32Array.of(0, 1) }),
    /knnClassify trainLabels: expected 3 labels, got 2/,
  );
  await assert.rejects(
    knnClassify({ ...base, test: new Float32Array(3) }),
    /knnClassify test: expected n·d = 1·2 = 2 values, got 3/,
  );
  await assert.rejects(knnClassify(base, { k: 0 }), /k must be a positive integer/);
});
