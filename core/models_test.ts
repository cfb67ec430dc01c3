// SimclrModel.dispose frees exactly the model's parameters and buffers.
import assert from "node:assert/strict";
import { createRefBackend } from "@simclr/backend-ref";
import { Graph } from "./autograd.ts";
import {
  createModel,
  headOf,
  headSpec,
  MODEL_NAMES,
  modelOptions,
  type SimclrModel,
} from "./models.ts";
import { Rng } from "./random.ts";

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

/** `name → shape` of the projector's parameters and buffers. */
function projectorShapes(m: SimclrModel): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const p of [...m.projector.params(), ...m.projector.buffers()]) {
    out[p.name] = [...p.value.shape];
  }
  return out;
}

const count = (shapes: Record<string, number[]>, params: readonly string[]) =>
  params.reduce((n, k) => n + shapes[k].reduce((a, b) => a * b, 1), 0);

Deno.test("default heads keep their layer names and shapes (checkpoints from before the head flags load)", () => {
  const g = new Graph(createRefBackend());
  const small = createModel(g, "small", { seed: 1, width: 2 });
  assert.deepEqual(projectorShapes(small), {
    "projector.0.weight": [16, 256],
    "projector.1.gamma": [256],
    "projector.1.beta": [256],
    "projector.1.running_mean": [256],
    "projector.1.running_var": [256],
    "projector.3.weight": [256, 128],
    "projector.3.bias": [128],
  });
  const r10 = createModel(g, "resnet10", { seed: 1, width: 2 });
  assert.deepEqual(projectorShapes(r10), {
    "projector.0.weight": [16, 512],
    "projector.0.bias": [512],
    "projector.2.weight": [512, 128],
    "projector.2.bias": [128],
  });
  // 0 is "the model's default" for every head option, as the flags' defaults are.
  const zero = createModel(g, "small", { seed: 1, width: 2, projHidden: 0, projOut: 0 });
  assert.deepEqual(projectorShapes(zero), projectorShapes(small));
  assert.deepEqual(headOf(small), { hidden: 256, out: 128, layers: 2 });
  for (const m of [small, r10, zero]) m.dispose();
});

Deno.test("head options: a 3-layer small head (BN hidden layers) has the shapes and parameter count counted by hand", () => {
  const g = new Graph(createRefBackend());
  const m = createModel(g, "small", {
    seed: 1,
    width: 2,
    projHidden: 8,
    projOut: 4,
    projLayers: 3,
  });
  const shapes = projectorShapes(m);
  assert.deepEqual(shapes, {
    "projector.0.weight": [16, 8],
    "projector.1.gamma": [8],
    "projector.1.beta": [8],
    "projector.1.running_mean": [8],
    "projector.1.running_var": [8],
    "projector.3.weight": [8, 8],
    "projector.4.gamma": [8],
    "projector.4.beta": [8],
    "projector.4.running_mean": [8],
    "projector.4.running_var": [8],
    "projector.6.weight": [8, 4],
    "projector.6.bias": [4],
  });
  // 16·8 + 2·8 (BN) + 8·8 + 2·8 (BN) + 8·4 + 4 = 260 trainable values.
  assert.equal(count(shapes, m.projector.params().map((p) => p.name)), 260);
  assert.deepEqual(headOf(m), { hidden: 8, out: 4, layers: 3 });
  // The encoder is untouched by the head options: same names, shapes and values as the default.
  const dflt = createModel(g, "small", { seed: 1, width: 2 });
  assert.deepEqual(
    m.encoder.params().map((p) => [p.name, p.value.shape]),
    dflt.encoder.params().map((p) => [p.name, p.value.shape]),
  );
  const rng = new Rng(2);
  const x = g.constant(new Float32Array(4 * 32 * 32 * 3).map(() => rng.normal()), [4, 32, 32, 3]);
  assert.deepEqual(m.forward(x, true).shape, [4, 4]);
  assert.deepEqual(m.features(x).shape, [4, 16]);
  m.dispose();
  dflt.dispose();
});

Deno.test("head options: resnet10 3-layer and 1-layer (linear) heads; bad values are refused", () => {
  const g = new Graph(createRefBackend());
  const deep = createModel(g, "resnet10", { seed: 1, width: 2, projLayers: 3, projOut: 64 });
  const deepShapes = projectorShapes(deep);
  assert.deepEqual(Object.keys(deepShapes), [
    "projector.0.weight",
    "projector.0.bias",
    "projector.2.weight",
    "projector.2.bias",
    "projector.4.weight",
    "projector.4.bias",
  ]);
  // (16·512 + 512) + (512·512 + 512) + (512·64 + 64): the default hidden width, 64 out.
  assert.equal(
    count(deepShapes, Object.keys(deepShapes)),
    16 * 512 + 512 + 512 * 512 + 512 + 512 * 64 + 64,
  );
  const linear = createModel(g, "small", { seed: 1, width: 2, projLayers: 1 });
  assert.deepEqual(projectorShapes(linear), {
    "projector.0.weight": [16, 128],
    "projector.0.bias": [128],
  });
  assert.deepEqual(headOf(linear), { hidden: 0, out: 128, layers: 1 });
  assert.throws(
    () => createModel(g, "small", { seed: 1, width: 2, projLayers: 1.5 }),
    /small head: projLayers must be a positive integer \(or 0 = default\); got 1.5/,
  );
  assert.throws(() => headSpec("resnet18", { projOut: -3 }), /projOut must be a positive integer/);
  deep.dispose();
  linear.dispose();
});

Deno.test("modelOptions: a saved config without head settings (an old run) gives the default model", () => {
  assert.deepEqual(modelOptions({ width: 0 }, 5), {
    seed: 5,
    width: undefined,
    projHidden: undefined,
    projOut: undefined,
    projLayers: undefined,
  });
  assert.deepEqual(modelOptions({ width: 8, projLayers: 3, projHidden: 0, projOut: 64 }, 1), {
    seed: 1,
    width: 8,
    projHidden: undefined,
    projOut: 64,
    projLayers: 3,
  });
});
