import assert from "node:assert/strict";
import { Rng } from "@simclr/core";
import { accuracy, confusionMatrix, perClassAccuracy } from "./classification.ts";
import {
  applyStandardizer,
  checkMatrix,
  classBalancedSubset,
  fitStandardizer,
  gatherLabels,
  gatherRows,
  l2Normalize,
  trainValidationSplit,
} from "./features.ts";
import { randomLabels } from "./test_data.ts";

Deno.test("checkMatrix names the caller and the expected size", () => {
  assert.throws(
    () => checkMatrix(new Float32Array(5), 2, 3, "kMeans features"),
    /kMeans features: expected n·d = 2·3 = 6 values, got 5/,
  );
  assert.throws(() => checkMatrix(new Float32Array(0), 0, 3, "x"), /positive integer/);
});

Deno.test("l2Normalize gives unit rows and keeps zero rows zero", () => {
  const x = Float32Array.of(3, 4, 0, 0, -1, 0);
  const y = l2Normalize(x, 3, 2);
  assert.deepEqual([...y], [0.6000000238418579, 0.800000011920929, 0, 0, -1, 0]);
  assert.equal(x[0], 3, "input unchanged");
});

Deno.test("standardiser fitted on train maps train to zero mean, unit variance", () => {
  const rng = new Rng(1);
  const n = 1000, d = 3;
  const train = Float32Array.from(
    { length: n * d },
    (_, e) => (e % d) * 10 + (e % d + 1) * rng.normal(),
  );
  // Column 2 made constant to check that it maps to 0 instead of NaN.
  for (let i = 0; i < n; i++) train[i * d + 2] = 7;
  const s = fitStandardizer(train, n, d);
  const z = applyStandardizer(s, train, n);
  for (let j = 0; j < 2; j++) {
    let m = 0, v = 0;
    for (let i = 0; i < n; i++) m += z[i * d + j];
    m /= n;
    for (let i = 0; i < n; i++) v += (z[i * d + j] - m) ** 2;
    assert.ok(Math.abs(m) < 1e-5 && Math.abs(v / n - 1) < 1e-4, `column ${j}: ${m}, ${v / n}`);
  }
  assert.equal(s.std[2], 1);
  for (let i = 0; i < n; i++) assert.equal(z[i * d + 2], 0);
  // The test set is transformed with the training statistics, not its own.
  const test = Float32Array.of(s.mean[0] + 2 * s.std[0], 0, 7);
  const zt = applyStandardizer(s, test, 1);
  assert.ok(Math.abs(zt[0] - 2) < 1e-5);
  assert.throws(() => applyStandardizer(s, new Float32Array(4), 1), /expected n·d = 1·3/);
});

Deno.test("gatherRows and gatherLabels pick rows and check indices", () => {
  const x = Float32Array.of(0, 1, 2, 3, 4, 5);
  assert.deepEqual([...gatherRows(x, 2, [2, 0])], [4, 5, 0, 1]);
  assert.deepEqual([...gatherLabels(Uint8Array.of(7, 8, 9), [1, 1])], [8, 8]);
  assert.throws(() => gatherRows(x, 2, [3]), /index 3 at position 0 is outside \[0, 3\)/);
});

Deno.test("classBalancedSubset takes perClass of each class", () => {
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 10 ? 3 : i % 3));
  const picked = classBalancedSubset(labels, 50, new Rng(2));
  const counts = [0, 0, 0, 0];
  for (const i of picked) counts[labels[i]]++;
  // Class 3 has only 10 members, so it gives all of them.
  assert.deepEqual(counts, [50, 50, 50, 10]);
  assert.equal(new Set(picked).size, picked.length);
  for (let t = 1; t < picked.length; t++) assert.ok(picked[t] > picked[t - 1]);
  assert.deepEqual(classBalancedSubset(labels, 50, new Rng(2)), picked, "seeded");
});

Deno.test("trainValidationSplit is a stratified partition", () => {
  const labels = randomLabels(1000, 4, 3);
  const { train, validation } = trainValidationSplit(1000, 0.2, new Rng(4), labels);
  const all = [...train, ...validation].sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: 1000 }, (_, i) => i));
  for (let c = 0; c < 4; c++) {
    const total = labels.filter((v) => v === c).length;
    const held = [...validation].filter((i) => labels[i] === c).length;
    assert.equal(held, Math.round(total * 0.2));
  }
  const plain = trainValidationSplit(10, 0.3, new Rng(5));
  assert.equal(plain.validation.length, 3);
  assert.throws(() => trainValidationSplit(10, 1.5, new Rng(5)), /validationFraction must be in/);
});

Deno.test("accuracy, confusion matrix and per-class accuracy", () => {
  const labels = [0, 0, 1, 1, 1, 2];
  const predictions = [0, 1, 1, 1, 0, 2];
  assert.equal(accuracy(predictions, labels), 4 / 6);
  const cm = confusionMatrix(labels, predictions, 4);
  assert.equal(cm.numClasses, 4);
  // Rows = true class, columns = predicted.
  assert.deepEqual(
    [...cm.counts],
    [1, 1, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
  );
  const per = perClassAccuracy(labels, predictions, 4);
  assert.deepEqual([...per.slice(0, 3)], [0.5, 2 / 3, 1]);
  assert.ok(Number.isNaN(per[3]), "absent class is NaN");
  assert.throws(() => accuracy([1], [1, 2]), /1 predictions and 2 labels/);
});
