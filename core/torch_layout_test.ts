// safetensors encode/decode and the PyTorch layout, both ways, without PyTorch (the torch side is
// tested in tests/verify_torch_test.ts and cli/export_test.ts where python3-torch is installed).
import assert from "node:assert/strict";
import { createRefBackend } from "@simclr/backend-ref";
import { Graph } from "./autograd.ts";
import { createModel, MODEL_NAMES } from "./models.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "./safetensors.ts";
import {
  featuresInTorchOrder,
  loadTorchStateDict,
  permuteAxes,
  torchLayout,
  torchStateDict,
} from "./torch_layout.ts";

Deno.test("safetensors: round trip of F32 and I64 tensors and metadata, data 8-byte aligned", () => {
  const tensors: [string, SafeTensor][] = [
    ["a.weight", { dtype: "F32", shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 4, 5, 6]) }],
    ["a.num_batches_tracked", { dtype: "I64", shape: [], data: new BigInt64Array([7n]) }],
    ["b", { dtype: "F32", shape: [1], data: Float32Array.from([0.25]) }],
  ];
  const bytes = encodeSafetensors(tensors, { model: "small", step: "7" });
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLength) % 8, 0);
  const back = decodeSafetensors(bytes, "x.safetensors");
  assert.deepEqual(back.metadata, { model: "small", step: "7" });
  assert.deepEqual([...back.tensors.keys()], ["a.weight", "a.num_batches_tracked", "b"]);
  assert.deepEqual([...back.tensors.get("a.weight")!.data], [1, -2, 3.5, 4, 5, 6]);
  assert.deepEqual(back.tensors.get("a.weight")!.shape, [2, 3]);
  assert.equal(back.tensors.get("a.num_batches_tracked")!.data[0], 7n);
  assert.equal(back.tensors.get("b")!.data[0], 0.25);
});

Deno.test("safetensors: truncated, garbled and unsupported files name the file and the fault", () => {
  const bytes = encodeSafetensors([["w", {
    dtype: "F32",
    shape: [4],
    data: new Float32Array(4),
  }]]);
  assert.throws(
    () => decodeSafetensors(bytes.subarray(0, bytes.length - 1), "cut.safetensors"),
    /cut\.safetensors: tensor "w" ends at byte \d+, the file has \d+ \(truncated\)/,
  );
  assert.throws(() => decodeSafetensors(bytes.subarray(0, 5), "tiny.st"), /tiny\.st: only 5 bytes/);
  const garbled = bytes.slice();
  garbled[8] = "x".charCodeAt(0);
  assert.throws(() => decodeSafetensors(garbled, "g.st"), /g\.st: header is not valid JSON/);
  const f16 = new TextEncoder().encode(
    JSON.stringify({ w: { dtype: "F16", shape: [1], data_offsets: [0, 2] } }),
  );
  const file = new Uint8Array(8 + f16.length + 2);
  new DataView(file.buffer).setBigUint64(0, BigInt(f16.length), true);
  file.set(f16, 8);
  assert.throws(() => decodeSafetensors(file, "h.st"), /h\.st: tensor "w" has dtype F16/);
});

Deno.test("permuteAxes: HWIO → OIHW puts w[kh][kw][i][o] at [o][i][kh][kw]", () => {
  const shape = [2, 3, 4, 5];
  const data = Float32Array.from({ length: 120 }, (_, i) => i);
  const out = permuteAxes(data, shape, [3, 2, 0, 1]);
  const at = (kh: number, kw: number, i: number, o: number) => ((kh * 3 + kw) * 4 + i) * 5 + o;
  assert.equal(out[((4 * 4 + 2) * 2 + 1) * 3 + 2], data[at(1, 2, 2, 4)]);
  assert.equal(out[((0 * 4 + 3) * 2 + 0) * 3 + 1], data[at(0, 1, 3, 0)]);
});

Deno.test("torch layout: names, shapes and num_batches_tracked as PyTorch's modules have them", () => {
  const g = new Graph(createRefBackend());
  const small = createModel(g, "small", { seed: 0, width: 4 });
  const names = torchLayout(small).map((e) => `${e.torchName} [${e.torchShape}]`);
  assert.deepEqual(names.slice(0, 6), [
    "encoder.0.weight [4,3,3,3]",
    "encoder.1.weight [4]",
    "encoder.1.bias [4]",
    "encoder.1.running_mean [4]",
    "encoder.1.running_var [4]",
    "encoder.1.num_batches_tracked []",
  ]);
  assert.ok(names.includes("encoder.4.weight [8,4,3,3]"), names.join());
  assert.ok(names.includes("encoder.13.running_var [32]"), names.join());
  assert.ok(names.includes("projector.0.weight [256,32]"), names.join());
  assert.ok(names.includes("projector.3.bias [128]"), names.join());
  const resnet = createModel(g, "resnet18", { seed: 0, width: 2 });
  const rn = torchLayout(resnet).map((e) => e.torchName);
  for (
    const n of ["encoder.3.main.0.weight", "encoder.5.short.0.weight", "encoder.10.main.4.bias"]
  ) {
    assert.ok(rn.includes(n), n);
  }
  assert.equal(rn.filter((n) => n.endsWith("num_batches_tracked")).length, 20);
});

