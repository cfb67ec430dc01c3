// SimclrModel.dispose frees exactly the model's parameters and buffers.
import assert from "node:assert/strict";
import { createRefBackend } from "@simclr/backend-ref";
import { Graph } from "./autograd.ts";
import { createModel, MODEL_NAMES } from "./models.ts";

for (const name of MODEL_NAMES) {
  Deno.test(`${name}: dispose frees every parameter and buffer, and nothing else`, () => {
    const ref = createRefBackend();
    const g = new Graph(ref);
    const other = g.keep(g.constant([1, 2], [2]));
    const before = ref.liveTensors();
    const model = createModel(g, name, { seed: 1, width: 4 });
    const owned = model.params().length + model.buffers().length;
    assert.ok(owned > 0);
    assert.equal(ref.liveTensors() - before, owned);
    model.dispose();
    assert.equal(ref.liveTensors(), before);
    g.dispose(other);
    assert.equal(ref.liveTensors(), 0);
  });
}

Deno.test("resnet10: one basic block a stage, features 8·width wide, cheaper than resnet18", () => {
  const ref = createRefBackend();
  const g = new Graph(ref);
  const count = (name: "resnet10" | "resnet18") => {
    const m = createModel(g, name, { seed: 1, width: 4 });
    const convs = m.params().filter((p) => p.name.endsWith("conv1.weight")).length;
    const weights = m.params().reduce((n, p) => n + p.value.shape.reduce((a, b) => a * b, 1), 0);
    const dim = m.featureDim;
    m.dispose();
    return { convs, weights, dim };
  };
  const r10 = count("resnet10");
  const r18 = count("resnet18");
  assert.equal(r10.convs, 4);
  assert.equal(r18.convs, 8);
  assert.equal(r10.dim, 32);
  // Counted by hand at w = 4: conv weights 27w (stem) + 1194w² (3×3 convs and 1×1 shortcuts of
  // the four stages); batch-norm γ and β on 45w channels; projector 8w·512 + 512 + 512·128 + 128.
  const w = 4;
  assert.equal(
    r10.weights,
    27 * w + 1194 * w * w + 2 * 45 * w + (8 * w * 512 + 512) + 512 * 128 + 128,
  );
  assert.ok(r10.weights < r18.weights);
});
