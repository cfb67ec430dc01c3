/**
 * A checked, atomic download of the official CIFAR-10 archive into a cache folder.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { type ByteSink, ProgressBar } from "@simclr/core";
import { extractTar, TarError } from "./tar.ts";
import {
  CIFAR10_FOLDER,
  CIFAR10_MD5,
  CIFAR10_URL,
  CIFAR_META_FILE,
  CIFAR_TEST_FILE,
  CIFAR_TRAIN_FILES,
  CifarError,
  fmt,
} from "./cifar_format.ts";
import { validateCifarDir, type ValidateOptions } from "./cifar_load.ts";

/** Options of {@linkcode ensureCifar10}. */
export interface EnsureOptions {
  /** A folder given by the user (`--data DIR`): validated and returned, never downloaded into. */
  data?: string;
  /** Cache root; the dataset lives in `<cacheDir>/cifar-10-batches-bin`. Default {@linkcode defaultCacheDir}. */
  cacheDir?: string;
  /** Archive URL; default the official one. */
  url?: string;
  /** `fetch` replacement, for tests. */
  fetchFn?: typeof fetch;
  /** Expected MD5 (hex) of the archive; default the published one. */
  md5?: string;
  /** Validation strictness; fixtures pass `strictCounts: false`. */
  validate?: Omit<ValidateOptions, "checkLabels">;
  /** Where the download progress bar writes; default stderr. */
  progressStream?: ByteSink;
}

/** `$XDG_CACHE_HOME/simclr-ts`, else `~/.cache/simclr-ts`, else `./.cache/simclr-ts`. */
export function defaultCacheDir(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "simclr-ts");
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  return home ? join(home, ".cache", "simclr-ts") : resolve(".cache", "simclr-ts");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Advice printed with every download failure: where the files can be put instead. */
function offlineAdvice(target: string): string {
  return `Without network access, put the CIFAR-10 binary files (${
    CIFAR_TRAIN_FILES[0]
  } … ${CIFAR_TEST_FILE}, ${CIFAR_META_FILE}) in a folder and pass --data DIR ` +
    `(e.g. --data ../shared/data/cifar-10-batches-bin), or place them in ${target}`;
}

/**
 * Returns a folder holding a valid CIFAR-10 binary dataset:
 * 1. `data` given: validate it and return it (no download).
 * 2. else `<cacheDir>/cifar-10-batches-bin` exists: validate and return it.
 * 3. else download `url` with a progress bar, check its MD5, extract it into a temporary folder
 *    next to the target, validate, and rename it into place — so an interrupted or corrupt
 *    download never leaves a partial dataset behind.
 *
 * Network failures throw an error saying where to put the files instead.
 */
export async function ensureCifar10(opts: EnsureOptions = {}): Promise<string> {
  const validateOpts = opts.validate ?? {};
  if (opts.data !== undefined) {
    await validateCifarDir(opts.data, validateOpts);
    return opts.data;
  }
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const target = join(cacheDir, CIFAR10_FOLDER);
  if (await exists(target)) {
    try {
      await validateCifarDir(target, validateOpts);
    } catch (e) {
      throw new CifarError(
        target,
        `cached copy is invalid (${(e as Error).message}); delete the folder to download again`,
      );
    }
    return target;
  }

  const url = opts.url ?? CIFAR10_URL;
  const expectedMd5 = (opts.md5 ?? CIFAR10_MD5).toLowerCase();
  const fetchFn = opts.fetchFn ?? fetch;
  await Deno.mkdir(cacheDir, { recursive: true });
  const work = await Deno.makeTempDir({ dir: cacheDir, prefix: ".cifar-10-download-" });
  try {
    const archive = join(work, "cifar-10-binary.tar.gz");
    await download(url, archive, expectedMd5, fetchFn, target, opts.progressStream);
    const extracted = join(work, "extracted");
    const file = await Deno.open(archive, { read: true });
    try {
      await extractTar(file.readable.pipeThrough(new DecompressionStream("gzip")), extracted);
    } catch (e) {
      const why = e instanceof TarError
        ? e.message
        : `cannot be decompressed: ${(e as Error).message}`;
      throw new CifarError(url, `archive ${why}`);
    }
    const inner = join(extracted, CIFAR10_FOLDER);
    await validateCifarDir(inner, validateOpts);
    try {
      await Deno.rename(inner, target);
    } catch (e) {
      // Another process may have finished first; its complete copy is as good as ours.
      if (!(await exists(target))) throw e;
      await validateCifarDir(target, validateOpts);
    }
    return target;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/** Streams `url` to `dest`, hashing as it goes; throws with offline advice on network failure. */
async function download(
  url: string,
  dest: string,
  expectedMd5: string,
  fetchFn: typeof fetch,
  target: string,
  progressStream: ByteSink | undefined,
): Promise<void> {
  const fail = (why: string): never => {
    throw new CifarError(url, `download failed: ${why}. ${offlineAdvice(target)}`);
  };
  let response: Response;
  try {
    response = await fetchFn(url);
  } catch (e) {
    return fail((e as Error).message);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    return fail(`HTTP ${response.status} ${response.statusText}`.trim());
  }
  const total = Number(response.headers.get("content-length") ?? 0) || 0;
  const bar = new ProgressBar({
    total,
    label: "download cifar-10-binary.tar.gz",
    unit: "bytes",
    stream: progressStream,
  });
  const hash = createHash("md5");
  let received = 0;
  const file = await Deno.open(dest, { write: true, create: true, truncate: true });
  try {
    const reader = response.body.getReader();
    while (true) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        return fail(`connection lost after ${fmt(received)} bytes (${(e as Error).message})`);
      }
      if (chunk.done) break;
      hash.update(chunk.value);
      let off = 0;
      while (off < chunk.value.length) off += await file.write(chunk.value.subarray(off));
      received += chunk.value.length;
      bar.update(received);
    }
  } finally {
    file.close();
  }
  bar.finish();
  if (total > 0 && received !== total) {
    fail(`received ${fmt(received)} of ${fmt(total)} bytes`);
  }
  const md5 = hash.digest("hex");
  if (md5 !== expectedMd5) {
    throw new CifarError(
      url,
      `MD5 of the downloaded archive is ${md5}, expected ${expectedMd5} (corrupt or wrong file); ` +
        `nothing was kept. ${offlineAdvice(target)}`,
    );
  }
}
