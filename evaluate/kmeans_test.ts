import assert from "node:assert/strict";
import { Rng } from "@simclr/core";
import { createRefBackend } from "@simclr/backend-ref";
import { l2Normalize } from "./features.ts";
import { assignToCentroids, kMeans } from "./kmeans.ts";
import { clusteringAccuracy, normalizedMutualInformation } from "./metrics.ts";
import { gaussianBlobs } from "./test_data.ts";

Deno.test("k-means: hand case in one dimension", async () => {
  // Points 0, 1, 10, 11 → centroids 0.5 and 10.5, inertia 4 · 0.25 = 1.
  const r = await kMeans(Float32Array.of(0, 1, 10, 11), 4, 1, 2, { rng: new Rng(1) });
  const centroids = [...r.centroids].sort((a, b) => a - b);
  assert.deepEqual(centroids, [0.5, 10.5]);
  assert.equal(r.inertia, 1);
  assert.equal(r.assignments[0], r.assignments[1]);
  assert.notEqual(r.assignments[1], r.assignments[2]);
  assert.ok(r.converged);
  // k = n puts every point in its own cluster.
  const all = await kMeans(Float32Array.of(0, 1, 10, 11), 4, 1, 4);
  assert.equal(all.inertia, 0);
  assert.equal(new Set(all.assignments).size, 4);
});

Deno.test("k-means recovers well-separated blobs on L2-normalised features", async () => {
  const d = 16, k = 6;
  const blobs = gaussianBlobs(k, 250, d, 1, 0.15, 2);
  const nTrain = 1200;
  const all = l2Normalize(blobs.x, blobs.n, d);
  const train = all.subarray(0, nTrain * d);
  const test = all.subarray(nTrain * d);
  const progress: number[] = [];
  const r = await kMeans(train, nTrain, d, k, {
    rng: new Rng(3),
    onProgress: (p) => progress.push(p.inertia),
  });
  const trainLabels = blobs.labels.subarray(0, nTrain);
  const nmi = normalizedMutualInformation(r.assignments, trainLabels);
  assert.ok(nmi > 0.99, `NMI ${nmi}`);
  assert.equal(clusteringAccuracy(r.assignments, trainLabels).accuracy, 1);
  assert.equal(r.inertia, Math.min(...r.restartInertias));
  assert.equal(r.restartInertias.length, 5);
  assert.ok(progress.length >= 5, "progress reported per iteration");

  // Inertia and centroids are consistent with the assignments.
  let inertia = 0;
  const sums = new Float64Array(k * d);
  const counts = new Int32Array(k);
  for (let i = 0; i < nTrain; i++) {
    const c = r.assignments[i];
    counts[c]++;
    for (let t = 0; t < d; t++) {
      inertia += (train[i * d + t] - r.centroids[c * d + t]) ** 2;
      sums[c * d + t] += train[i * d + t];
    }
  }
  assert.ok(Math.abs(inertia - r.inertia) <= 1e-6 * inertia, `${inertia} vs ${r.inertia}`);
  for (let e = 0; e < k * d; e++) {
    assert.ok(Math.abs(sums[e] / counts[Math.floor(e / d)] - r.centroids[e]) < 1e-6);
  }

  // Held-out points go to the centroid of their own blob.
  const nTest = blobs.n - nTrain;
  const assigned = await assignToCentroids(r.centroids, k, test, nTest, d);
  const testLabels = blobs.labels.subarray(nTrain);
  const mapping = clusteringAccuracy(r.assignments, trainLabels).clusterToClass;
  for (let i = 0; i < nTest; i++) assert.equal(mapping[assigned.assignments[i]], testLabels[i]);
});

Deno.test("k-means is seeded and the backend path matches the host path", async () => {
  const d = 8, k = 4;
  const blobs = gaussianBlobs(k, 100, d, 1, 0.6, 4); // overlapping, so runs can differ
  const host1 = await kMeans(blobs.x, blobs.n, d, k, { rng: new Rng(5), restarts: 3 });
  const host2 = await kMeans(blobs.x, blobs.n, d, k, { rng: new Rng(5), restarts: 3 });
  assert.deepEqual(host1.assignments, host2.assignments);
  assert.equal(host1.inertia, host2.inertia);
  const backend = createRefBackend();
  const device = await kMeans(blobs.x, blobs.n, d, k, { rng: new Rng(5), restarts: 3, backend });
  assert.deepEqual(device.assignments, host1.assignments);
  assert.ok(Math.abs(device.inertia - host1.inertia) <= 1e-5 * host1.inertia);
  const assigned = await assignToCentroids(device.centroids, k, blobs.x, blobs.n, d, backend);
  assert.deepEqual(assigned.assignments, device.assignments);
  assert.equal(backend.liveTensors(), 0, "no device tensors leak");
});

Deno.test("k-means rejects bad arguments", async () => {
  const x = new Float32Array(6);
  await assert.rejects(kMeans(x, 3, 2, 4), /k must be an integer in \[1, 3\], got 4/);
  await assert.rejects(kMeans(x, 3, 2, 2, { restarts: 0 }), /restarts must be a positive integer/);
  await assert.rejects(
    assignToCentroids(new Float32Array(3), 2, x, 3, 2),
    /assignToCentroids centroids: expected n·d = 2·2 = 4 values, got 3/,
  );
});
