/**
 * One writer per run folder: an exclusive lock file (`train.lock`) holding the pid, the process's
 * kernel start time and the wall-clock start, taken before anything in the folder is written.
 * A lock whose process is gone (or whose pid now belongs to another process, told apart by the
 * start time) is stale and is taken over with a message; a live holder stops the newcomer at once.
 *
 * @module
 */
import { join } from "node:path";

/** File name of the lock inside a run folder. */
export const LOCK_FILE = "train.lock";

/** What a lock file holds. */
export interface LockInfo {
  pid: number;
  /** Kernel start time of the process (clock ticks after boot, /proc/PID/stat field 22); "" if unknown. */
  procStart: string;
  /** ISO time the lock was taken. */
  startedAt: string;
  hostname: string;
}

/** Raised when another live process holds the folder; the message names it. */
export class RunLockedError extends Error {
  constructor(readonly dir: string, readonly holder: LockInfo) {
    super(
      `${dir} is in use by another training process (pid ${holder.pid} on ${holder.hostname}, ` +
        `started ${holder.startedAt}); wait for it, stop it (kill -INT ${holder.pid}), or ` +
        `choose another --out`,
    );
    this.name = "RunLockedError";
  }
}

/** A held lock; `release` removes the file if it is still ours. */
export interface RunLock {
  readonly path: string;
  readonly info: LockInfo;
  /** The stale lock that was taken over, if any (for the message). */
  readonly tookOver?: LockInfo;
  release(): void;
}

/** The kernel start time of `pid`, or "" where /proc is not available; undefined if no such process. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces and parentheses: fields restart after the last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19] ?? "";
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return Deno.build.os === "linux" ? undefined : aliveWithoutProc(pid);
    }
    return "";
  }
}

function aliveWithoutProc(pid: number): string | undefined {
  try {
    Deno.kill(pid, "SIGCONT"); // harmless to a running process; throws for a missing one
    return "";
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote `info` is still running on this machine. */
export function lockHolderAlive(info: LockInfo): boolean {
  if (info.hostname !== Deno.hostname()) return true; // cannot tell: assume it runs
  const start = processStartTime(info.pid);
  if (start === undefined) return false;
  // A reused pid has another start time; "" (unknown) counts as the same process.
  return start === "" || info.procStart === "" || start === info.procStart;
}

function readLock(path: string): LockInfo | undefined {
  try {
    const parsed = JSON.parse(Deno.readTextFileSync(path));
    if (typeof parsed?.pid !== "number") return undefined;
    return parsed as LockInfo;
  } catch {
    return undefined; // missing, or cut short by a kill between create and write
  }
}

/**
 * Takes the lock of run folder `dir` (created if needed). Throws {@linkcode RunLockedError} if
 * a live process holds it; a stale lock is taken over and reported in `tookOver`.
 */
export function acquireRunLock(dir: string): RunLock {
  Deno.mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const info: LockInfo = {
    pid: Deno.pid,
    procStart: processStartTime(Deno.pid) ?? "",
    startedAt: new Date().toISOString(),
    hostname: Deno.hostname(),
  };
  const text = JSON.stringify(info) + "\n";
  // Write the full lock under a private name, then hard-link it into place: link() fails if the
  // lock exists, so exactly one process wins, and no reader ever sees a half-written lock.
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  Deno.writeTextFileSync(tmp, text);
  let tookOver: LockInfo | undefined;
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        Deno.linkSync(tmp, path);
        return {
          path,
          info,
          tookOver,
          release() {
            const now = readLock(path);
            if (now && now.pid === info.pid && now.startedAt === info.startedAt) {
              try {
                Deno.removeSync(path);
              } catch { /* already gone */ }
            }
          },
        };
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
      const holder = readLock(path);
      if (holder && lockHolderAlive(holder)) throw new RunLockedError(dir, holder);
      if (!holder) {
        // Unreadable: a writer may be between create and write; give it a moment.
        const age = Date.now() - (Deno.statSync(path).mtime?.getTime() ?? 0);
        if (age < 2000) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
          continue;
        }
      }
      // Stale: move it aside under a private name (only one taker's rename succeeds), and check
      // that what was moved is the stale lock, not a fresh one that another taker just placed.
      const aside = `${path}.stale.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`;
      try {
        Deno.renameSync(path, aside);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) continue;
        throw e;
      }
      const moved = readLock(aside);
      if (moved && holder && (moved.pid !== holder.pid || moved.startedAt !== holder.startedAt)) {
        try {
          Deno.linkSync(aside, path); // put the live one back
        } catch { /* a third process won meanwhile */ }
        Deno.removeSync(aside);
        throw new RunLockedError(dir, moved);
      }
      Deno.removeSync(aside);
      tookOver = holder ?? { pid: 0, procStart: "", startedAt: "unknown", hostname: "?" };
    }
    throw new Error(`${path}: could not take the lock after 5 attempts`);
  } finally {
    try {
      Deno.removeSync(tmp);
    } catch { /* nothing */ }
  }
}

/**
 * Removes temporary files (`NAME.PID.XXXXXXXX.tmp`, left by saves killed mid-write) in `dir`
 * whose writer process is gone. Returns the names removed.
 */
export function removeStaleTempFiles(dir: string): string[] {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return removed;
    throw e;
  }
  for (const entry of entries) {
    const m = entry.isFile && entry.name.match(/\.(\d+)\.[0-9a-f]{8}\.tmp$/);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== Deno.pid && processStartTime(pid) !== undefined) continue; // still writing
    if (pid === Deno.pid) continue;
    try {
      Deno.removeSync(join(dir, entry.name));
      removed.push(entry.name);
    } catch { /* raced with its owner */ }
  }
  return removed;
}
