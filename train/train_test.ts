// Training loop, checkpoints and resume on a tiny fixture with the reference backend.
import assert from "node:assert/strict";
import { join } from "node:path";
import { createRefBackend } from "@simclr/backend-ref";
import { MODEL_NAMES, Rng } from "@simclr/core";
import { type Cifar10, loadCifar10 } from "@simclr/data";
import { writeCifarFixture } from "../data/cifar_fixture.ts";
import {
  CheckpointError,
  loadCheckpoint,
  NonFiniteCheckpointError,
  saveCheckpoint,
  weightsHash,
} from "./checkpoint.ts";
import { FlagError, givenFlags, helpText, parseTrainArgs, type TrainConfig } from "./config.ts";
import { planResume } from "./resume.ts";
import { RUN_FILES, runTraining, TrainingStoppedError } from "./trainer.ts";

async function fixture(): Promise<{ dir: string; data: Cifar10 }> {
  const dir = await Deno.makeTempDir({ prefix: "simclr-fixture-" });
  await writeCifarFixture(dir, { trainPerBatch: 8, test: 16, rng: new Rng(1) });
  return { dir, data: await loadCifar10(dir, { strictCounts: false }) };
}

function tinyConfig(out: string, data: string): TrainConfig & { model: "small" } {
  const parsed = parseTrainArgs([
    "--backend=ref",
    "--model=small",
    "--width=2",
    "--epochs=3",
    "--batch-size=8",
    "--knn-every=0",
    "--limit=32",
    `--out=${out}`,
    `--data=${data}`,
  ]);
  if (parsed === "help") throw new Error("unexpected help");
  return { ...parsed, model: "small" };
}

/** A fixture folder and the checkpoint of one reference-backend epoch trained on it. */
async function oneEpochCheckpoint(): Promise<{ dir: string; path: string }> {
  const { dir, data } = await fixture();
  const out = join(dir, "run");
  await runTraining({
    config: { ...tinyConfig(out, dir), epochs: 1 },
    backend: createRefBackend(),
    engineDescription: "ref",
    data,
    quiet: true,
  });
  return { dir, path: join(out, RUN_FILES.checkpoint) };
}

