/**
 * `deno task bench`: median time and images/s of one SimCLR training step (two views per image,
 * NT-Xent, backward, Adam) per backend and model, plus the GFLOP/s of a 1024³ matMul. Prints a
 * table and writes JSON. `--peer` runs the same steps in PyTorch (Debian's python3-torch) on the
 * same machine in the same run and prints the ratio, in fp32 and in bf16 autocast.
 * `--peak` measures the machine's fp32 FMA peak with the native backend and prints every figure
 * as a fraction of it: the 1024³ matMul, each model's achieved GFLOP/s (FLOPs counted from the
 * kernels the step runs, tests/flops.ts), and the GEMMs that the conv layers of `small` and
 * `resnet18` amount to (forward and both gradients).
 *
 * @module
 */
import {
  type Backend,
  commandFlags,
  createModel,
  DEFAULT_OPTIMIZER,
  type DeviceTensor,
  Graph,
  type HeadOptions,
  MODEL_NAMES,
  type ModelName,
  Optimizer,
  Rng,
  trainStep,
  writeJsonAtomic,
} from "@simclr/core";
import type { ConvAlgorithm, NativeBackend } from "@simclr/backend-native";
import { callKey, countingBackend, type GemmCall } from "./flops.ts";

/** One measured configuration. */
export interface BenchRow {
  backend: string;
  model: string;
  batch: number;
  /** Median seconds of one training step. */
  stepSeconds: number;
  /** Images per second (one image = two views). */
  imagesPerSec: number;
  /**
   * Achieved model GFLOP/s (matMul and convolution FLOPs of one step / step time, convolutions
   * counted as direct ones even where a backend computes them with fewer: Winograd); `--peak`.
   */
  modelGflops?: number;
  /** `modelGflops` as a fraction of the measured peak; `--peak`. */
  efficiency?: number;
}

/** A conv layer's GEMM, timed alone (`--peak`). */
export interface ShapeRow {
  model: string;
  op: GemmCall["op"];
  /**
   * The native library's algorithm for it. FLOPs are counted as a direct convolution's, so a
   * "winograd" layer (2.25x or 4x fewer multiplies) can show more GFLOP/s than the FMA peak.
   */
  algorithm: ConvAlgorithm;
  x: number[];
  w: number[];
  stride: number;
  pad: number;
  m: number;
  n: number;
  k: number;
  /** Calls of this shape per training step. */
  perStep: number;
  gflops: number;
  efficiency: number;
}

/** The flags of `deno task bench`. */
const BENCH_FLAGS = {
  backends: {
    type: "list",
    default: ["auto"],
    choices: ["auto", "native", "wasm", "webgpu", "cuda", "ref"],
    help: "comma list of backends (auto: the one train would pick here)",
  },
  models: {
    type: "list",
    default: ["simple", "small", "resnet18"],
    choices: MODEL_NAMES,
    help: "comma list of models",
  },
  steps: {
    type: "int",
    default: 3,
    min: 1,
    help: "timed steps per configuration, after one warm-up",
  },
  batch: {
    type: "int",
    default: 256,
    min: 2,
    help: "images per step for simple/small (resnet18: at most 64)",
  },
  matmul: {
    type: "int",
    default: 1024,
    min: 0,
    help: "size N of the N³ matMul measured per backend; 0 skips it",
  },
  peer: {
    type: "boolean",
    help: "also run the same steps in PyTorch (python3-torch), fp32 and bf16 autocast",
  },
  peak: {
    type: "boolean",
    help:
      "measure the fp32 FMA peak (native) and print GEMM, model and conv-shape GFLOP/s as fractions of it",
  },
  json: { type: "string", arg: "FILE", default: "runs/bench.json", help: "write the rows to FILE" },
} as const;

/** Creates a backend by its bench name, or explains why it is unavailable. */
async function createBackend(name: string): Promise<Backend> {
  if (name === "auto") {
    const chosen = await (await import("@simclr/cli")).chooseBackend("auto", "auto");
    if (chosen.selection) console.error(chosen.selection);
    return chosen.backend;
  }
  if (name === "ref") return (await import("@simclr/backend-ref")).createRefBackend();
  if (name === "native") {
    const mod = await import("@simclr/backend-native");
    return await mod.createNativeBackend();
  }
  const { createGpuBackend } = await import("@simclr/backend-gpu");
  return await createGpuBackend({ engine: name as "wasm" | "webgpu" | "cuda" });
}

