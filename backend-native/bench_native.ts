/**
 * Benchmark of the native backend on the full SimCLR training step (`core/simclr.ts` trainStep:
 * two views, forward, NT-Xent, backward, Adam update), reporting the median images/s (one image =
 * two 32×32×3 views) and a per-kernel time profile of one step.
 *
 * Usage:
 * `deno run -A backend-native/bench_native.ts [--model simple,small,resnet18] [--batch N]
 *  [--steps 5] [--threads 2] [--no-profile] [--json FILE] [--backend native|wasm]`
 * (default batch: 256 for simple and small, 64 for resnet18). `--backend wasm` runs the same
 * step on the TF.js wasm engine of `@simclr/backend-gpu`, as a same-machine baseline.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type Backend,
  createModel,
  DEFAULT_OPTIMIZER,
  Graph,
  MODEL_NAMES,
  type ModelName,
  Optimizer,
  Rng,
  trainStep,
  writeJsonAtomic,
} from "@simclr/core";
import { createNativeBackend, type NativeBackend } from "./mod.ts";

const USAGE = `usage: deno run -A backend-native/bench_native.ts [options]
  --model     comma-separated models (default simple,small,resnet18)
  --batch     images per view (default 256; 64 for resnet18)
  --steps     timed steps after one warm-up step (default 5)
  --threads   kernel threads (default: all cores)
  --no-profile  skip the per-kernel profile step
  --json      also write the results to FILE
  --backend   native (default) or wasm (TF.js wasm baseline, same step and profile)`;

/** Time spent in one kind of kernel call. */
export interface KernelTime {
  key: string;
  calls: number;
  ms: number;
}

/** Describes a kernel call for the profile: kernel, op and the shapes that set its cost. */
function describe(method: string, args: unknown[]): { kind: string; detail: string } {
  const shape = (t: unknown) => `[${(t as { shape: number[] }).shape}]`;
  switch (method) {
    case "unary":
    case "binary":
    case "reduce": {
      const kind = `${method} ${args[0]}`;
      const tensors = args.slice(1).filter((a) => a && typeof a === "object" && "shape" in a);
      const axes = method === "reduce" ? ` axes ${args[2]}` : "";
      return { kind, detail: `${kind} ${tensors.map(shape).join(" ")}${axes}` };
    }
    case "conv2d":
    case "conv2dGradInput":
    case "conv2dGradFilter":
    case "matMul":
    case "maxPool":
    case "maxPoolGrad":
    case "batchNorm":
    case "batchNormGrad":
      return {
        kind: method,
        detail: `${method} ${
          args.filter((a) => a && typeof a === "object" && "shape" in a).map(shape).join(" ")
        }`,
      };
    default:
      return { kind: method, detail: method };
  }
}

/**
 * A backend that forwards to `inner` and adds up the time of every kernel call by kind and by
 * {@linkcode describe}'s detail, read from `now` (milliseconds; wall time by default, a CPU-time
 * clock in `cpu_profile.ts`).
 */
export function profiled(
  inner: Backend,
  now: () => number = () => performance.now(),
): { backend: Backend; kinds: Map<string, KernelTime>; details: Map<string, KernelTime> } {
  const kinds = new Map<string, KernelTime>();
  const details = new Map<string, KernelTime>();
  const add = (map: Map<string, KernelTime>, key: string, ms: number) => {
    const e = map.get(key) ?? { key, calls: 0, ms: 0 };
    e.calls++;
    e.ms += ms;
    map.set(key, e);
  };
  const backend = new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function" || prop === "read" || prop === "liveTensors") {
        return typeof value === "function" ? value.bind(target) : value;
      }
      return (...args: unknown[]) => {
        const t0 = now();
        const out = value.apply(target, args);
        const ms = now() - t0;
        const { kind, detail } = describe(String(prop), args);
        add(kinds, kind, ms);
        add(details, detail, ms);
        return out;
      };
    },
  });
  return { backend, kinds, details };
}

function randomViews(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n * 32 * 32 * 3);
  for (let i = 0; i < a.length; i++) a[i] = rng.normal();
  return a;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Builds a model and optimiser on `backend`, runs `steps` steps, returns each step's seconds. */
async function runSteps(
  backend: Backend,
  model: ModelName,
  batch: number,
  steps: number,
): Promise<number[]> {
  const g = new Graph(backend);
  const net = createModel(g, model, { seed: 0 });
  const opt = new Optimizer(g, net.params(), DEFAULT_OPTIMIZER);
  const rng = new Rng(1);
  const v1 = randomViews(rng, batch), v2 = randomViews(rng, batch);
  const times: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    await trainStep(net, opt, v1, v2, batch, { loss: "ntxent", temperature: 0.5 }, 1e-3);
    times.push((performance.now() - t0) / 1000);
  }
  opt.dispose();
  net.dispose();
  return times;
}

/**
 * The `limit` most expensive rows as a text table: key, calls, time (headed `label`) and share of
 * `totalMs`.
 */