Deno.test("a stopped and resumed run ends with the same weights as an uninterrupted one", async () => {
  const { dir, data } = await fixture();
  const straightOut = join(dir, "straight"), resumedOut = join(dir, "resumed");
  const straight = await runTraining({
    config: tinyConfig(straightOut, dir),
    backend: createRefBackend(),
    engineDescription: "ref",
    data,
    quiet: true,
  });
  assert.equal(straight.stopped, "done");
  assert.equal(straight.step, 12);

  const stopSignal = { requested: false };
  const first = await runTraining({
    config: tinyConfig(resumedOut, dir),
    backend: createRefBackend(),
    engineDescription: "ref",
    data,
    quiet: true,
    stopSignal,
    onStep: (s) => (stopSignal.requested = s === 5),
  });
  assert.equal(first.stopped, "interrupt");
  assert.equal(first.step, 5);
  const saved = await loadCheckpoint(join(resumedOut, RUN_FILES.checkpoint));
  assert.equal(saved.meta.step, 5);
  assert.equal(saved.meta.reason, "interrupt");
  const second = await runTraining({
    config: tinyConfig(resumedOut, dir),
    backend: createRefBackend(),
    engineDescription: "ref",
    data,
    quiet: true,
    resumeFrom: saved as never,
  });
  assert.equal(second.step, 12);

  const a = await loadCheckpoint(join(straightOut, RUN_FILES.checkpoint));
  const b = await loadCheckpoint(join(resumedOut, RUN_FILES.checkpoint));
  assert.equal(a.params.size, b.params.size);
  for (const [name, t] of a.params) {
    assert.deepEqual(b.params.get(name)!.data, t.data, `param ${name} differs after resume`);
  }
  for (const [name, t] of a.buffers) assert.deepEqual(b.buffers.get(name)!.data, t.data, name);
  // The log holds each step exactly once, and its losses equal the uninterrupted run's.
  const steps = async (out: string) =>
    (await Deno.readTextFile(join(out, RUN_FILES.log))).trim().split("\n").map((l) => JSON.parse(l))
      .filter((r) => r.type === "step");
  const la = await steps(straightOut), lb = await steps(resumedOut);
  assert.deepEqual(lb.map((r) => r.step), [...Array(12).keys()].map((i) => i + 1));
  assert.deepEqual(lb.map((r) => r.loss), la.map((r) => r.loss));
  // Whole-epoch records too: epoch 2 (steps 5–8) was cut after step 5, and its mean loss still
  // covers all four steps, as in the uninterrupted run.
  const epochs = async (out: string) =>
    (await Deno.readTextFile(join(out, RUN_FILES.log))).trim().split("\n").map((l) => JSON.parse(l))
      .filter((r) => r.type === "epoch" && Number.isInteger(r.epoch));
  const ea = await epochs(straightOut), eb = await epochs(resumedOut);
  assert.deepEqual(eb.map((r) => r.epoch), [1, 2, 3]);
  for (let i = 0; i < 3; i++) {
    assert.ok(
      Math.abs(eb[i].loss - ea[i].loss) <= 1e-12,
      `epoch ${i + 1}: ${eb[i].loss} vs ${ea[i].loss}`,
    );
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checkpoint: a truncated or foreign file is refused with the file named", async () => {
  const { dir, path } = await oneEpochCheckpoint();
  const bytes = await Deno.readFile(path);
  const cut = join(dir, "cut.ckpt");
  await Deno.writeFile(cut, bytes.subarray(0, bytes.length - 100));
  await assert.rejects(
    loadCheckpoint(cut),
    (e: Error) =>
      e instanceof CheckpointError && e.message.startsWith(cut) && /truncated/.test(e.message),
  );
  const foreign = join(dir, "foreign.ckpt");
  await Deno.writeTextFile(foreign, "hello, not a checkpoint");
  await assert.rejects(loadCheckpoint(foreign), /not a simclr-ts checkpoint/);
  await assert.rejects(loadCheckpoint(join(dir, "missing.ckpt")), /no such checkpoint/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("flags: unknown flags and out-of-range values are refused with the valid range", () => {
  const cases: [string[], RegExp][] = [
    [["--batch-size=1"], /--batch-size must be an integer ≥ 2; got "1"/],
    [["--temperature=0"], /--temperature must be a number ≥ 0.01; got "0"/],
    [["--temperature=1e-30"], /--temperature must be a number ≥ 0.01/],
    [["--epochs=0x2"], /--epochs must be an integer ≥ 1; got "0x2"/],
    [["--epochs=1e0"], /--epochs must be an integer ≥ 1; got "1e0"/],
    [["--seed=1.0"], /--seed must be an integer/],
    [["--weight-decay=-0.5"], /--weight-decay must be a number ≥ 0; got "-0.5"/],
    [["--weight-decay=-1"], /--weight-decay must be a number ≥ 0; got "-1"/],
    [["--backend=native", "--engine=wasm"], /--engine is for --backend gpu; --backend native/],
    [["--backend=ref", "--engine=auto"], /--engine is for --backend gpu; --backend ref/],
    [["--epochs=0"], /--epochs must be an integer ≥ 1/],
    [["--lr=abc"], /--lr must be a number/],
    [
      ["--model=vgg"],
      new RegExp(`--model must be one of default, ${MODEL_NAMES.join(", ")}; got "vgg"`),
    ],
    [["--bogus"], /Unknown option '--bogus'/],
    [["--proj-layers=0"], /--proj-layers must be an integer ≥ 1; got "0"/],
    [["--proj-hidden=-4"], /--proj-hidden must be an integer ≥ 0; got "-4"/],
    [["--proj-out=1.5"], /--proj-out must be an integer ≥ 0; got "1.5"/],
    [
      ["--proj-layers=1", "--proj-hidden=64"],
      /--proj-hidden sets the width of the projection head's hidden layers, and --proj-layers 1 has none/,
    ],
  ];
  for (const [args, pattern] of cases) {
    assert.throws(
      () => parseTrainArgs(args),
      (e: Error) => e instanceof FlagError && pattern.test(e.message),
      args.join(" "),
    );
  }
  const ok = parseTrainArgs(["--batch-size=64", "--temperature", "0.2", "--epochs", " 7"]);
  assert.ok(ok !== "help" && ok.batchSize === 64 && ok.temperature === 0.2 && ok.epochs === 7);
  const wd = parseTrainArgs(["--weight-decay=0", "--backend=gpu", "--engine=wasm"]);
  assert.ok(wd !== "help" && wd.weightDecay === 0 && wd.engine === "wasm");
  const dflt = parseTrainArgs([]);
  assert.ok(dflt !== "help" && dflt.weightDecay === -1, "the default stays the sentinel");
  assert.ok(dflt.projHidden === 0 && dflt.projOut === 0 && dflt.projLayers === 2);
  const head = parseTrainArgs(["--proj-layers=3", "--proj-hidden=512", "--proj-out=64"]);
  assert.ok(head !== "help");
  assert.deepEqual([head.projLayers, head.projHidden, head.projOut], [3, 512, 64]);
});

Deno.test("train --help lists the projection-head flags with their defaults", () => {
  const help = helpText();
  assert.match(
    help,
    /--proj-hidden N +projection head's hidden width \(0 = model default: simple\/small 256, resnet10\/resnet18 512\) \(default: 0\)/,
  );
  assert.match(
    help,
    /--proj-out N +projection \(loss input\) width \(0 = model default: 128\) \(default: 0\)/,
  );
  assert.match(help, /--proj-layers N +Linear layers in the projection head .*\(default: 2\)/);
});

Deno.test("resume: a checkpoint from before the head flags counts as the default head", () => {
  const { projHidden: _h, projOut: _o, projLayers: _l, ...old } = tinyConfig("/runs/a", "/data");
  const args = (a: string[]) => {
    const c = parseTrainArgs(a);
    if (c === "help") throw new Error("help");
    return { flags: c, given: givenFlags(a) };
  };
  const same = args(["--out=/runs/a", "--resume", "--proj-layers=2", "--proj-out=0"]);
  const plan = planResume(old as TrainConfig, same.flags, same.given);
  assert.deepEqual(plan.conflicts, []);
  assert.deepEqual([plan.config.projLayers, plan.config.projOut, plan.config.projHidden], [
    2,
    0,
    0,
  ]);
  const deeper = args(["--out=/runs/a", "--resume", "--proj-layers=3"]);
  assert.deepEqual(planResume(old as TrainConfig, deeper.flags, deeper.given).conflicts, [
    "--proj-layers: run has 2, flag says 3",
  ]);
});

Deno.test("a diverging run never writes a non-finite checkpoint and names one that exists", async () => {
  const { dir, data } = await fixture();
  // SGD at lr 1e5: the loss stays finite for a while but batch-norm running variances reach
  // +Inf by the end of epoch 2, so that checkpoint must not be written.
  const out = join(dir, "sgd");
  const config = { ...tinyConfig(out, dir), optimizer: "sgd" as const, lr: 1e5, warmupEpochs: 0 };
  const ckpt = join(out, RUN_FILES.checkpoint);
  let named = -1;
  await assert.rejects(
    runTraining({
      config,
      backend: createRefBackend(),
      engineDescription: "ref",
      data,
      quiet: true,
    }),
    (e: Error) => {
      named = Number(e.message.match(/Last good checkpoint: .* \(step (\d+)\)/)?.[1] ?? -1);
      return e instanceof TrainingStoppedError && e.lastCheckpoint === ckpt &&
        /not written: non-finite values .*running_var/.test(e.message) &&
        e.message.includes(`Last good checkpoint: ${ckpt} (step`);
    },
  );
  const left = await loadCheckpoint(ckpt); // loads, so every value in it is finite
  assert.ok(named > 0);
  assert.equal(left.meta.step, named, "the message names the checkpoint that is on disk");
  // NaN on the first steps, before any checkpoint: the message says there is none.
  const out2 = join(dir, "sgd2");
  await assert.rejects(
    runTraining({
      config: { ...config, out: out2, lr: 1e30 },
      backend: createRefBackend(),
      engineDescription: "ref",
      data,
      quiet: true,
    }),
    (e: Error) =>
      e instanceof TrainingStoppedError && e.lastCheckpoint === undefined &&
      /loss is NaN.*No checkpoint was written for this run yet/.test(e.message),
  );
  assert.equal(await Deno.stat(join(out2, RUN_FILES.checkpoint)).catch(() => null), null);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checkpoints: non-finite values are refused on save and on load; bad headers name the field", async () => {
  const { dir, path } = await oneEpochCheckpoint();
  const good = await loadCheckpoint(path);
  assert.match(await weightsHash(good), /^[0-9a-f]{64}$/);
  // Put +Inf into the last float (an optimiser slot or buffer) and into the first weight.
  const bytes = await Deno.readFile(path);
  const headerLength = new DataView(bytes.buffer).getUint32(8, true);
  const dataStart = Math.ceil((12 + headerLength) / 4) * 4;
  const inf = join(dir, "inf.ckpt");
  const patched = bytes.slice();
  new DataView(patched.buffer).setFloat32(dataStart, Infinity, true);
  await Deno.writeFile(inf, patched);
  await assert.rejects(
    loadCheckpoint(inf),
    (e: Error) =>
      e instanceof CheckpointError && e.message.startsWith(inf) && /non-finite/.test(e.message),
  );
  // Header without `tensors` / `config`: the message names the file and the field.
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
  for (const field of ["tensors", "config"]) {
    const h = { ...header };
    delete h[field];
    const text = new TextEncoder().encode(JSON.stringify(h));
    const file = new Uint8Array(12 + text.length);
    file.set(bytes.subarray(0, 8));
    new DataView(file.buffer).setUint32(8, text.length, true);
    file.set(text, 12);
    const p = join(dir, `no-${field}.ckpt`);
    await Deno.writeFile(p, file);
    await assert.rejects(
      loadCheckpoint(p),
      (e: Error) =>
        e instanceof CheckpointError && e.message.startsWith(p) &&
        e.message.includes(`header field "${field}" is missing`),
    );
  }
  // saveCheckpoint refuses NaN outright and leaves the old file alone.
  const model = {
    params: () => [{
      name: "w",
      value: { shape: [2], read: () => Promise.resolve(new Float32Array([1, NaN])) },
    }],
    buffers: () => [],
  };
  await assert.rejects(
    saveCheckpoint(path, model as never, { step: 0, slots: {} }, {
      config: {},
      step: 1,
      epoch: 1,
      trainSeconds: 0,
      seed: 0,
      reason: "test",
    }),
    (e: Error) => e instanceof NonFiniteCheckpointError && /param "w"/.test(e.message),
  );
  assert.deepEqual(await Deno.readFile(path), bytes);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("collapse: two collapsed epochs warn, and --stop-on-collapse stops; a healthy run is quiet", async () => {
  const { dir, data } = await fixture();
  const epochRecords = async (out: string) =>
    (await Deno.readTextFile(join(out, RUN_FILES.log))).trim().split("\n").map((l) => JSON.parse(l))
      .filter((r) => r.type === "epoch");
  const healthy = await runTraining({
    config: { ...tinyConfig(join(dir, "ok"), dir), epochs: 4 },
    backend: createRefBackend(),
    engineDescription: "ref",
    data,
    quiet: true,
  });
  assert.equal(healthy.stopped, "done");
  assert.deepEqual((await epochRecords(join(dir, "ok"))).map((r) => r.collapse), [
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
  // Adam at lr 1e6: the loss sits near ln(2N − 1) and the features bunch together.
  const out = join(dir, "collapse");
  const collapsed = await runTraining({
    config: { ...tinyConfig(out, dir), epochs: 6, lr: 1e6, stopOnCollapse: true },
    backend: createRefBackend(),
    engineDescription: "ref",
    data,
    quiet: true,
  });
  assert.equal(collapsed.stopped, "collapse");
  const records = await epochRecords(out);
  assert.ok(records.length >= 2 && records.length < 6, `${records.length} epochs`);
  assert.ok(records.at(-1).collapse.length >= 1 && records.at(-2).collapse.length >= 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("resume: changeable flags are applied and listed, others are conflicts", () => {
  const saved = tinyConfig("/runs/a", "/data");
  const args = (a: string[]) => {
    const c = parseTrainArgs(a);
    if (c === "help") throw new Error("help");
    return { flags: c, given: givenFlags(a) };
  };
  const ok = args(["--out=/runs/a", "--resume", "--lr=0.0001", "--epochs=5", "--workers=2"]);
  const plan = planResume(saved, ok.flags, ok.given);
  assert.deepEqual(plan.conflicts, []);
  assert.equal(plan.config.lr, 0.0001);
  assert.equal(plan.config.epochs, 5);
  assert.equal(plan.config.workers, 2);
  assert.equal(plan.config.batchSize, 8, "kept from the run");
  assert.equal(plan.config.data, "/data", "kept from the run when --data is not given");
  assert.deepEqual(plan.changes.sort(), ["--epochs 3 → 5", "--lr 0 → 0.0001", "--workers 1 → 2"]);
  const bad = args([
    "--out=/runs/a",
    "--resume",
    "--model=resnet18",
    "--batch-size=50",
    "--optimizer=adam",
    "--seed=0",
  ]);
  const refused = planResume(saved, bad.flags, bad.given);
  assert.deepEqual(refused.conflicts, [
    "--model: run has small, flag says resnet18",
    "--batch-size: run has 8, flag says 50",
  ]);
  const backend = args(["--out=/runs/a", "--resume", "--backend=gpu", "--engine=wasm"]);
  const moved = planResume(saved, backend.flags, backend.given);
  assert.equal(moved.config.backend, "gpu");
  assert.equal(moved.config.engine, "wasm");
  const nativeRun = { ...saved, backend: "native" as const };
  const engineOnly = args(["--out=/runs/a", "--resume", "--engine=wasm"]);
  assert.deepEqual(planResume(nativeRun, engineOnly.flags, engineOnly.given).conflicts, [
    "--engine: the run's backend native has no engines (add --backend gpu to move it)",
  ]);
});