/** Median of the step times of `steps` SimCLR steps after one warm-up step. */
export async function benchStep(
  backend: Backend,
  model: ModelName,
  batch: number,
  steps: number,
  opts: { countFlops?: boolean; width?: number; head?: HeadOptions } = {},
): Promise<BenchRow & { flopsPerStep?: number; calls?: GemmCall[] }> {
  const counting = opts.countFlops ? countingBackend(backend) : undefined;
  const g = new Graph(counting?.backend ?? backend);
  const net = createModel(g, model, { ...opts.head, seed: 0, width: opts.width || undefined });
  const opt = new Optimizer(g, net.params(), DEFAULT_OPTIMIZER);
  const rng = new Rng(1);
  const views = [0, 1].map(() => new Float32Array(batch * 3072).map(() => rng.normal()));
  const times: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const t0 = performance.now();
    await trainStep(
      net,
      opt,
      views[0],
      views[1],
      batch,
      { loss: "ntxent", temperature: 0.5 },
      1e-3,
    );
    if (s > 0) times.push((performance.now() - t0) / 1000);
    if (counting) counting.recording.on = false; // one step's calls are enough
  }
  opt.dispose();
  for (const p of net.params()) g.dispose(p.value);
  for (const b of net.buffers()) g.dispose(b.value);
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const row = {
    backend: backend.name,
    model,
    batch,
    stepSeconds: median,
    imagesPerSec: batch / median,
  };
  if (!counting) return row;
  const flopsPerStep = counting.calls.reduce((a, c) => a + c.flops, 0);
  return { ...row, flopsPerStep, calls: counting.calls };
}

/**
 * Waits until `t` is computed by reading one element of it, which asynchronous backends (WebGPU,
 * CUDA) must finish `t` for, without timing a copy of all of it into JavaScript. That copy cost
 * 15–20% of a native 1024³ matMul (124–126 GFLOP/s with it, 150–153 without, same process, idle
 * 2-core EPYC); timing the kernel plus a full read and taking off a second read's time instead
 * once put a 3-channel conv at 0.001 ms, when the second read was the slower.
 */
async function waitFor(backend: Backend, t: DeviceTensor): Promise<void> {
  const corner = backend.slice(t, t.shape.map(() => 0), t.shape.map(() => 1));
  await backend.read(corner);
  backend.dispose(corner);
}

/** Median seconds of `reps` calls of one recorded conv kernel on random inputs (after a warm-up). */
export async function timeGemmCall(backend: Backend, c: GemmCall, reps: number): Promise<number> {
  const rng = new Rng(3);
  const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  const inputs = c.shapes.map((s) =>
    backend.upload(new Float32Array(size(s)).map(() => rng.uniform() - 0.5), s)
  );
  const run = () => {
    const [a, b] = inputs;
    if (c.op === "matMul") return backend.matMul(a, b, c.transpose![0], c.transpose![1]);
    if (c.op === "conv2d") return backend.conv2d(a, b, c.geometry!);
    if (c.op === "conv2dGradInput") return backend.conv2dGradInput(a, b, c.outShape!, c.geometry!);
    return backend.conv2dGradFilter(a, b, c.outShape!, c.geometry!);
  };
  const times: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    const out = run();
    await waitFor(backend, out);
    if (i > 0) times.push((performance.now() - t0) / 1000);
    backend.dispose(out);
  }
  for (const t of inputs) backend.dispose(t);
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)];
}

/** The distinct conv GEMMs of one step's calls, with how often each occurs. */
export function convShapes(calls: GemmCall[]): { call: GemmCall; perStep: number }[] {
  const byKey = new Map<string, { call: GemmCall; perStep: number }>();
  for (const c of calls) {
    if (c.op === "matMul") continue;
    const k = callKey(c);
    const e = byKey.get(k);
    if (e) e.perStep++;
    else byKey.set(k, { call: c, perStep: 1 });
  }
  return [...byKey.values()];
}

/** GFLOP/s of an n×n by n×n matMul (median of 5 after a warm-up). */
export async function benchMatMul(backend: Backend, n = 1024): Promise<number> {
  const runs = await matMulRuns(backend, 5, undefined, n);
  return runs.sort((x, y) => y - x)[2];
}

