// Training loop, checkpoints and resume on a tiny fixture with the reference backend.
import assert from "node:assert/strict";
import { join } from "node:path";
import { createRefBackend } from "@simclr/backend-ref";
import { Rng } from "@simclr/core";
import { type Cifar10, loadCifar10, writeCifarFixture } from "@simclr/data";
import { CheckpointError, loadCheckpoint } from "./checkpoint.ts";
import { FlagError, parseTrainArgs, type TrainConfig } from "./config.ts";
import { RUN_FILES, runTraining } from "./trainer.ts";

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
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checkpoint: a truncated or foreign file is refused with the file named", async () => {
  const { dir, data } = await fixture();
  const out = join(dir, "run");
  await runTraining({
    config: { ...tinyConfig(out, dir), epochs: 1 },
    backend: createRefBackend(),
    engineDescription: "ref",
    data,
    quiet: true,
  });
  const path = join(out, RUN_FILES.checkpoint);
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
    [["--temperature=0"], /--temperature must be a number > 0; got "0"/],
    [["--epochs=0"], /--epochs must be an integer ≥ 1/],
    [["--lr=abc"], /--lr must be a number/],
    [["--model=vgg"], /--model must be one of default, simple, small, resnet18; got "vgg"/],
    [["--bogus"], /Unknown option '--bogus'/],
  ];
  for (const [args, pattern] of cases) {
    assert.throws(
      () => parseTrainArgs(args),
      (e: Error) => e instanceof FlagError && pattern.test(e.message),
      args.join(" "),
    );
  }
  const ok = parseTrainArgs(["--batch-size=64", "--temperature", "0.2"]);
  assert.ok(ok !== "help" && ok.batchSize === 64 && ok.temperature === 0.2 && ok.epochs === 30);
});
