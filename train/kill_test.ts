// A training process killed with SIGKILL at an arbitrary moment leaves its last checkpoint
// readable, and `--resume` continues from it with a consistent log.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "@simclr/core";
import { writeCifarFixture } from "@simclr/data";
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
  const child = train([...common, "--epochs=1000"]);
  const ckpt = join(out, RUN_FILES.checkpoint);
  // Wait for a few epochs' checkpoints, then kill at whatever the process is doing.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await exists(ckpt) && (await loadCheckpoint(ckpt).catch(() => null))?.meta.step! >= 6) {
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  await child.status;
  await child.stderr.cancel();
  const killed = await loadCheckpoint(ckpt);
  assert.ok(killed.meta.step >= 6 && killed.meta.step % 2 === 0, `step ${killed.meta.step}`);

  const resumed = train([`--out=${out}`, "--resume", "--max-minutes=0.0001", `--data=${dir}`]);
  const status = await resumed.status;
  const stderr = new TextDecoder().decode(await new Response(resumed.stderr).arrayBuffer());
  assert.equal(status.code, 0, stderr);
  assert.match(stderr, new RegExp(`resuming at step ${killed.meta.step}`));
  const after = await loadCheckpoint(ckpt);
  assert.equal(after.meta.step, killed.meta.step + 1);
  assert.equal(after.meta.reason, "time-budget");
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