export function kernelTable(
  rows: readonly KernelTime[],
  totalMs: number,
  limit: number,
  label = "ms",
): string {
  const sorted = [...rows].sort((a, b) => b.ms - a.ms).slice(0, limit);
  const w = Math.max(6, ...sorted.map((r) => r.key.length));
  const mw = Math.max(6, label.length);
  const lines = [`${"kernel".padEnd(w)}  calls  ${label.padStart(mw)}      %`];
  for (const r of sorted) {
    lines.push(
      `${r.key.padEnd(w)}  ${String(r.calls).padStart(5)}  ${r.ms.toFixed(1).padStart(mw)}  ${
        (100 * r.ms / totalMs).toFixed(1).padStart(5)
      }`,
    );
  }
  return lines.join("\n");
}

async function loadAverage(): Promise<string> {
  try {
    return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

async function main() {
  let args;
  try {
    args = parseArgs({
      args: Deno.args,
      options: {
        model: { type: "string", default: MODEL_NAMES.join(",") },
        batch: { type: "string" },
        steps: { type: "string", default: "5" },
        threads: { type: "string" },
        "no-profile": { type: "boolean", default: false },
        json: { type: "string" },
        backend: { type: "string", default: "native" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    console.error(`bench_native: ${(e as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const models = args.model!.split(",");
  for (const m of models) {
    if (!(MODEL_NAMES as readonly string[]).includes(m)) {
      console.error(`bench_native: --model ${m} is not one of ${MODEL_NAMES.join(", ")}`);
      Deno.exit(2);
    }
  }
  const positive = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`bench_native: --${flag} must be a positive integer, got "${v}"`);
      Deno.exit(2);
    }
    return n;
  };
  const steps = positive("steps", args.steps)!;
  const batchFlag = positive("batch", args.batch);
  if (args.backend !== "native" && args.backend !== "wasm") {
    console.error(`bench_native: --backend must be native or wasm, got "${args.backend}"`);
    Deno.exit(2);
  }
  let backend: Backend;
  let native: NativeBackend | undefined;
  if (args.backend === "native") {
    native = await createNativeBackend({ threads: positive("threads", args.threads) });
    backend = native;
    console.log(
      `native backend: ${native.threads} threads, SIMD ${native.simdWidth} floats; ` +
        `load average before: ${await loadAverage()}`,
    );
  } else {
    // Imported only here so the native benchmark never loads TF.js.
    const { createGpuBackend } = await import("@simclr/backend-gpu");
    backend = await createGpuBackend({ engine: "wasm" });
    console.log(`TF.js wasm backend; load average before: ${await loadAverage()}`);
  }
  const results = [];
  for (const model of models as ModelName[]) {
    const batch = batchFlag ?? (model === "resnet18" ? 64 : 256);
    // One warm-up step fills the memory cache and faults in pages; then the timed steps.
    const times = (await runSteps(backend, model, batch, steps + 1)).slice(1);
    const memoryBytes = native?.memoryStats().peakLiveBytes;
    const step = median(times);
    const result: Record<string, unknown> = {
      model,
      backend: backend.name,
      batch,
      threads: native?.threads ?? 1,
      stepSeconds: times,
      medianStepSeconds: step,
      imagesPerSecond: batch / step,
      memoryBytes,
      loadAverage: await loadAverage(),
    };
    console.log(
      `\n${backend.name} ${model} batch ${batch}: median step ${(step * 1000).toFixed(0)} ms = ` +
        `${(batch / step).toFixed(1)} images/s (steps: ${
          times.map((t) => (t * 1000).toFixed(0)).join(", ")
        } ms; load ${result.loadAverage}${
          memoryBytes ? `; peak tensor memory ${(memoryBytes / 2 ** 30).toFixed(2)} GiB` : ""
        })`,
    );
    if (!args["no-profile"]) {
      const p = profiled(backend);
      const t0 = performance.now();
      await runSteps(p.backend, model, batch, 2);
      const wallMs = performance.now() - t0;
      // Profile the second step only: the first includes model building and cold caches.
      p.kinds.clear();
      p.details.clear();
      const t1 = performance.now();
      await runSteps(p.backend, model, batch, 1);
      const stepMs = performance.now() - t1;
      const kernelMs = [...p.kinds.values()].reduce((s, r) => s + r.ms, 0);
      console.log(
        `profile of one step (incl. model setup ${
          (stepMs - kernelMs).toFixed(0)
        } ms outside kernels; ${wallMs.toFixed(0)} ms for two warm-up steps): kernels ` +
          `${kernelMs.toFixed(0)} ms`,
      );
      console.log(kernelTable([...p.kinds.values()], kernelMs, 30));
      console.log("\nlargest single calls by shape:");
      console.log(kernelTable([...p.details.values()], kernelMs, 25));
      result.profile = [...p.kinds.values()].sort((a, b) => b.ms - a.ms);
      result.profileDetails = [...p.details.values()].sort((a, b) => b.ms - a.ms).slice(0, 40);
    }
    native?.trim();
    results.push(result);
  }
  if (args.json) await writeJsonAtomic(args.json, results);
  native?.close();
}

if (import.meta.main) await main();
