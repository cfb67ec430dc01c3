import assert from "node:assert/strict";
import { Rng } from "@simclr/core";
import { createRefBackend } from "@simclr/backend-ref";
import { symmetricEigen } from "./eigen.ts";
import { fitPca, pcaTransform } from "./pca.ts";
import { randomRotation } from "./test_data.ts";

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tol ${tol})`);
}

function absDot(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, d: number) {
  let s = 0;
  for (let t = 0; t < d; t++) s += a[ao + t] * b[bo + t];
  return Math.abs(s);
}

Deno.test("symmetricEigen: 2×2 and diagonal cases by hand", () => {
  // [[2,1],[1,2]] has eigenvalues 3 and 1 with vectors (1,1)/√2 and (1,−1)/√2.
  const { values, vectors } = symmetricEigen([2, 1, 1, 2], 2);
  close(values[0], 3, 1e-12, "λ1");
  close(values[1], 1, 1e-12, "λ2");
  const h = Math.SQRT1_2;
  for (const [i, e] of [h, h, h, -h].entries()) close(vectors[i], e, 1e-12, `v[${i}]`);
  const diag = symmetricEigen([1, 0, 0, 0, 5, 0, 0, 0, -2], 3);
  assert.deepEqual([...diag.values], [5, 1, -2]);
  assert.deepEqual([...diag.vectors], [0, 1, 0, 1, 0, 0, 0, 0, 1]);
});

Deno.test("symmetricEigen: random symmetric matrix satisfies A·v = λ·v, VᵀV = I", () => {
  const rng = new Rng(1);
  const d = 40;
  const a = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) a[i * d + j] = a[j * d + i] = rng.normal();
  }
  const { values, vectors } = symmetricEigen(a, d);
  let trace = 0;
  for (let i = 0; i < d; i++) trace += a[i * d + i];
  close(values.reduce((s, v) => s + v, 0), trace, 1e-10, "Σλ = trace");
  for (let r = 0; r < d; r++) {
    if (r > 0) assert.ok(values[r] <= values[r - 1], "sorted descending");
    for (let i = 0; i < d; i++) {
      let av = 0;
      for (let k = 0; k < d; k++) av += a[i * d + k] * vectors[r * d + k];
      close(av, values[r] * vectors[r * d + i], 1e-10, `residual ${r},${i}`);
    }
    for (let q = 0; q <= r; q++) {
      close(absDot(vectors, r * d, vectors, q * d, d), r === q ? 1 : 0, 1e-12, `orth ${r},${q}`);
    }
  }
});

/** Anisotropic Gaussian: std `scales[j]` along row j of a random rotation, plus an offset. */
function rotatedGaussian(n: number, scales: number[], seed: number) {
  const d = scales.length;
  const rotation = randomRotation(d, seed);
  const rng = new Rng(seed + 1);
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const z = scales[j] * rng.normal();
      for (let t = 0; t < d; t++) x[i * d + t] += z * rotation[j * d + t];
    }
    for (let t = 0; t < d; t++) x[i * d + t] += 3 + t; // the mean must be removed
  }
  return { x, rotation, d };
}

Deno.test("PCA recovers the axes and variances of a rotated anisotropic Gaussian", async () => {
  const scales = [5, 3, 2, 1, 0.5, 0.2];
  const n = 20000;
  const { x, rotation, d } = rotatedGaussian(n, scales, 5);
  const { model, projection } = await fitPca(x, n, d, { components: 3 });
  assert.equal(model.method, "exact");
  const total = scales.reduce((s, v) => s + v * v, 0);
  for (let c = 0; c < 3; c++) {
    // Sampling error of the axes is about σ-ratio-dependent but well below 1e-2 for n = 20,000.
    close(absDot(model.components, c * d, rotation, c * d, d), 1, 1e-2, `axis ${c}`);
    // Variance estimates have relative standard error √(2/n) = 1%; allow 4%.
    close(model.eigenvalues[c] / scales[c] ** 2, 1, 0.04, `variance ${c}`);
    close(model.explainedVarianceRatio[c], scales[c] ** 2 / total, 0.01, `ratio ${c}`);
    // The projection's sample variance is exactly the eigenvalue (same estimator).
    let m = 0, v = 0;
    for (let i = 0; i < n; i++) m += projection[i * 3 + c];
    m /= n;
    for (let i = 0; i < n; i++) v += (projection[i * 3 + c] - m) ** 2;
    close(m, 0, 1e-3, `projection mean ${c}`);
    close(v / (n - 1) / model.eigenvalues[c], 1, 1e-4, `projection variance ${c}`);
  }
  close(model.totalVariance / total, 1, 0.04, "total variance");
  // pcaTransform on new rows: the first 2 coordinates of the first row, by hand.
  const row = x.subarray(0, d);
  const two = pcaTransform(model, row, 1, 2);
  for (let c = 0; c < 2; c++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += (row[t] - model.mean[t]) * model.components[c * d + t];
    close(two[c], s, 1e-4, `transform ${c}`);
  }
});

Deno.test("PCA: randomized solver and backend agree with the exact host solver", async () => {
  const scales = Array.from({ length: 40 }, (_, j) => 4 * 0.8 ** j);
  const n = 3000;
  const { x, d } = rotatedGaussian(n, scales, 11);
  const exact = (await fitPca(x, n, d, { components: 4 })).model;
  const randomized = (await fitPca(x, n, d, { components: 4, method: "randomized" })).model;
  assert.equal(randomized.method, "randomized");
  const backend = createRefBackend();
  const exactDevice = (await fitPca(x, n, d, { components: 4, backend })).model;
  const randomizedDevice =
    (await fitPca(x, n, d, { components: 4, method: "randomized", backend })).model;
  assert.equal(backend.liveTensors(), 0, "no device tensors leak");
  for (
    const [name, m] of [["randomized", randomized], ["exact on device", exactDevice], [
      "randomized on device",
      randomizedDevice,
    ]] as const
  ) {
    for (let c = 0; c < 4; c++) {
      close(m.eigenvalues[c] / exact.eigenvalues[c], 1, 1e-4, `${name} λ${c}`);
      close(absDot(m.components, c * d, exact.components, c * d, d), 1, 1e-4, `${name} axis ${c}`);
    }
  }
});

Deno.test("PCA: auto uses the randomized solver above 1,024 dimensions", async () => {
  const d = 1100, n = 300;
  const rng = new Rng(3);
  // Two planted orthonormal directions with std 10 and 5 over isotropic noise of std 0.1.
  const u = Float64Array.from({ length: 2 * d }, () => rng.normal());
  for (let r = 0; r < 2; r++) {
    if (r === 1) {
      let dot = 0;
      for (let t = 0; t < d; t++) dot += u[d + t] * u[t];
      for (let t = 0; t < d; t++) u[d + t] -= dot * u[t];
    }
    let norm = 0;
    for (let t = 0; t < d; t++) norm += u[r * d + t] ** 2;
    for (let t = 0; t < d; t++) u[r * d + t] /= Math.sqrt(norm);
  }
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const a = 10 * rng.normal(), b = 5 * rng.normal();
    for (let t = 0; t < d; t++) x[i * d + t] = a * u[t] + b * u[d + t] + 0.1 * rng.normal();
  }
  const { model } = await fitPca(x, n, d, { components: 2 });
  assert.equal(model.method, "randomized");
  // Finite-sample axes differ from the planted ones by a few 1e-3 here.
  close(absDot(model.components, 0, u, 0, d), 1, 2e-2, "planted axis 0");
  close(absDot(model.components, d, u, d, d), 1, 2e-2, "planted axis 1");
  // Exact sample PCA through the n × n Gram matrix: if Xc·Xcᵀ·w = μ·w then Xcᵀw is an eigenvector
  // of Xcᵀ·Xc with the same eigenvalue μ.
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += x[i * d + t] / n;
  const xc = Float64Array.from(x, (v, e) => v - mean[e % d]);
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += xc[i * d + t] * xc[j * d + t];
      gram[i * n + j] = gram[j * n + i] = s;
    }
  }
  const eig = symmetricEigen(gram, n);
  for (let c = 0; c < 2; c++) {
    const v = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < d; t++) v[t] += eig.vectors[c * n + i] * xc[i * d + t];
    }
    const norm = Math.sqrt(v.reduce((s, e) => s + e * e, 0));
    close(absDot(model.components, c * d, v, 0, d) / norm, 1, 1e-6, `sample axis ${c}`);
    close(model.eigenvalues[c] / (eig.values[c] / (n - 1)), 1, 1e-6, `sample variance ${c}`);
  }
});

Deno.test("PCA: rejects bad arguments", async () => {
  const x = new Float32Array(12);
  await assert.rejects(
    fitPca(x, 4, 3, { components: 4 }),
    /components must be an integer in \[1, 3\]/,
  );
  await assert.rejects(fitPca(x, 5, 3), /fitPca features: expected n·d = 5·3 = 15 values, got 12/);
});
