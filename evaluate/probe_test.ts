import assert from "node:assert/strict";
import { createRefBackend } from "@simclr/backend-ref";
import { Rng } from "@simclr/core";
import { linearProbe } from "./probe.ts";

/** Three classes in 6-D, each a tight blob around its own corner: linearly separable. */
function blobs(n: number, rng: Rng) {
  const d = 6;
  const x = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    for (let j = 0; j < d; j++) x[i * d + j] = (j === 2 * c ? 3 : 0) + 0.3 * rng.normal();
  }
  return { x, labels, n };
}

for (const kind of ["logistic", "svm"] as const) {
  Deno.test(`linear probe (${kind}) separates a linearly separable toy set perfectly`, async () => {
    const rng = new Rng(4);
    const train = blobs(300, rng), test = blobs(90, rng);
    const result = await linearProbe(createRefBackend(), train, test, 6, {
      kind,
      epochs: 10,
      batchSize: 64,
      lambdas: [1e-4, 1e-1],
    });
    assert.equal(result.testAccuracy, 1);
    assert.equal(result.trainAccuracy, 1);
    assert.deepEqual(result.perClassAccuracy, [1, 1, 1]);
    assert.deepEqual(result.confusion, [[30, 0, 0], [0, 30, 0], [0, 0, 30]]);
    assert.equal(result.validation.length, 2);
  });
}

Deno.test("linear probe: labels carry no signal → test accuracy near chance", async () => {
  const rng = new Rng(9);
  const make = (n: number) => {
    const x = new Float32Array(n * 4).map(() => rng.normal());
    const labels = new Int32Array(n).map(() => rng.int(2));
    return { x, labels, n };
  };
  const result = await linearProbe(createRefBackend(), make(400), make(400), 4, {
    epochs: 5,
    lambdas: [1e-3],
  });
  // 400 coin flips: accuracy 0.5 ± 0.025 (1 s.d.); 0.6 is 4 s.d. away.
  assert.ok(Math.abs(result.testAccuracy - 0.5) < 0.1, `accuracy ${result.testAccuracy}`);
});
