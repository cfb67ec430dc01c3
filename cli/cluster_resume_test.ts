// deno task cluster --finetune: paused at a step, refused with other settings, resumed to the same
// fine-tuned encoder as an unpaused run; the encoder file loads in evaluate and export.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "@simclr/core";
import { loadCheckpoint, weightsHash } from "@simclr/train";
import { writeCifarFixture } from "../data/cifar_fixture.ts";
import { fixtureTrainArgs, runScript as run } from "./run_script.ts";

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("cluster --finetune: --finetune-max-steps pauses, a rerun resumes to the unpaused result", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-scan-resume-" });
  await writeCifarFixture(dir, { trainPerBatch: 20, test: 40, rng: new Rng(4) });
  const trained = join(dir, "run");
  const train = await run("./train.ts", fixtureTrainArgs(dir, trained));
  assert.equal(train.code, 0, train.out);
  // Two copies of the run: one fine-tuned in one go, one paused and resumed.
  const [a, b] = [join(dir, "a"), join(dir, "b")];
  for (const to of [a, b]) {
    await Deno.mkdir(to);
    await Deno.copyFile(join(trained, "checkpoint.ckpt"), join(to, "checkpoint.ckpt"));
  }
  // 100 train images, 50 anchors a step: 2 steps an epoch, 6 in all.
  const cluster = (out: string, extra: string[] = []) =>
    run("./evaluate.ts", [
      "--cluster-only",
      `--run=${out}`,
      "--backend=ref",
      "--limit=100",
      "--baselines=none",
      "--cluster-k=5",
      "--heads=2",
      "--head-epochs=2",
      "--views=0",
      "--finetune",
      "--finetune-epochs=3",
      "--finetune-batch=50",
      ...extra,
    ]);

  const whole = await cluster(a);
  assert.equal(whole.code, 0, whole.out);
  const resultsA = JSON.parse(await Deno.readTextFile(join(a, "results.json")));
  const ftA = resultsA.variants[0].scan.finetune;
  assert.equal(ftA.steps, 6);
  assert.equal(ftA.checkpoint, "scan-finetune/checkpoint.ckpt");
  assert.equal(await exists(join(a, "scan-finetune", "resume.ckpt")), false, "removed when done");

  // Paused before step 4 (mid-epoch 2): the state is saved, results.json is not written.
  const paused = await cluster(b, ["--finetune-max-steps=3"]);
  assert.equal(paused.code, 0, paused.out);
  assert.match(paused.out, /SCAN fine-tuning paused \(max-steps\) at step 3/);
  const resumePath = join(b, "scan-finetune", "resume.ckpt");
  const saved = await loadCheckpoint(resumePath);
  assert.equal(saved.meta.step, 3);
  assert.equal(saved.meta.reason, "max-steps");
  assert.equal(await exists(join(b, "results.json")), false);

  // Other settings are refused, naming the flag, and the saved state is left as it was.
  const other = await cluster(b, ["--cluster-k=4"]);
  assert.equal(other.code, 2, other.out);
  assert.match(other.out, /--cluster-k: checkpoint has 5, flag says 4/);
  assert.equal((await loadCheckpoint(resumePath)).meta.step, 3);

  // The same command continues from step 3 and ends where the unpaused run ended.
  const resumed = await cluster(b);
  assert.equal(resumed.code, 0, resumed.out);
  assert.match(resumed.out, /resuming SCAN fine-tuning from .*resume\.ckpt at step 3/);
  assert.equal(await exists(resumePath), false, "removed once results.json is written");
  const resultsB = JSON.parse(await Deno.readTextFile(join(b, "results.json")));
  const ftB = resultsB.variants[0].scan.finetune;
  // The reference backend and seeded augmentations make both runs the same computation: the
  // encoders agree to the last bit (tolerance 0), and so do the losses and test scores.
  const encA = await loadCheckpoint(join(a, "scan-finetune", "checkpoint.ckpt"));
  const encB = await loadCheckpoint(join(b, "scan-finetune", "checkpoint.ckpt"));
  assert.deepEqual([...encB.params.keys()], [...encA.params.keys()]);
  for (const [name, t] of encA.params) assert.deepEqual(encB.params.get(name), t, name);
  for (const [name, t] of encA.buffers) assert.deepEqual(encB.buffers.get(name), t, name);
  assert.equal(ftB.steps, 6);
  assert.deepEqual(ftB.epochLoss, ftA.epochLoss);
  for (const key of ["accuracy", "nmi", "ari"]) assert.equal(ftB[key], ftA[key], key);
  // The frozen-feature SCAN result came back from the checkpoint unchanged.
  for (const key of ["accuracy", "nmi", "ari", "k"]) {
    assert.equal(resultsB.variants[0].scan[key], resultsA.variants[0].scan[key], key);
  }

  // The fine-tuned encoder is a trainer-format checkpoint: evaluate and export load its folder.
  const original = await loadCheckpoint(join(b, "checkpoint.ckpt"));
  assert.notEqual(await weightsHash(encB), await weightsHash(original));
  assert.equal(encB.meta.reason, "scan-finetune");
  assert.equal(encB.meta.step, original.meta.step);
  const evaluated = await run("./evaluate.ts", [
    `--run=${join(b, "scan-finetune")}`,
    "--backend=ref",
    "--limit=100",
    "--baselines=none",
    "--tsne-points=0",
  ]);
  assert.equal(evaluated.code, 0, evaluated.out);
  const resultsFt = JSON.parse(
    await Deno.readTextFile(join(b, "scan-finetune", "results.json")),
  );
  assert.equal(resultsFt.checkpointHash, await weightsHash(encB));
  const exported = await run("./export.ts", [`--run=${join(b, "scan-finetune")}`]);
  assert.equal(exported.code, 0, exported.out);
  assert.ok(await exists(join(b, "scan-finetune", "encoder.safetensors")));
  await Deno.remove(dir, { recursive: true });
});
