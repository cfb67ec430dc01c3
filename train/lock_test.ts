// The run-folder lock: one trainer per folder, stale locks taken over, leftovers removed.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  acquireRunLock,
  LOCK_FILE,
  type LockInfo,
  processStartTime,
  removeStaleTempFiles,
  RunLockedError,
} from "./lock.ts";

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

Deno.test("lock: a second taker is refused with the holder's pid; release frees the folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-lock-" });
  const first = acquireRunLock(dir);
  const saved: LockInfo = JSON.parse(await Deno.readTextFile(join(dir, LOCK_FILE)));
  assert.equal(saved.pid, Deno.pid);
  assert.equal(saved.procStart, processStartTime(Deno.pid));
  assert.throws(
    () => acquireRunLock(dir),
    (e: Error) =>
      e instanceof RunLockedError && e.message.includes(`pid ${Deno.pid}`) &&
      e.message.includes(dir),
  );
  first.release();
  assert.equal(await Deno.stat(join(dir, LOCK_FILE)).catch(() => null), null);
  const again = acquireRunLock(dir);
  assert.equal(again.tookOver, undefined);
  again.release();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("lock: a lock left by a dead process, or by a reused pid, is taken over", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-lock-" });
  const pid = await deadPid();
  const stale = {
    pid,
    procStart: "1",
    startedAt: "2026-01-01T00:00:00Z",
    hostname: Deno.hostname(),
  };
  await Deno.writeTextFile(join(dir, LOCK_FILE), JSON.stringify(stale));
  const lock = acquireRunLock(dir);
  assert.equal(lock.tookOver?.pid, pid);
  lock.release();
  // Our own pid with another start time: the pid was reused by a later process.
  const reused = { ...stale, pid: Deno.pid, procStart: "12345678901" };
  await Deno.writeTextFile(join(dir, LOCK_FILE), JSON.stringify(reused));
  const lock2 = acquireRunLock(dir);
  assert.equal(lock2.tookOver?.procStart, "12345678901");
  lock2.release();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("lock: temporary files of dead writers are removed, live ones and others kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-tmp-" });
  const dead = await deadPid();
  const names = [
    `checkpoint.ckpt.${dead}.0a1b2c3d.tmp`, // killed save: removed
    `results.json.${Deno.pid}.0a1b2c3d.tmp`, // a live writer (this process): kept
    "notes.tmp", // not ours: kept
  ];
  for (const n of names) await Deno.writeTextFile(join(dir, n), "x");
  assert.deepEqual(removeStaleTempFiles(dir), [names[0]]);
  const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assert.deepEqual(left, [names[1], names[2]].sort());
  await Deno.remove(dir, { recursive: true });
});
