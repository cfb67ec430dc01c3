// A training process killed with SIGKILL at an arbitrary moment leaves its last checkpoint
// readable, and `--resume` continues from it with a consistent log.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "@simclr/core";
import { writeCifarFixture } from "../data/cifar_fixture.ts";
import { loadCheckpoint } from "./checkpoint.ts";
import { RUN_FILES } from "./trainer.ts";

const MAIN = new URL("../cli/train.ts", import.meta.url).pathname;

function train(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("kill -9 mid-run, then --resume continues from the last checkpoint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-kill-" });
  await writeCifarFixture(dir, { trainPerBatch: 8, test: 16, rng: new Rng(2) });
  const out = join(dir, "run");
  const common = [
    "--backend=ref",
    "--model=small",
    "--width=2",
    "--batch-size=8",
    "--knn-every=0",
    "--limit=16",
    `--data=${dir}`,
    `--out=${out}`,
  ];
  // --max-steps bounds the run instead of a wall clock: on a slow machine the test waits longer,
  // and a trainer the kill never reaches still ends by itself.
  const child = train([...common, "--epochs=1000", "--max-steps=400"]);
  let ended = false;
  const exited = child.status.then(() => ended = true);
  const ckpt = join(out, RUN_FILES.checkpoint);
  // Wait for a few epochs' checkpoints, then kill at whatever the process is doing.
  while (!await Promise.race([exited, new Promise((r) => setTimeout(() => r(false), 50))])) {
    if (await exists(ckpt) && (await loadCheckpoint(ckpt).catch(() => null))?.meta.step! >= 6) {
      break;
    }
  }
  if (!ended) child.kill("SIGKILL");
  await child.status;
  await child.stderr.cancel();
  const killed = await loadCheckpoint(ckpt);
  assert.ok(killed.meta.step >= 6 && killed.meta.step % 2 === 0, `step ${killed.meta.step}`);
  assert.ok(killed.meta.step < 400, `the kill came after the trainer ended (${killed.meta.step})`);

  // One more step, then a normal stop with its checkpoint.
  const resumed = train([
    `--out=${out}`,
    "--resume",
    `--max-steps=${killed.meta.step + 1}`,
    `--data=${dir}`,
  ]);
  const status = await resumed.status;
  const stderr = new TextDecoder().decode(await new Response(resumed.stderr).arrayBuffer());
  assert.equal(status.code, 0, stderr);
  assert.match(stderr, new RegExp(`resuming at step ${killed.meta.step}`));
  assert.match(stderr, /stopped \(max-steps\) at step/);
  // The killed trainer's lock is stale: taken over with a message naming it.
  assert.match(stderr, new RegExp(`took over the lock of .* left by pid ${child.pid} `));
  const after = await loadCheckpoint(ckpt);
  assert.equal(after.meta.step, killed.meta.step + 1);
  assert.equal(after.meta.reason, "max-steps");
  const steps = (await Deno.readTextFile(join(out, RUN_FILES.log))).trim().split("\n")
    .map((l) => JSON.parse(l)).filter((r) => r.type === "step").map((r) => r.step);
  assert.deepEqual(steps, [...Array(after.meta.step).keys()].map((i) => i + 1));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("CLI: bad flags exit 2 naming the flag; a missing data folder names the file", async () => {
  const bad = train(["--batch-size=1"]);
  const badStatus = await bad.status;
  const badErr = new TextDecoder().decode(await new Response(bad.stderr).arrayBuffer());
  assert.equal(badStatus.code, 2);
  assert.match(badErr, /--batch-size must be an integer ≥ 2/);
  const dir = await Deno.makeTempDir();
  const missing = train(["--backend=ref", `--data=${dir}`, `--out=${join(dir, "r")}`]);
  const missingStatus = await missing.status;
  const missingErr = new TextDecoder().decode(await new Response(missing.stderr).arrayBuffer());
  assert.equal(missingStatus.code, 1);
  assert.match(missingErr, /data_batch_1\.bin/);
  await Deno.remove(dir, { recursive: true });
});

const COMMON = [
  "--backend=ref",
  "--model=small",
  "--width=2",
  "--batch-size=8",
  "--knn-every=0",
  "--limit=16",
];

async function finish(child: Deno.ChildProcess): Promise<{ code: number; err: string }> {
  const [status, bytes] = await Promise.all([
    child.status,
    new Response(child.stderr).arrayBuffer(),
  ]);
  return { code: status.code, err: new TextDecoder().decode(bytes) };
}

