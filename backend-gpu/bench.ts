/**
 * Micro-benchmark of the TF.js backend: conv2d forward and both composed gradients on typical
 * ResNet-18/CIFAR layers (in views/s, one view = one image of the batch), the engine's stock
 * `Conv2DBackpropInput`/`Conv2DBackpropFilter` kernels where it has them, batch-norm style sums
 * and broadcasts (composed vs stock), and a 1024³ matMul.
 *
 * Usage: `deno run -A backend-gpu/bench.ts [--engine wasm] [--batch 256] [--reps 3]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import type { DeviceTensor } from "@simclr/core";
import { createGpuBackend, type Engine, ENGINES, type GpuBackend } from "./mod.ts";

/** A convolution layer to time. */
interface Layer {
  readonly name: string;
  readonly h: number;
  readonly cin: number;
  readonly cout: number;
  readonly k: number;
  readonly stride: number;
  readonly pad: number;
}

const LAYERS: readonly Layer[] = [
  { name: "stem 32x32x3→64 k3 s1", h: 32, cin: 3, cout: 64, k: 3, stride: 1, pad: 1 },
  { name: "16x16x64→128 k3 s1", h: 16, cin: 64, cout: 128, k: 3, stride: 1, pad: 1 },
  { name: "32x32x64→128 k3 s2", h: 32, cin: 64, cout: 128, k: 3, stride: 2, pad: 1 },
];

/** Median seconds of `reps` runs of `f` after one warm-up; `f` returns tensors to read and free. */
async function time(reps: number, f: () => Promise<void>): Promise<number> {
  await f();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function random(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
  return a;
}

/** Times `op` on the backend, reading its result so queued GPU work is included. */
function timed(gpu: GpuBackend, op: () => DeviceTensor): () => Promise<void> {
  return async () => {
    const y = op();
    await gpu.read(y);
    gpu.dispose(y);
  };
}

/** Times a raw TF.js op (the engine's stock kernels). */
function timedTf(op: () => tf.Tensor): () => Promise<void> {
  return async () => {
    const y = op();
    await y.data();
    y.dispose();
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      engine: { type: "string", default: "wasm" },
      batch: { type: "string", default: "256" },
      reps: { type: "string", default: "3" },
    },
  });
  const engine = values.engine as Engine;
  if (!ENGINES.includes(engine)) {
    throw new Error(`--engine: expected one of ${ENGINES.join(", ")}, got "${values.engine}"`);
  }
  const n = Number(values.batch), reps = Number(values.reps);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--batch: expected a positive integer`);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps: expected a positive integer`);
  const gpu = await createGpuBackend({ engine });
  console.log(`${gpu.name}: ${gpu.reason}`);
  const hasStockFilter = tf.getKernel("Conv2DBackpropFilter", tf.getBackend()) !== undefined;
  const hasStockInput = tf.getKernel("Conv2DBackpropInput", tf.getBackend()) !== undefined;

  for (const L of LAYERS) {
    const oh = Math.floor((L.h + 2 * L.pad - L.k) / L.stride) + 1;
    const x = gpu.upload(random(n * L.h * L.h * L.cin), [n, L.h, L.h, L.cin]);
    const w = gpu.upload(random(L.k * L.k * L.cin * L.cout), [L.k, L.k, L.cin, L.cout]);
    const dy = gpu.upload(random(n * oh * oh * L.cout), [n, oh, oh, L.cout]);
    const g = { stride: L.stride, pad: L.pad };
    const gflop = (2 * n * oh * oh * L.cout * L.k * L.k * L.cin) / 1e9;
    const report = (what: string, s: number) =>
      console.log(
        `${L.name.padEnd(24)} ${what.padEnd(22)} ${(s * 1000).toFixed(0).padStart(6)} ms ` +
          `${(n / s).toFixed(0).padStart(6)} views/s ${(gflop / s).toFixed(1).padStart(6)} GFLOP/s`,
      );
    report("forward", await time(reps, timed(gpu, () => gpu.conv2d(x, w, g))));
    report(
      "grad input (composed)",
      await time(reps, timed(gpu, () => gpu.conv2dGradInput(dy, w, x.shape, g))),
    );
    report(
      "grad filter (composed)",
      await time(reps, timed(gpu, () => gpu.conv2dGradFilter(x, dy, w.shape, g))),
    );
    // The stock kernels, through tf's gradient ops (pad given as explicit padding).
    const [tx, tw, tdy] = [x, w, dy].map((t) => (t as unknown as { tensor: tf.Tensor4D }).tensor);
    const pads: [[0, 0], [number, number], [number, number], [0, 0]] = [
      [0, 0],
      [L.pad, L.pad],
      [L.pad, L.pad],
      [0, 0],
    ];
    if (hasStockInput) {
      report(
        "grad input (stock)",
        await time(reps, timedTf(() => tf.conv2dTranspose(tdy, tw, tx.shape, L.stride, pads))),
      );
    }
    if (hasStockFilter) {
      const attrs = { strides: L.stride, pad: pads, dataFormat: "NHWC", filterShape: tw.shape };
      report(
        "grad filter (stock)",
        await time(
          reps,
          timedTf(() =>
            tf.engine().runKernel("Conv2DBackpropFilter", { x: tx, dy: tdy }, attrs) as tf.Tensor
          ),
        ),
      );
    } else {console.log(
        `${L.name.padEnd(24)} grad filter (stock)    — no such kernel on this engine`,
      );}
    [x, w, dy].forEach((t) => gpu.dispose(t));
  }

  // Batch-norm style reductions and their backward broadcast, composed vs stock.
  const act = gpu.upload(random(n * 32 * 32 * 64), [n, 32, 32, 64]);
  const chan = gpu.upload(random(64), [1, 1, 1, 64]);
  const [tAct, tChan] = [act, chan].map((t) => (t as unknown as { tensor: tf.Tensor }).tensor);
  const line = (what: string, sec: number) =>
    console.log(
      `${`[${n},32,32,64]`.padEnd(24)} ${what.padEnd(22)} ${
        (sec * 1000).toFixed(0).padStart(6)
      } ms`,
    );
  line(
    "sum over n,h,w",
    await time(reps, timed(gpu, () => gpu.reduce("sum", act, [0, 1, 2], true))),
  );
  line("sum (stock tf.sum)", await time(reps, timedTf(() => tf.sum(tAct, [0, 1, 2], true))));
  line("broadcastTo", await time(reps, timed(gpu, () => gpu.broadcastTo(chan, act.shape))));
  line("broadcastTo (stock)", await time(reps, timedTf(() => tf.broadcastTo(tChan, tAct.shape))));
  [act, chan].forEach((t) => gpu.dispose(t));

  const size = 1024;
  const a = gpu.upload(random(size * size), [size, size]);
  const b = gpu.upload(random(size * size), [size, size]);
  for (const [ta, tb] of [[false, false], [true, false], [false, true]]) {
    const s = await time(reps, timed(gpu, () => gpu.matMul(a, b, ta, tb)));
    console.log(
      `matMul ${size}³ transposeA=${ta} transposeB=${tb}: ${(s * 1000).toFixed(0)} ms, ` +
        `${(2 * size ** 3 / s / 1e9).toFixed(1)} GFLOP/s`,
    );
  }
  [a, b].forEach((t) => gpu.dispose(t));
}

if (import.meta.main) await main();
