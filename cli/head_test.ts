// The projection-head flags end to end on a tiny fixture (reference backend): the head a run was
// trained with is saved in run.json and the checkpoint, and --resume, evaluate and export rebuild
// it from the run folder. PyTorch's strict load of the deeper head runs where python3-torch is.
import assert from "node:assert/strict";
import { join } from "node:path";
import { readRunSummary, readSafetensors, Rng, RUN_FILES } from "@simclr/core";
import { writeCifarFixture } from "../data/cifar_fixture.ts";
import { fixtureTrainArgs, runScript as run } from "./run_script.ts";
import { torchAvailable } from "./torch_python.ts";

const torch = await torchAvailable();
const HEAD = ["--proj-layers=3", "--proj-hidden=8", "--proj-out=4"];

Deno.test("a 3-layer head: train → resume → evaluate → export rebuild it from the run folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-head-" });
  await writeCifarFixture(dir, { trainPerBatch: 8, test: 24, rng: new Rng(4) });
  const out = join(dir, "run");
  const common = fixtureTrainArgs(dir, out, { epochs: 2, batchSize: 8, limit: 32, knnEvery: 0 });
  const train = await run("./train.ts", [...common, ...HEAD, "--max-steps=2"]);
  assert.equal(train.code, 0, train.out);
  const summary = await readRunSummary(join(out, RUN_FILES.summary));
  assert.equal(summary?.step, 2);
  assert.deepEqual(
    [summary?.config.projLayers, summary?.config.projHidden, summary?.config.projOut],
    [3, 8, 4],
  );

  // --resume takes the head from the checkpoint; a different head is refused, by name.
  const refused = await run("./train.ts", [...common, "--resume", "--proj-layers=2"]);
  assert.equal(refused.code, 2, refused.out);
  assert.match(refused.out, /--proj-layers: run has 3, flag says 2/);
  const resumed = await run("./train.ts", [...common, "--resume", "--max-steps=3"]);
  assert.equal(resumed.code, 0, resumed.out);
  assert.equal((await readRunSummary(join(out, RUN_FILES.summary)))?.step, 3);

  const evaluate = await run("./evaluate.ts", [
    `--run=${out}`,
    "--backend=ref",
    "--limit=40",
    "--baselines=none",
    "--tsne-points=0",
  ]);
  assert.equal(evaluate.code, 0, evaluate.out);
  const results = JSON.parse(await Deno.readTextFile(join(out, RUN_FILES.results)));
  assert.equal(results.step, 3);
  assert.equal(results.variants[0].dim, 16, "the encoder's features, not the head's 4");

  const exported = await run("./export.ts", [
    `--run=${out}`,
    "--projector",
    ...(torch && "version" in torch ? ["--check", "--backend=ref"] : []),
  ]);
  assert.equal(exported.code, 0, exported.out);
  const file = await readSafetensors(join(out, "encoder-projector.safetensors"));
  assert.deepEqual(
    [file.metadata.proj_layers, file.metadata.proj_hidden, file.metadata.proj_out],
    ["3", "8", "4"],
  );
  // torch layout: nn.Sequential(Linear, BN, ReLU, Linear, BN, ReLU, Linear), weights [out, in].
  assert.deepEqual(file.tensors.get("projector.0.weight")!.shape, [8, 16]);
  assert.deepEqual(file.tensors.get("projector.3.weight")!.shape, [8, 8]);
  assert.equal(file.tensors.get("projector.4.num_batches_tracked")!.data[0], 3n);
  assert.deepEqual(file.tensors.get("projector.6.weight")!.shape, [4, 8]);
  assert.deepEqual(file.tensors.get("projector.6.bias")!.shape, [4]);
  if ("version" in torch) {
    assert.match(exported.out, /"proj_layers": "3"/);
    assert.match(exported.out, /\(tolerance 0\.0001\): OK/);
  }
  await Deno.remove(dir, { recursive: true });
});