for (const name of MODEL_NAMES) {
  Deno.test(`torch layout: ${name} exported and loaded back gives back the same weights`, async () => {
    const g = new Graph(createRefBackend());
    const width = name === "simple" ? undefined : 2;
    const a = createModel(g, name, { seed: 1, width });
    // Non-trivial running statistics, so the buffers' round trip is checked too.
    for (const b of a.buffers()) {
      const v = await b.value.read();
      b.value = g.keep(g.constant(v.map((x, i) => x + 0.1 * (i % 7)), [...b.value.shape]));
    }
    const dict = await torchStateDict(a, { projector: true, step: 5 });
    const file = decodeSafetensors(encodeSafetensors(dict), "rt.safetensors");
    const b = createModel(g, name, { seed: 2, width });
    assert.deepEqual(loadTorchStateDict(g, b, file, "rt.safetensors"), { projector: true });
    const ours = [...a.params(), ...a.buffers()], theirs = [...b.params(), ...b.buffers()];
    for (let i = 0; i < ours.length; i++) {
      assert.deepEqual(await theirs[i].value.read(), await ours[i].value.read(), ours[i].name);
    }
    // Encoder only: the projector keeps its own values.
    const c = createModel(g, name, { seed: 3, width });
    const before = await c.projector.params()[0].value.read();
    const encoderOnly = await torchStateDict(a, { step: 5 });
    assert.ok([...encoderOnly.keys()].every((k) => k.startsWith("encoder.")));
    const r = loadTorchStateDict(g, c, { metadata: {}, tensors: encoderOnly }, "enc.safetensors");
    assert.equal(r.projector, false);
    assert.deepEqual(await c.projector.params()[0].value.read(), before);
    assert.deepEqual(
      await c.encoder.params()[0].value.read(),
      await a.encoder.params()[0].value.read(),
    );
  });
}

Deno.test("torch layout: simple's flatten order is CHW on the torch side (weights and features)", async () => {
  const g = new Graph(createRefBackend());
  const m = createModel(g, "simple", { seed: 0 });
  const e = torchLayout(m).find((x) => x.torchName === "projector.0.weight")!;
  assert.deepEqual(e.torchShape, [256, 8192]);
  const ours = await m.projector.params()[0].value.read(); // [8192 (h,w,c), 256]
  const dict = await torchStateDict(m, { projector: true });
  const torchW = dict.get("projector.0.weight")!.data as Float32Array; // [256, 8192 (c,h,w)]
  const [o, c, h, w] = [17, 100, 3, 6];
  assert.equal(torchW[o * 8192 + (c * 8 + h) * 8 + w], ours[((h * 8 + w) * 128 + c) * 256 + o]);
  const features = Float32Array.from({ length: 2 * 8192 }, (_, i) => i);
  const torchOrder = featuresInTorchOrder(m, features);
  assert.equal(torchOrder[8192 + (c * 8 + h) * 8 + w], features[8192 + (h * 8 + w) * 128 + c]);
});

Deno.test("torch layout: a missing, unexpected or misshapen tensor names the file and tensor", async () => {
  const g = new Graph(createRefBackend());
  const m = createModel(g, "small", { seed: 0, width: 2 });
  const dict = await torchStateDict(m, {});
  const without = new Map(dict);
  without.delete("encoder.5.running_var");
  assert.throws(
    () => loadTorchStateDict(g, m, { metadata: {}, tensors: without }, "w.safetensors"),
    /w\.safetensors: has no tensor "encoder\.5\.running_var" \(model small needs shape \[4\]\)/,
  );
  const extra = new Map(dict);
  extra.set("encoder.99.weight", { dtype: "F32", shape: [1], data: new Float32Array(1) });
  assert.throws(
    () => loadTorchStateDict(g, m, { metadata: {}, tensors: extra }, "x.safetensors"),
    /x\.safetensors: unexpected tensor "encoder\.99\.weight" for model small/,
  );
  const wider = createModel(g, "small", { seed: 0, width: 3 });
  const before = await wider.encoder.params()[0].value.read();
  assert.throws(
    () => loadTorchStateDict(g, wider, { metadata: {}, tensors: dict }, "y.safetensors"),
    /y\.safetensors: "encoder\.0\.weight" has shape \[2,3,3,3\], model small wants \[3,3,3,3\]/,
  );
  assert.deepEqual(await wider.encoder.params()[0].value.read(), before, "left unchanged");
});