/**
 * GFLOP/s of each of `runs` n³ matMuls (after a warm-up); between runs, `between()`. Each is timed
 * up to a one-element read of its result, which waits for it without copying it out.
 */
export async function matMulRuns(
  backend: Backend,
  runs: number,
  between?: () => void,
  n = 1024,
): Promise<number[]> {
  const rng = new Rng(2);
  const a = backend.upload(new Float32Array(n * n).map(() => rng.uniform()), [n, n]);
  const b = backend.upload(new Float32Array(n * n).map(() => rng.uniform()), [n, n]);
  const gflops: number[] = [];
  for (let i = 0; i <= runs; i++) {
    if (i > 0) between?.();
    const t0 = performance.now();
    const c = backend.matMul(a, b, false, false);
    await waitFor(backend, c);
    if (i > 0) gflops.push((2 * n ** 3) / ((performance.now() - t0) / 1000) / 1e9);
    backend.dispose(c);
  }
  backend.dispose(a);
  backend.dispose(b);
  return gflops;
}

/** Runs bench/peer_torch.py and returns its rows, or the reason it could not run. */
async function peerRows(
  models: string[],
  batch: number,
  steps: number,
  autocast: "none" | "bf16",
): Promise<BenchRow[] | string> {
  const script = new URL("../bench/peer_torch.py", import.meta.url).pathname;
  let out;
  try {
    out = await new Deno.Command("/usr/bin/python3", {
      args: [
        script,
        "--models",
        models.join(","),
        "--batch",
        String(batch),
        "--steps",
        String(steps),
        "--autocast",
        autocast,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    return `could not start /usr/bin/python3: ${(e as Error).message}`;
  }
  if (!out.success) {
    return `PyTorch peer failed (install it with: apt-get install python3-torch):\n` +
      new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join("\n");
  }
  return JSON.parse(new TextDecoder().decode(out.stdout)) as BenchRow[];
}

/** Whether /proc/cpuinfo lists AVX512_BF16 or AMX-BF16 (false where it cannot be read). */
async function cpuHasBf16(): Promise<boolean> {
  try {
    const flags = (await Deno.readTextFile("/proc/cpuinfo")).match(/^flags\s*:(.*)$/m)?.[1] ?? "";
    return /\b(avx512_bf16|amx_bf16)\b/.test(flags);
  } catch {
    return false;
  }
}

async function main(): Promise<number> {
  const parsed = commandFlags("bench", BENCH_FLAGS, Deno.args, {
    usage:
      "usage: deno task bench [--backends LIST] [--models LIST] [--steps N] [--peer] [--json FILE]",
  });
  if (typeof parsed === "number") return parsed;
  const values = parsed.values;
  const { steps, batch } = values;
  const matmulSize = values.matmul;
  const models: ModelName[] = values.models;
  const batchOf = (m: string) => (m === "resnet18" ? Math.min(64, batch) : batch);
  const rows: BenchRow[] = [];
  const matmul: { backend: string; gflops: number }[] = [];
  const shapeRows: ShapeRow[] = [];
  let peak:
    | { gflops: number; vectorWidth: number; threads: number; oneCore: number; matMul: number }
    | undefined;
  const backendNames: string[] = values.backends;
  if (values.peak && !backendNames.includes("native")) {
    console.error("bench: --peak measures with the native backend; add native to --backends");
    return 2;
  }
  for (const name of backendNames) {
    let backend: Backend;
    try {
      backend = await createBackend(name);
    } catch (e) {
      console.error(`bench: skipping ${name}: ${(e as Error).message.split("\n")[0]}`);
      continue;
    }
    const measurePeak = values.peak && name === "native" && "peakGflops" in backend;
    if (measurePeak) {
      const native = backend as NativeBackend;
      const one = native.peakGflops({ threads: 1 });
      // Peak and GEMM interleaved, best of 8 each: on a shared machine both see the same
      // moments of contention, so their ratio means something even when the figures wander.
      let all = native.peakGflops({ seconds: 0.2, reps: 1 });
      const mm = await matMulRuns(backend, 8, () => {
        const p = native.peakGflops({ seconds: 0.2, reps: 1 });
        if (p.gflops > all.gflops) all = p;
      });
      // Two threads can always do what one does: when the other core is taken by another job
      // the two-thread loop can read lower, and the one-core figure is then the better bound.
      peak = {
        ...all,
        gflops: Math.max(all.gflops, one.gflops),
        oneCore: one.gflops,
        matMul: Math.max(...mm),
      };
      const path = all.vectorWidth === 16 ? "AVX-512" : all.vectorWidth === 8 ? "AVX2+FMA" : "none";
      console.error(
        `fp32 FMA peak (${path}, register-only loop): ${all.gflops.toFixed(1)} GFLOP/s on ` +
          `${all.threads} threads, ${one.gflops.toFixed(1)} on one; matMul 1024³ interleaved ` +
          `with it: ${peak.matMul.toFixed(1)} GFLOP/s (${
            (100 * peak.matMul / peak.gflops).toFixed(0)
          }%)`,
      );
    }
    if (matmulSize > 0) {
      const gflops = await benchMatMul(backend, matmulSize);
      matmul.push({ backend: backend.name, gflops });
      console.error(
        `${backend.name}: matMul ${matmulSize}³ ${gflops.toFixed(1)} GFLOP/s (median of 5)` +
          (measurePeak && peak ? ` (${(100 * gflops / peak.gflops).toFixed(0)}% of peak)` : ""),
      );
    }
    for (const m of models) {
      let row: BenchRow;
      try {
        const r = await benchStep(backend, m, batchOf(m), steps, { countFlops: measurePeak });
        const { flopsPerStep, calls, ...plain } = r;
        row = plain;
        if (measurePeak && peak && flopsPerStep) {
          row.modelGflops = flopsPerStep / r.stepSeconds / 1e9;
          row.efficiency = row.modelGflops / peak.gflops;
          console.error(
            `${m}: ${(flopsPerStep / r.batch / 1e9).toFixed(3)} GFLOP per image step, ` +
              `${row.modelGflops.toFixed(1)} GFLOP/s = ${
                (100 * row.efficiency).toFixed(0)
              }% of peak`,
          );
          if (m !== "simple" && calls) {
            for (const { call, perStep } of convShapes(calls)) {
              const sec = await timeGemmCall(backend, call, 3);
              const g = call.flops / sec / 1e9;
              const x = [...(call.op === "conv2dGradInput" ? call.outShape! : call.shapes[0])];
              const w = [...(call.op === "conv2dGradFilter" ? call.outShape! : call.shapes[1])];
              const op = call.op as Exclude<typeof call.op, "matMul">;
              shapeRows.push({
                model: m,
                op: call.op,
                algorithm: (backend as NativeBackend).convAlgorithm(op, x, w, call.geometry!),
                x,
                w,
                stride: call.geometry!.stride,
                pad: call.geometry!.pad,
                m: call.m,
                n: call.n,
                k: call.k,
                perStep,
                gflops: g,
                efficiency: g / peak.gflops,
              });
            }
          }
        }
      } catch (e) {
        // e.g. the wasm engine's 4 GiB cap with ResNet-18; it is unusable afterwards.
        console.error(`bench: ${backend.name} ${m} failed: ${(e as Error).message.split("\n")[0]}`);
        break;
      }
      rows.push(row);
      console.error(
        `${backend.name} ${m} batch ${row.batch}: ${row.stepSeconds.toFixed(2)} s/step, ` +
          `${row.imagesPerSec.toFixed(1)} img/s`,
      );
    }
  }
  const peer: BenchRow[] = [];
  if (values.peer) {
    // Both of PyTorch's modes: fp32, and bf16 autocast (its best on CPUs with AVX512_BF16/AMX).
    // Without those, oneDNN emulates bf16 and autocast is ~10x slower than fp32 (small, batch
    // 64: 2.0 img/s on our AVX2 machine), a figure that says nothing and takes many minutes for
    // resnet18, so it is skipped there.
    const bf16 = await cpuHasBf16();
    if (!bf16) {
      console.error(
        "bench: skipping PyTorch bf16 autocast: this CPU has neither AVX512_BF16 nor AMX-BF16 " +
          "(/proc/cpuinfo), so bf16 would be emulated",
      );
    }
    for (const autocast of bf16 ? ["none", "bf16"] as const : ["none"] as const) {
      const r = await peerRows(models, batch, steps, autocast);
      if (typeof r === "string") console.error(`bench: ${r}`);
      else peer.push(...r);
    }
  }
  const fp32Peer = peer.filter((q) => !q.backend.endsWith("-bf16"));
  const bf16Peer = peer.filter((q) => q.backend.endsWith("-bf16"));
  const header = ["backend", "model", "batch", "s/step", "img/s", "× PyTorch", "× PyTorch bf16"];
  if (peak) header.push("model GFLOP/s", "of peak");
  const ratio = (r: BenchRow, list: BenchRow[]) => {
    const p = list.find((q) => q.model === r.model);
    return p && p !== r ? (r.imagesPerSec / p.imagesPerSec).toFixed(2) : "";
  };
  const body = [...rows, ...peer].map((r) => {
    const cells = [
      r.backend,
      r.model,
      String(r.batch),
      r.stepSeconds.toFixed(3),
      r.imagesPerSec.toFixed(1),
      ratio(r, fp32Peer),
      ratio(r, bf16Peer),
    ];
    if (peak) {
      cells.push(
        r.modelGflops?.toFixed(1) ?? "",
        r.efficiency !== undefined ? `${(100 * r.efficiency).toFixed(0)}%` : "",
      );
    }
    return cells;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padStart(widths[i])).join("  ");
  console.log(line(header));
  for (const b of body) console.log(line(b));
  for (const m of matmul) {
    const eff = peak && m.backend === "native"
      ? ` median (${(100 * m.gflops / peak.gflops).toFixed(0)}% of peak); best of 8 ` +
        `interleaved with the peak loop ${peak.matMul.toFixed(1)} (${
          (100 * peak.matMul / peak.gflops).toFixed(0)
        }% of peak)`
      : "";
    console.log(`matMul ${matmulSize}³ on ${m.backend}: ${m.gflops.toFixed(1)} GFLOP/s${eff}`);
  }
  if (peak) {
    console.log(
      `fp32 FMA peak: ${peak.gflops.toFixed(1)} GFLOP/s on ${peak.threads} threads ` +
        `(${peak.oneCore.toFixed(1)} on one; vector width ${peak.vectorWidth})`,
    );
    console.log(
      "model GFLOP/s count each convolution's FLOPs as a direct convolution's; native's " +
        "Winograd layers do 2.25-4x fewer multiplies, so its share of the peak is an effective rate",
    );
  }
  if (shapeRows.length) {
    const h = [
      "model",
      "kernel",
      "algorithm",
      "x (NHWC)",
      "w (HWIO)",
      "s",
      "GEMM M×N×K",
      "per step",
      "GFLOP/s",
      "of peak",
    ];
    const b = shapeRows.map((r) => [
      r.model,
      r.op,
      r.algorithm,
      r.x.join("×"),
      r.w.join("×"),
      String(r.stride),
      `${r.m}×${r.n}×${r.k}`,
      String(r.perStep),
      r.gflops.toFixed(1),
      `${(100 * r.efficiency).toFixed(0)}%`,
    ]);
    const wd = h.map((x, i) => Math.max(x.length, ...b.map((row) => row[i].length)));
    const ln = (c: string[]) => c.map((x, i) => x.padStart(wd[i])).join("  ");
    console.log(
      "\nconv layers as GEMMs (forward, input gradient, filter gradient), each timed alone; " +
        "FLOPs counted as a direct convolution's, so winograd rows (2.25-4x fewer multiplies) " +
        "can exceed the peak:",
    );
    console.log(ln(h));
    for (const row of b) console.log(ln(row));
  }
  const nativeMatMul = matmul.find((m) => m.backend === "native");
  await writeJsonAtomic(values.json!, {
    machine: { cores: navigator.hardwareConcurrency, date: new Date().toISOString() },
    ...(peak
      ? {
        peakGflops: peak.gflops,
        peakOneCoreGflops: peak.oneCore,
        // Best of 8 runs interleaved with the peak loop; the median is in `matmul`.
        matMulGflops: peak.matMul,
        matMulEfficiency: peak.matMul / peak.gflops,
      }
      : nativeMatMul
      ? { matMulGflops: nativeMatMul.gflops }
      : {}),
    rows,
    peer,
    matmul,
    ...(shapeRows.length ? { convShapes: shapeRows } : {}),
  });
  console.log(`wrote ${values.json}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
