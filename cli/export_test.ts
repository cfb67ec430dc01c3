// `deno task export` and `train --init-from` end to end on a tiny fixture. The PyTorch load
// (strict=True, features within 1e-4) runs where python3-torch is installed.
import assert from "node:assert/strict";
import { join } from "node:path";
import { readSafetensors, Rng } from "@simclr/core";
import { writeCifarFixture } from "../data/cifar_fixture.ts";
import { fixtureTrainArgs, runScript } from "./run_script.ts";
import { torchAvailable } from "./torch_python.ts";

const torch = await torchAvailable();

/** The fixture training of these tests: batch 8, 16 images, no kNN monitor. */
const TINY = { batchSize: 8, limit: 16, knnEvery: 0 };

async function tinyRun(model: string): Promise<{ dir: string; run: string }> {
  const dir = await Deno.makeTempDir({ prefix: "simclr-export-" });
  await writeCifarFixture(dir, { trainPerBatch: 8, test: 24, rng: new Rng(5) });
  const run = join(dir, "run");
  const train = await runScript("./train.ts", fixtureTrainArgs(dir, run, { ...TINY, model }));
  assert.equal(train.code, 0, train.out);
  return { dir, run };
}

Deno.test("export: metadata, names and torch shapes; --init-from reads it back; bad files named", async () => {
  const { dir, run } = await tinyRun("small");
  const r = await runScript("./export.ts", [`--run=${run}`]);
  assert.equal(r.code, 0, r.out);
  const file = await readSafetensors(join(run, "encoder.safetensors"));
  assert.equal(file.metadata.model, "small");
  assert.equal(file.metadata.width, "2");
  assert.equal(file.metadata.step, "2");
  assert.equal(file.metadata.feature_dim, "16");
  assert.deepEqual(JSON.parse(file.metadata.mean).length, 3);
  assert.deepEqual(file.tensors.get("encoder.0.weight")!.shape, [2, 3, 3, 3]);
  assert.equal(file.tensors.get("encoder.1.num_batches_tracked")!.data[0], 2n);
  assert.ok(![...file.tensors.keys()].some((k) => k.startsWith("projector.")));

  const init = await runScript("./train.ts", [
    ...fixtureTrainArgs(dir, join(dir, "fine-tune"), TINY),
    `--init-from=${join(run, "encoder.safetensors")}`,
  ]);
  assert.equal(init.code, 0, init.out);
  assert.match(
    init.out,
    /initialised the encoder \(projector: fresh\) from .*encoder\.safetensors/,
  );

  const wrong = await runScript("./train.ts", [
    ...fixtureTrainArgs(dir, join(dir, "wrong"), { ...TINY, width: 3 }),
    `--init-from=${join(run, "encoder.safetensors")}`,
  ]);
  assert.equal(wrong.code, 1);
  assert.match(
    wrong.out,
    /encoder\.safetensors: "encoder\.0\.weight" has shape \[2,3,3,3\], model small wants \[3,3,3,3\]/,
  );
  const bad = await runScript("./export.ts", [`--run=${run}`, "--format=onnx"]);
  assert.equal(bad.code, 2);
  assert.match(bad.out, /--format must be safetensors; got "onnx"/);
});

Deno.test("export --check without torch says which Python lacks it", async () => {
  const { run } = await tinyRun("small");
  const r = await runScript("./export.ts", [`--run=${run}`, "--check", "--backend=ref"], {
    SIMCLR_PYTHON: "/nonexistent/python3",
  });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /export --check: \/nonexistent\/python3 does not run/);
});

for (const model of ["simple", "small", "resnet18"]) {
  Deno.test({
    name: `export --check: PyTorch loads ${model} strict=True, eval features within 1e-4`,
    ignore: "missing" in torch,
    fn: async () => {
      const { run } = await tinyRun(model);
      const r = await runScript("./export.ts", [
        `--run=${run}`,
        "--projector",
        "--check",
        "--backend=ref",
      ]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /loaded .*encoder-projector\.safetensors with strict=True/);
      const m = r.out.match(/‖Δ‖\/‖ours‖ ([\d.e+-]+) \(tolerance 0\.0001\): OK/);
      assert.ok(m, r.out);
      assert.ok(Number(m[1]) <= 1e-4);
    },
  });
}
