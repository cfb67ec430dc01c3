/**
 * CPU-time profile of one SimCLR training step on the native backend, for a shared machine where
 * wall time says more about the neighbours than about the kernels. Every figure is CPU time read
 * with `clock_gettime` through FFI: per kernel call the calling thread's CPU time with one kernel
 * thread (so the whole kernel runs on that thread), and per step the process's CPU time (every
 * thread; OpenMP waits passively, so idle workers cost nothing).
 *
 * With `--old DIR` it loads a second copy of the backend from DIR (a checkout of another commit,
 * e.g. from `git archive`) and runs the two side by side in one process, alternating step by
 * step, so that both see the same load; it prints the best of N for each.
 *
 * Usage: `deno run -A backend-native/cpu_profile.ts [--model small] [--batch 256] [--rounds 5]
 *  [--threads 2] [--old DIR] [--no-profile]`
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
} from "@simclr/core";
import { kernelTable, type KernelTime, profiled } from "./bench_native.ts";
import { createNativeBackend } from "./mod.ts";

const CLOCK_PROCESS_CPUTIME_ID = 2;
const CLOCK_THREAD_CPUTIME_ID = 3;
const libc = Deno.dlopen("libc.so.6", {
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
});
const ts = new BigInt64Array(2);
/** CPU milliseconds of `clock` (a CLOCK_*_CPUTIME_ID). */
function cpuMs(clock: number): number {
  libc.symbols.clock_gettime(clock, ts);
  return Number(ts[0]) * 1e3 + Number(ts[1]) / 1e6;
}

/** `bench_native`'s kernel-call profile, timed by the calling thread's CPU time. */
function profiledCpu(inner: Backend) {
  return profiled(inner, () => cpuMs(CLOCK_THREAD_CPUTIME_ID));
}

/** A model, optimiser and fixed views on one backend, stepping on demand. */
function stepper(backend: Backend, model: ModelName, batch: number) {
  const g = new Graph(backend);
  const net = createModel(g, model, { seed: 0 });
  const opt = new Optimizer(g, net.params(), DEFAULT_OPTIMIZER);
  const rng = new Rng(1);
  const views = [0, 1].map(() => new Float32Array(batch * 3072).map(() => rng.normal()));
  return {
    step: () =>
      trainStep(net, opt, views[0], views[1], batch, { loss: "ntxent", temperature: 0.5 }, 1e-3),
    dispose: () => {
      opt.dispose();
      net.dispose();
    },
  };
}

const USAGE = `usage: deno run -A backend-native/cpu_profile.ts [--model ${
  MODEL_NAMES.join("|")
}] [--batch 256] [--rounds 5] [--threads 2] [--old DIR] [--no-profile]`;

/** A flag's value as a whole number ≥ 1, or exit 2 naming the flag. */
function positive(flag: string, value: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) {
    console.error(`cpu_profile: --${flag} must be an integer ≥ 1; got "${value}"\n${USAGE}`);
    Deno.exit(2);
  }
  return Number(value);
}

async function main() {
  let args;
  try {
    args = parseArgs({
      args: Deno.args,
      options: {
        model: { type: "string", default: "small" },
        batch: { type: "string", default: "256" },
        rounds: { type: "string", default: "5" },
        threads: { type: "string", default: "2" },
        old: { type: "string" },
        "no-profile": { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`cpu_profile: ${(e as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (!(MODEL_NAMES as readonly string[]).includes(args.model)) {
    console.error(
      `cpu_profile: --model must be one of ${MODEL_NAMES.join(", ")}; got "${args.model}"`,
    );
    Deno.exit(2);
  }
  const model = args.model as ModelName;
  const batch = positive("batch", args.batch);
  const rounds = positive("rounds", args.rounds);
  const threads = positive("threads", args.threads);
  const libs: { name: string; create: typeof createNativeBackend }[] = [
    { name: "new", create: createNativeBackend },
  ];
  if (args.old) {
    const mod = await import(
      new URL(`file://${Deno.realPathSync(args.old)}/backend-native/mod.ts`).href
    );
    libs.unshift({ name: "old", create: mod.createNativeBackend });
  }
  for (const lib of libs) {
    if (args["no-profile"]) break;
    // One kernel thread: each call's CPU time is then the calling thread's.
    const b = await lib.create({ threads: 1 });
    const p = profiledCpu(b);
    const s = stepper(p.backend, model, batch);
    await s.step();
    let best: { kinds: KernelTime[]; details: KernelTime[]; step: number } | undefined;
    for (let r = 0; r < 2; r++) {
      p.kinds.clear();
      p.details.clear();
      const t0 = cpuMs(CLOCK_THREAD_CPUTIME_ID);
      await s.step();
      const step = cpuMs(CLOCK_THREAD_CPUTIME_ID) - t0;
      if (!best || step < best.step) {
        best = { kinds: [...p.kinds.values()], details: [...p.details.values()], step };
      }
    }
    s.dispose();
    b.close();
    const kernels = best!.kinds.reduce((a, e) => a + e.ms, 0);
    console.log(
      `\n[${lib.name}] ${model} batch ${batch}, 1 thread: step ${best!.step.toFixed(0)} ms CPU, ` +
        `kernels ${kernels.toFixed(0)} ms, outside kernels ${(best!.step - kernels).toFixed(0)} ms`,
    );
    console.log(kernelTable(best!.kinds, best!.step, 40, "cpu ms"));
    console.log(kernelTable(best!.details, best!.step, 40, "cpu ms"));
  }
  // Side by side: alternate the libraries step by step, process CPU and wall per step.
  const runs = [];
  for (const lib of libs) {
    const b = await lib.create({ threads });
    const s = stepper(b, model, batch);
    await s.step();
    runs.push({ name: lib.name, s, b, cpu: [] as number[], wall: [] as number[] });
  }
  for (let r = 0; r < rounds; r++) {
    for (const run of runs) {
      const c0 = cpuMs(CLOCK_PROCESS_CPUTIME_ID), w0 = performance.now();
      await run.s.step();
      run.cpu.push(cpuMs(CLOCK_PROCESS_CPUTIME_ID) - c0);
      run.wall.push(performance.now() - w0);
    }
  }
  for (const run of runs) {
    const cpu = [...run.cpu].sort((a, b) => a - b), wall = [...run.wall].sort((a, b) => a - b);
    console.log(
      `[${run.name}] ${model} batch ${batch}, ${threads} threads, ${rounds} steps: process CPU ` +
        `best ${cpu[0].toFixed(0)} ms, median ${cpu[cpu.length >> 1].toFixed(0)} ms; wall best ` +
        `${wall[0].toFixed(0)} ms (${(batch / wall[0] * 1000).toFixed(0)} img/s), median ` +
        `${wall[wall.length >> 1].toFixed(0)} ms`,
    );
    run.s.dispose();
    run.b.close();
  }
}

if (import.meta.main) await main();