Deno.test("two trainers on one folder: the second stops at once naming the first; SIGTERM saves", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-lock-cli-" });
  await writeCifarFixture(dir, { trainPerBatch: 8, test: 16, rng: new Rng(2) });
  const out = join(dir, "run");
  // Bounded by --max-steps, not a wall clock; SIGTERM comes long before it.
  const first = train([
    ...COMMON,
    "--epochs=100000",
    "--max-steps=100000",
    `--data=${dir}`,
    `--out=${out}`,
  ]);
  let firstEnded = false;
  first.status.then(() => firstEnded = true);
  while (!firstEnded && !(await exists(join(out, RUN_FILES.log)))) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const t0 = Date.now();
  const second = await finish(
    train([...COMMON, "--epochs=2", "--seed=7", `--data=${dir}`, `--out=${out}`]),
  );
  const seconds = (Date.now() - t0) / 1000;
  assert.notEqual(second.code, 0, second.err);
  assert.ok(seconds < 5, `second trainer took ${seconds} s to stop`);
  assert.match(second.err, new RegExp(`in use by another training process \\(pid ${first.pid}\\b`));
  // SIGTERM, like Ctrl-C: a checkpoint after the current step, exit 130, lock released.
  await new Promise((r) => setTimeout(r, 300));
  first.kill("SIGTERM");
  const firstDone = await finish(first);
  assert.equal(firstDone.code, 130, firstDone.err);
  assert.match(firstDone.err, /stopped \(interrupt\)/);
  assert.equal((await loadCheckpoint(join(out, RUN_FILES.checkpoint))).meta.reason, "interrupt");
  assert.equal(await exists(join(out, "train.lock")), false);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--resume: differing fixed flags are refused as a list; a finished run changes nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-resume-cli-" });
  await writeCifarFixture(dir, { trainPerBatch: 8, test: 16, rng: new Rng(2) });
  const out = join(dir, "run");
  const first = await finish(train([...COMMON, "--epochs=1", `--data=${dir}`, `--out=${out}`]));
  assert.equal(first.code, 0, first.err);
  const summary = await Deno.readTextFile(join(out, RUN_FILES.summary));
  const ckpt = await Deno.readFile(join(out, RUN_FILES.checkpoint));

  const conflict = await finish(
    train([`--out=${out}`, "--resume", "--model=resnet18", "--batch-size=50", "--lr=0.01"]),
  );
  assert.equal(conflict.code, 2, conflict.err);
  assert.match(conflict.err, /--model: run has small, flag says resnet18/);
  assert.match(conflict.err, /--batch-size: run has 8, flag says 50/);

  const finished = await finish(train([`--out=${out}`, "--resume"]));
  assert.equal(finished.code, 0, finished.err);
  assert.match(finished.err, /is finished \(epoch 1 of 1\); nothing to do\. Pass --epochs N/);
  assert.equal(await Deno.readTextFile(join(out, RUN_FILES.summary)), summary);
  assert.deepEqual(await Deno.readFile(join(out, RUN_FILES.checkpoint)), ckpt);

  // --max-steps counts the run's steps: one not past where the run stands is refused.
  const behind = await finish(train([`--out=${out}`, "--resume", "--epochs=2", "--max-steps=2"]));
  assert.equal(behind.code, 2, behind.err);
  assert.match(behind.err, /--max-steps 2 is not past step 2/);

  // Extending it, with a lower learning rate: both applied and logged.
  const extended = await finish(
    train([`--out=${out}`, "--resume", "--epochs=2", "--lr=0.0005", `--data=${dir}`]),
  );
  assert.equal(extended.code, 0, extended.err);
  assert.match(extended.err, /resume: --epochs 1 → 2/);
  assert.match(extended.err, /resume: --lr 0 → 0\.0005/);
  const after = await loadCheckpoint<{ epochs: number; lr: number }>(
    join(out, RUN_FILES.checkpoint),
  );
  assert.equal(after.meta.step, 4);
  assert.equal(after.meta.config.epochs, 2);
  assert.equal(after.meta.config.lr, 0.0005);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("default run folders started in the same second do not collide", async () => {
  const { createDefaultRunFolder } = await import("../cli/train.ts");
  const root = await Deno.makeTempDir({ prefix: "simclr-runs-" });
  const made = await Promise.all([1, 2, 3].map(() => createDefaultRunFolder("small", root)));
  assert.equal(new Set(made).size, 3, made.join(" "));
  for (const m of made) assert.ok((await Deno.stat(m)).isDirectory);
  await Deno.remove(root, { recursive: true });
});
