/**
 * Test helpers: the engines available here, seeded random arrays and a tolerance check. (The
 * float64 oracle is the reference backend, through `@simclr/backend-ref`'s conformance suite.)
 *
 * @module
 */
import { Rng } from "@simclr/core";
import { createGpuBackend, type GpuBackend, probeWebGpu } from "./mod.ts";

/** An engine under test, or the reason it is skipped. */
export interface EngineCase {
  /** Engine name. */
  readonly engine: "wasm" | "webgpu";
  /** Why it is skipped; null when it runs. */
  readonly skip: string | null;
  /** The backend (created lazily, once per process). */
  get(): Promise<GpuBackend>;
}

const cache = new Map<string, Promise<GpuBackend>>();

function lazy(engine: "wasm" | "webgpu"): () => Promise<GpuBackend> {
  return () => {
    let p = cache.get(engine);
    if (p === undefined) {
      p = createGpuBackend({ engine });
      cache.set(engine, p);
    }
    return p;
  };
}

const webgpuProbe = await probeWebGpu();

/** wasm always; webgpu when `navigator.gpu` offers an adapter (a skip reason is printed if not). */
export const ENGINE_CASES: readonly EngineCase[] = [
  { engine: "wasm", skip: null, get: lazy("wasm") },
  {
    engine: "webgpu",
    skip: webgpuProbe === null ? "navigator.gpu offers no adapter" : null,
    get: lazy("webgpu"),
  },
];

for (const c of ENGINE_CASES) {
  if (c.skip !== null) console.log(`backend-gpu tests: skipping ${c.engine}: ${c.skip}`);
}

/** Asserts `|a − e| ≤ tol·(1 + |e|)` elementwise, naming the first bad index. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  }
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (!(Math.abs(a - e) <= tol * (1 + Math.abs(e)))) {
      throw new Error(`${what}: index ${i} is ${a}, expected ${e} (tolerance ${tol} relative)`);
    }
  }
}

/** Standard-normal float32 values from a seeded generator. */
export function randomArray(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal();
  return out;
}
