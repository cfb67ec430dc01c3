/**
 * Test helpers: the engines available here, float64 loop references for the composed kernels,
 * and a tolerance check.
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

/** Convolution geometry in the references: x `[n,h,w,cin]`, w `[kh,kw,cin,cout]`. */
export interface RefConv {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly cin: number;
  readonly kh: number;
  readonly kw: number;
  readonly cout: number;
  readonly stride: number;
  readonly pad: number;
}

/** Output sides of a reference convolution. */
export function refOut(g: RefConv): [number, number] {
  return [
    Math.floor((g.h + 2 * g.pad - g.kh) / g.stride) + 1,
    Math.floor((g.w + 2 * g.pad - g.kw) / g.stride) + 1,
  ];
}

/**
 * Visits every (output position, tap) pair of a convolution with its flat x, w and y indices;
 * the three references below are this loop with different accumulations.
 */
function forEachTap(g: RefConv, visit: (xi: number, wi: number, yi: number) => void): void {
  const [oh, ow] = refOut(g);
  for (let b = 0; b < g.n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let a = 0; a < g.kh; a++) {
          const r = i * g.stride + a - g.pad;
          if (r < 0 || r >= g.h) continue;
          for (let c = 0; c < g.kw; c++) {
            const s = j * g.stride + c - g.pad;
            if (s < 0 || s >= g.w) continue;
            for (let ci = 0; ci < g.cin; ci++) {
              for (let co = 0; co < g.cout; co++) {
                visit(
                  ((b * g.h + r) * g.w + s) * g.cin + ci,
                  ((a * g.kw + c) * g.cin + ci) * g.cout + co,
                  ((b * oh + i) * ow + j) * g.cout + co,
                );
              }
            }
          }
        }
      }
    }
  }
}

/** Float64 reference convolution. */
export function refConv2d(x: Float32Array, w: Float32Array, g: RefConv): Float64Array {
  const [oh, ow] = refOut(g);
  const y = new Float64Array(g.n * oh * ow * g.cout);
  forEachTap(g, (xi, wi, yi) => (y[yi] += x[xi] * w[wi]));
  return y;
}

/** Float64 reference input gradient. */
export function refConvGradInput(dy: Float32Array, w: Float32Array, g: RefConv): Float64Array {
  const dx = new Float64Array(g.n * g.h * g.w * g.cin);
  forEachTap(g, (xi, wi, yi) => (dx[xi] += dy[yi] * w[wi]));
  return dx;
}

/** Float64 reference filter gradient. */
export function refConvGradFilter(x: Float32Array, dy: Float32Array, g: RefConv): Float64Array {
  const dw = new Float64Array(g.kh * g.kw * g.cin * g.cout);
  forEachTap(g, (xi, wi, yi) => (dw[wi] += x[xi] * dy[yi]));
  return dw;
}

/** Reference max-pool gradient ("VALID"): each window's dy goes to its FIRST maximum. */
export function refMaxPoolGrad(
  x: Float32Array,
  dy: Float32Array,
  shape: readonly [number, number, number, number],
  size: number,
  stride: number,
): Float64Array {
  const [n, h, w, c] = shape;
  const oh = Math.floor((h - size) / stride) + 1, ow = Math.floor((w - size) / stride) + 1;
  const dx = new Float64Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity, at = -1;
          for (let a = 0; a < size; a++) {
            for (let e = 0; e < size; e++) {
              const idx = ((b * h + i * stride + a) * w + j * stride + e) * c + ch;
              if (x[idx] > best) {
                best = x[idx];
                at = idx;
              }
            }
          }
          dx[at] += dy[((b * oh + i) * ow + j) * c + ch];
        }
      }
    }
  }
  return dx;
}
