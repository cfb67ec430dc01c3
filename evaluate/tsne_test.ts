import assert from "node:assert/strict";
import { Rng } from "@simclr/core";
import { exactNearestNeighbours } from "./linalg.ts";
import {
  conditionalProbabilities,
  jointProbabilities,
  neighbourPreservation,
  repulsiveForces,
  type SparseAffinities,
  tsne,
  tsneGradient,
} from "./tsne.ts";
import { gaussianBlobs } from "./test_data.ts";

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tol ${tol})`);
}

Deno.test("conditional probabilities reach the target perplexity", () => {
  const rng = new Rng(1);
  const n = 20, k = 40, perplexity = 12;
  const dist = Float64Array.from({ length: n * k }, () => 50 + 30 * rng.uniform());
  const p = conditionalProbabilities(dist, n, k, perplexity);
  for (let i = 0; i < n; i++) {
    let sum = 0, entropy = 0;
    for (let t = 0; t < k; t++) {
      const v = p[i * k + t];
      sum += v;
      if (v > 0) entropy -= v * Math.log(v);
    }
    close(sum, 1, 1e-12, `row ${i} sum`);
    close(Math.exp(entropy), perplexity, 1e-3, `row ${i} perplexity`);
    // Nearer neighbours get more mass.
    for (let t = 1; t < k; t++) {
      if (dist[i * k + t] < dist[i * k]) assert.ok(p[i * k + t] > p[i * k]);
    }
  }
});

Deno.test("joint probabilities: equidistant points give uniform, symmetric P summing to 1", () => {
  // Regular tetrahedron: every pair at squared distance 8, so p_{j|i} = 1/3 whatever the
  // bandwidth and p_ij = (1/3 + 1/3) / 8 = 1/12 for all 12 ordered pairs.
  const x = Float32Array.of(1, 1, 1, 1, -1, -1, -1, 1, -1, -1, -1, 1);
  const nn = exactNearestNeighbours(x, 4, 3, 3);
  const p = jointProbabilities(nn.indices, nn.squaredDistances, 4, 3, 2);
  assert.equal(p.values.length, 12);
  for (const v of p.values) close(v, 1 / 12, 1e-15, "p_ij");
  // A random cloud: symmetric and normalised.
  const blobs = gaussianBlobs(1, 200, 5, 1, 1, 2);
  const nn2 = exactNearestNeighbours(blobs.x, 200, 5, 30);
  const q = jointProbabilities(nn2.indices, nn2.squaredDistances, 200, 30, 10);
  const dense = new Float64Array(200 * 200);
  for (let i = 0; i < 200; i++) {
    for (let e = q.rowStart[i]; e < q.rowStart[i + 1]; e++) {
      dense[i * 200 + q.columns[e]] += q.values[e];
    }
  }
  close(dense.reduce((s, v) => s + v, 0), 1, 1e-12, "Σp");
  for (let i = 0; i < 200; i++) {
    assert.equal(dense[i * 200 + i], 0);
    for (let j = 0; j < i; j++) close(dense[i * 200 + j], dense[j * 200 + i], 1e-15, "symmetry");
  }
});

/** Exact KL(P‖Q) for a sparse P over all pairs of the layout y. */
function exactKl(y: Float64Array, n: number, p: SparseAffinities): number {
  let z = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i !== j) z += 1 / (1 + (y[2 * i] - y[2 * j]) ** 2 + (y[2 * i + 1] - y[2 * j + 1]) ** 2);
    }
  }
  let kl = 0;
  for (let i = 0; i < n; i++) {
    for (let e = p.rowStart[i]; e < p.rowStart[i + 1]; e++) {
      const j = p.columns[e];
      const q = 1 / (1 + (y[2 * i] - y[2 * j]) ** 2 + (y[2 * i + 1] - y[2 * j + 1]) ** 2) / z;
      kl += p.values[e] * Math.log(p.values[e] / q);
    }
  }
  return kl;
}

Deno.test("t-SNE gradient (θ = 0) matches finite differences of KL", () => {
  const n = 25;
  const blobs = gaussianBlobs(2, 13, 4, 2, 1, 3);
  const x = blobs.x.subarray(0, n * 4);
  const nn = exactNearestNeighbours(x, n, 4, 12);
  const p = jointProbabilities(nn.indices, nn.squaredDistances, n, 12, 4);
  const rng = new Rng(4);
  const y = Float64Array.from({ length: 2 * n }, () => rng.normal());
  const grad = new Float64Array(2 * n);
  tsneGradient(y, n, p, 1, 0, grad);
  const h = 1e-6;
  for (const e of [0, 1, 7, 30, 49]) {
    const saved = y[e];
    y[e] = saved + h;
    const up = exactKl(y, n, p);
    y[e] = saved - h;
    const down = exactKl(y, n, p);
    y[e] = saved;
    close(grad[e], (up - down) / (2 * h), 1e-6, `∂KL/∂y[${e}]`);
  }
});

Deno.test("Barnes–Hut repulsion: exact at θ = 0, close at θ = 0.5", () => {
  const rng = new Rng(5);
  const n = 600;
  const y = Float64Array.from({ length: 2 * n }, () => 10 * rng.normal());
  // Two coincident points exercise the shared-leaf path.
  y[2] = y[0];
  y[3] = y[1];
  const exactForces = new Float64Array(2 * n);
  let exactZ = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
      const q = 1 / (1 + dx * dx + dy * dy);
      exactZ += q;
      exactForces[2 * i] += q * q * dx;
      exactForces[2 * i + 1] += q * q * dy;
    }
  }
  const zero = repulsiveForces(y, n, 0);
  close(zero.z / exactZ, 1, 1e-12, "Z at θ=0");
  for (let e = 0; e < 2 * n; e++) close(zero.forces[e], exactForces[e], 1e-12, `force ${e} at θ=0`);
  const bh = repulsiveForces(y, n, 0.5);
  close(bh.z / exactZ, 1, 1e-2, "Z at θ=0.5");
  let err = 0, norm = 0;
  for (let e = 0; e < 2 * n; e++) {
    err += (bh.forces[e] - exactForces[e]) ** 2;
    norm += exactForces[e] ** 2;
  }
  assert.ok(Math.sqrt(err / norm) < 0.03, `relative force error ${Math.sqrt(err / norm)}`);
});

/** Leave-one-out 5-NN majority accuracy of labels in a 2-D layout. */
function embeddingKnnAccuracy(embedding: Float32Array, labels: Int32Array): number {
  const n = labels.length;
  const nn = exactNearestNeighbours(embedding, n, 2, 5);
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const votes = new Map<number, number>();
    for (let t = 0; t < 5; t++) {
      const c = labels[nn.indices[i * 5 + t]];
      votes.set(c, (votes.get(c) ?? 0) + 1);
    }
    const best = [...votes.entries()].sort((a, b) => b[1] - a[1])[0][0];
    if (best === labels[i]) correct++;
  }
  return correct / n;
}

Deno.test("t-SNE separates three well-separated clusters", async () => {
  const blobs = gaussianBlobs(3, 60, 20, 3, 0.5, 6);
  const reports: { iteration: number; kl: number }[] = [];
  const result = await tsne(blobs.x, blobs.n, 20, {
    perplexity: 15,
    iterations: 400,
    pcaDims: 10,
    rng: new Rng(7),
    onProgress: (p) => reports.push(p),
  });
  assert.equal(result.embedding.length, 2 * blobs.n);
  assert.ok(result.embedding.every(Number.isFinite));
  const acc = embeddingKnnAccuracy(result.embedding, blobs.labels);
  assert.ok(acc >= 0.95, `kNN accuracy on the embedding ${acc}`);
  assert.deepEqual(reports.map((r) => r.iteration), [50, 100, 150, 200, 250, 300, 350, 400]);
  assert.ok(reports[7].kl < reports[0].kl, `KL ${reports[0].kl} → ${reports[7].kl}`);
  assert.equal(result.kl, reports[7].kl);
  close(result.learningRate, 50, 0, "auto learning rate for 180 points");
  // Neighbourhoods in the picture mostly come from the input's neighbourhoods.
  const kept = neighbourPreservation(blobs.x, blobs.n, 20, result.embedding);
  assert.ok(kept > 0.2, `neighbour preservation ${kept}`);
  // Seeded: the same seed gives the same picture.
  const again = await tsne(blobs.x, blobs.n, 20, {
    perplexity: 15,
    iterations: 20,
    pcaDims: 10,
    rng: new Rng(7),
  });
  const again2 = await tsne(blobs.x, blobs.n, 20, {
    perplexity: 15,
    iterations: 20,
    pcaDims: 10,
    rng: new Rng(7),
  });
  assert.deepEqual(again.embedding, again2.embedding);
});

Deno.test("neighbourPreservation: 1 for the identity, near k/(n−1) for a random layout", () => {
  const rng = new Rng(8);
  const n = 400;
  const x = Float32Array.from({ length: 2 * n }, () => rng.normal());
  assert.equal(neighbourPreservation(x, n, 2, x), 1);
  // A rotated and scaled copy keeps all distances' order.
  const rotated = Float32Array.from(
    { length: 2 * n },
    (_, e) => e % 2 === 0 ? 3 * (0.6 * x[e] - 0.8 * x[e + 1]) : 3 * (0.8 * x[e - 1] + 0.6 * x[e]),
  );
  assert.equal(neighbourPreservation(x, n, 2, rotated), 1);
  const random = Float32Array.from({ length: 2 * n }, () => rng.normal());
  const r = neighbourPreservation(x, n, 2, random);
  assert.ok(r < 0.06, `random layout ${r} (chance 10/399 ≈ 0.025)`);
});

Deno.test("t-SNE rejects bad arguments", async () => {
  await assert.rejects(
    tsne(new Float32Array(40), 20, 2),
    /20 points are too few for perplexity 30/,
  );
  await assert.rejects(tsne(new Float32Array(400), 200, 2, { theta: 0.9 }), /theta must be in/);
});
