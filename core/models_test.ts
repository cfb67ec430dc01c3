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
