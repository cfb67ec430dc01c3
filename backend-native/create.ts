/**
 * Creating the native backend: its options, and {@linkcode createNativeBackend}, which builds the
 * kernel library on first use, sets OpenMP's wait policy and loads it.
 *
 * @module
 */

import { buildNativeLibrary } from "./build.ts";
import { loadLibrary } from "./ffi.ts";
import { NativeBackend } from "./native_backend.ts";

/** Options of {@linkcode createNativeBackend}. */
export interface NativeBackendOptions {
  /** Worker threads for the parallel kernels; default `navigator.hardwareConcurrency`. */
  threads?: number;
  /**
   * Freed memory kept for reuse: at most the peak memory of live tensors so far (a training step
   * frees everything at its end and needs it all again in the next) plus this many bytes
   * (default 2 GiB). When a release would exceed that, the whole cache goes back to the system
   * first. {@linkcode NativeBackend.trim} empties it.
   */
  cacheBytes?: number;
  /**
   * Let idle worker threads spin (OpenMP `OMP_WAIT_POLICY=active`) instead of sleeping at once
   * (`passive`, the default). Spinning saves a few microseconds per kernel on an idle machine but
   * is several times slower when other processes share the cores. Takes effect only for the
   * first backend of a process, and not when `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT` is set.
   */
  spinWait?: boolean;
  /** Passed to the build: C++ compiler (default `$CXX` or `g++`). */
  compiler?: string;
  /** Passed to the build: folder of compiled libraries (default `.build/` in this package). */
  cacheDir?: string;
  /** Passed to the build: prebuilt portable libraries for a machine without a compiler. */
  prebuiltDir?: string;
}

/**
 * Builds (first use on this machine only, a few seconds) and loads the kernel library, and
 * returns a backend running on `threads` threads. Throws a clear error when the C++ compiler or
 * OpenMP is missing (Debian: `apt-get install -y g++`) or FFI is not permitted (`--allow-ffi`).
 */
export async function createNativeBackend(
  opts: NativeBackendOptions = {},
): Promise<NativeBackend> {
  const threads = opts.threads ?? navigator.hardwareConcurrency ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Error(
      `native backend: threads must be a positive integer, got ${threads}`,
    );
  }
  const cacheBytes = opts.cacheBytes ?? 2 * 2 ** 30;
  if (!(cacheBytes >= 0)) {
    throw new Error(
      `native backend: cacheBytes must be >= 0, got ${cacheBytes}`,
    );
  }
  const path = await buildNativeLibrary({
    compiler: opts.compiler,
    cacheDir: opts.cacheDir,
    prebuiltDir: opts.prebuiltDir,
  });
  // libgomp reads its settings from the environment when the library loads. Measured on a 2-core
  // VM with another busy process: its default spin-wait made parallel regions ~100x slower
  // (136 µs → 2.2 ms each) and a training step 2-4x slower than one thread; passive waiting costs
  // ~8 µs per parallel kernel.
  try {
    if (!Deno.env.has("OMP_WAIT_POLICY") && !Deno.env.has("GOMP_SPINCOUNT")) {
      Deno.env.set("OMP_WAIT_POLICY", opts.spinWait ? "active" : "passive");
    }
  } catch {
    // Without --allow-env the OpenMP defaults apply.
  }
  return new NativeBackend(loadLibrary(path), threads, cacheBytes);
}
