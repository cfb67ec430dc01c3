import assert from "node:assert/strict";
import { Rng } from "@simclr/core";
import { makeViews } from "./augment.ts";
import { AugmentPool } from "./workers.ts";

function fixtureImages(count: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const images = new Uint8Array(count * 3072);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  return images;
}

Deno.test("AugmentPool equals makeViews for 1 and 2 workers, several batches in flight", async () => {
  const images = fixtureImages(20, 1);
  const batches = [
    { indices: new Int32Array([3, 19, 0, 7, 7, 12, 5]), seed: 11 }, // odd size: uneven split
    { indices: new Int32Array([1]), seed: 12 }, // fewer images than workers
    { indices: new Int32Array([2, 4, 6, 8, 10, 12, 14, 16]), seed: 2 ** 40 + 3 },
  ];
  const config = { hue: 0.05 };
  for (const workers of [1, 2]) {
    const pool = await AugmentPool.create({ images, workers, config });
    try {
      assert.equal(pool.size, workers);
      const results = await Promise.all(batches.map((b) => pool.prefetch(b.indices, b.seed)));
      for (let k = 0; k < batches.length; k++) {
        const expected = makeViews(images, batches[k].indices, batches[k].seed, config);
        assert.deepEqual(results[k].view1, expected.view1, `view1, batch ${k}, ${workers} workers`);
        assert.deepEqual(results[k].view2, expected.view2, `view2, batch ${k}, ${workers} workers`);
      }
      const empty = await pool.prefetch(new Int32Array(0), 1);
      assert.equal(empty.view1.length, 0);
    } finally {
      pool.close();
    }
  }
});

Deno.test("AugmentPool rejects bad input, and close() ends workers and in-flight batches", async () => {
  const images = fixtureImages(4, 2);
  await assert.rejects(AugmentPool.create({ images, workers: 0 }), /workers must be/);
  await assert.rejects(AugmentPool.create({ images: new Uint8Array(5) }), /multiple of 3072/);
  await assert.rejects(AugmentPool.create({ images, config: { flipProb: -1 } }), /flipProb/);
  const pool = await AugmentPool.create({ images, workers: 2 });
  await assert.rejects(pool.prefetch(new Int32Array([0, 4]), 1), /index 4 at batch position 1/);
  const inFlight = pool.prefetch(new Int32Array([0, 1, 2, 3]), 1);
  pool.close();
  await assert.rejects(inFlight, /closed/);
  await assert.rejects(pool.prefetch(new Int32Array([0]), 1), /after close/);
  pool.close(); // idempotent
});

/** Runs a child Deno that builds a pool, uses it, maybe closes it; true if it exits in time. */
async function childExits(close: boolean, waitMs: number): Promise<boolean> {
  const workersUrl = new URL("./workers.ts", import.meta.url).href;
  const script = `import { AugmentPool } from ${JSON.stringify(workersUrl)};
    const pool = await AugmentPool.create({ images: new Uint8Array(3072), workers: 2 });
    await pool.prefetch(new Int32Array([0]), 1);
    ${close ? "pool.close();" : ""}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), waitMs));
  const result = await Promise.race([child.status, timeout]);
  clearTimeout(timer);
  if (result === "timeout") child.kill("SIGKILL");
  const { stderr } = await child.output();
  if (result !== "timeout") assert.ok(result.success, new TextDecoder().decode(stderr));
  return result !== "timeout";
}

Deno.test("close() ends the workers: a process that closes its pool exits, one that does not hangs", async () => {
  // Live workers keep a Deno process alive, which is how a leak shows up; the test sanitizers do
  // not track workers, so this is checked in a child process.
  assert.equal(await childExits(true, 20_000), true, "process with a closed pool exits");
  assert.equal(await childExits(false, 3_000), false, "control: an unclosed pool keeps it alive");
});
