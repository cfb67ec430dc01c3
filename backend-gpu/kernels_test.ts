import { deepEqual, equal, throws } from "node:assert/strict";
import { type Backend, type DeviceTensor, Rng, type Shape } from "@simclr/core";
import {
  assertRowsOk,
  compareKernel,
  createRefBackend,
  type KernelInput,
  type VerifyRow,
} from "@simclr/backend-ref";
import { assertClose, ENGINE_CASES } from "./test_util.ts";
import type { GpuBackend } from "./mod.ts";

/** Uploads, runs `f`, reads the result and disposes everything; returns [shape, values]. */
async function run(
  gpu: GpuBackend,
  inputs: readonly [number[], Shape][],
  f: (...xs: DeviceTensor[]) => DeviceTensor,
): Promise<[Shape, number[]]> {
  const xs = inputs.map(([data, shape]) => gpu.upload(new Float32Array(data), shape));
  const y = f(...xs);
  const values = Array.from(await gpu.read(y));
  const shape = [...y.shape];
  [...xs, y].forEach((t) => gpu.dispose(t));
  return [shape, values];
}

const A23 = [1, 2, 3, 4, 5, 6]; // [[1,2,3],[4,5,6]]

/** Compares `kernel` on the engine with the reference backend, on random inputs. */
async function againstRef(
  gpu: GpuBackend,
  name: string,
  inputs: KernelInput[],
  kernel: (b: Backend, xs: DeviceTensor[]) => DeviceTensor,
  seed: number,
  tolerance?: number,
): Promise<VerifyRow> {
  return await compareKernel(REF, gpu, gpu.name, name, inputs, kernel, new Rng(seed), tolerance);
}

const REF = createRefBackend();

for (const c of ENGINE_CASES) {
  const test = (name: string, fn: (gpu: GpuBackend) => void | Promise<void>) =>
    Deno.test({
      name: `${c.engine}: ${name}`,
      ignore: c.skip !== null,
      fn: async () => fn(await c.get()),
    });

  test("name, engine and reason", (gpu) => {
    equal(gpu.name, `tfjs-${c.engine}`);
    equal(gpu.engine, c.engine);
    equal(gpu.reason.startsWith(`${c.engine}:`), true, gpu.reason);
  });

  test("upload copies, read returns a fresh copy, bad length throws", async (gpu) => {
    const host = new Float32Array([1, 2, 3]);
    const t = gpu.upload(host, [3]);
    host[0] = 99; // must not reach the device tensor
    const first = await gpu.read(t);
    deepEqual(Array.from(first), [1, 2, 3]);
    first[1] = 99; // must not change later reads
    deepEqual(Array.from(await gpu.read(t)), [1, 2, 3]);
    gpu.dispose(t);
    throws(
      () => gpu.upload(new Float32Array(5), [2, 3]),
      /tfjs-\w+ backend upload: data has 5 elements but shape \[2,3\] needs 6/,
    );
  });

  test("matMul with every transpose combination", async (gpu) => {
    // a = [[1,2,3],[4,5,6]]; a·aᵀ = [[14,32],[32,77]], aᵀ·a = [[17,22,27],[22,29,36],[27,36,45]].
    deepEqual(
      await run(gpu, [[A23, [2, 3]], [A23, [2, 3]]], (a, b) => gpu.matMul(a, b, false, true)),
      [
        [2, 2],
        [14, 32, 32, 77],
      ],
    );
    deepEqual(
      await run(gpu, [[A23, [2, 3]], [A23, [2, 3]]], (a, b) => gpu.matMul(a, b, true, false)),
      [
        [3, 3],
        [17, 22, 27, 22, 29, 36, 27, 36, 45],
      ],
    );
    // b = [[1,0],[0,1],[1,1]]: a·b = [[4,5],[10,11]]; aᵀᵀ·bᵀᵀ via both flags on the transposes.
    const b = [1, 0, 0, 1, 1, 1];
    deepEqual(
      await run(gpu, [[A23, [2, 3]], [b, [3, 2]]], (x, y) => gpu.matMul(x, y, false, false)),
      [
        [2, 2],
        [4, 5, 10, 11],
      ],
    );
    const aT = [1, 4, 2, 5, 3, 6], bT = [1, 0, 1, 0, 1, 1];
    deepEqual(
      await run(gpu, [[aT, [3, 2]], [bT, [2, 3]]], (x, y) => gpu.matMul(x, y, true, true)),
      [
        [2, 2],
        [4, 5, 10, 11],
      ],
    );
  });

  test("conv2d by hand: ones with pad 1, and stride 2 pad 0", async (gpu) => {
    const ones9 = new Array(9).fill(1);
    deepEqual(
      await run(
        gpu,
        [[ones9, [1, 3, 3, 1]], [ones9, [3, 3, 1, 1]]],
        (x, w) => gpu.conv2d(x, w, { stride: 1, pad: 1 }),
      ),
      [[1, 3, 3, 1], [4, 6, 4, 6, 9, 6, 4, 6, 4]],
    );
    // x = 1..16 in 4×4, w 2×2 = [[1,0],[0,-1]] (x[i][j] − x[i+1][j+1] = −5 everywhere), stride 2.
    const x = Array.from({ length: 16 }, (_, i) => i + 1);
    deepEqual(
      await run(
        gpu,
        [[x, [1, 4, 4, 1]], [[1, 0, 0, -1], [2, 2, 1, 1]]],
        (a, w) => gpu.conv2d(a, w, { stride: 2, pad: 0 }),
      ),
      [[1, 2, 2, 1], [-5, -5, -5, -5]],
    );
  });

  test("maxPool and maxPoolGrad by hand, ties to the first maximum", async (gpu) => {
    // 4×4: windows [1,3;0,3] (tie 3 at (0,1),(1,1)), [3,2;1,1], [2,2;5,0], [2,2;5,1].
    const x = [1, 3, 3, 2, 0, 3, 1, 1, 2, 2, 2, 2, 5, 0, 5, 1];
    const xs = gpu.upload(new Float32Array(x), [1, 4, 4, 1]);
    const y = gpu.maxPool(xs, { size: 2, stride: 2 });
    deepEqual(Array.from(await gpu.read(y)), [3, 3, 5, 5]);
    const dy = gpu.upload(new Float32Array([10, 20, 30, 40]), [1, 2, 2, 1]);
    const dx = gpu.maxPoolGrad(dy, xs, { size: 2, stride: 2 });
    deepEqual(Array.from(await gpu.read(dx)), [0, 10, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 30, 0, 40, 0]);
    // Overlapping 3×3 stride 1: both top windows pick the 3 at (0,1); bottom ones the 5s.
    const y3 = gpu.maxPool(xs, { size: 3, stride: 1 });
    deepEqual(Array.from(await gpu.read(y3)), [3, 3, 5, 5]);
    const dx3 = gpu.maxPoolGrad(dy, xs, { size: 3, stride: 1 });
    deepEqual(Array.from(await gpu.read(dx3)), [0, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 30, 0, 40, 0]);
    // All equal: the first position of the window takes it.
    const flat = gpu.upload(new Float32Array([2, 2, 2, 2]), [1, 2, 2, 1]);
    const yf = gpu.maxPool(flat, { size: 2, stride: 2 });
    const one = gpu.upload(new Float32Array([1]), [1, 1, 1, 1]);
    const dflat = gpu.maxPoolGrad(one, flat, { size: 2, stride: 2 });
    deepEqual(Array.from(await gpu.read(dflat)), [1, 0, 0, 0]);
    [xs, y, dy, dx, y3, dx3, flat, yf, one, dflat].forEach((t) => gpu.dispose(t));
  });

  test("unary ops, step is 0 at exactly 0", async (gpu) => {
    const x = [-1, 0, 0.5, 4];
    const pos = [0.25, 1, 4, 9];
    const cases: [Parameters<GpuBackend["unary"]>[0], number[], number[]][] = [
      ["neg", x, [1, -0, -0.5, -4]],
      ["exp", x, x.map(Math.exp)],
      ["log", pos, pos.map(Math.log)],
      ["sqrt", pos, [0.5, 1, 2, 3]],
      ["relu", x, [0, 0, 0.5, 4]],
      ["step", x, [0, 0, 1, 1]],
    ];
    for (const [op, input, expected] of cases) {
      const [shape, got] = await run(gpu, [[input, [2, 2]]], (t) => gpu.unary(op, t));
      deepEqual(shape, [2, 2]);
      assertClose(got, expected, 1e-6, `${c.engine} unary ${op}`);
    }
  });

  test("binary ops with broadcasting", async (gpu) => {
    const row = [10, 20, 30];
    const col = [2, 4];
    const cases: [Parameters<GpuBackend["binary"]>[0], number[], Shape, number[]][] = [
      ["add", row, [3], [11, 22, 33, 14, 25, 36]],
      ["sub", row, [3], [-9, -18, -27, -6, -15, -24]],
      ["mul", col, [2, 1], [2, 4, 6, 16, 20, 24]],
      ["div", col, [2, 1], [0.5, 1, 1.5, 1, 1.25, 1.5]],
    ];
    for (const [op, b, bShape, expected] of cases) {
      const [shape, got] = await run(
        gpu,
        [[A23, [2, 3]], [b, bShape]],
        (x, y) => gpu.binary(op, x, y),
      );
      deepEqual(shape, [2, 3]);
      assertClose(got, expected, 1e-6, `${c.engine} binary ${op}`);
    }
    // Broadcasting both ways: [2,1] + [1,3] → [2,3].
    deepEqual(await run(gpu, [[col, [2, 1]], [row, [1, 3]]], (x, y) => gpu.binary("add", x, y)), [
      [2, 3],
      [12, 22, 32, 14, 24, 34],
    ]);
  });

  test("reduce sum/max over axes, keepDims, no axes", async (gpu) => {
    // x [2,2,3] = 1..12.
    const x = Array.from({ length: 12 }, (_, i) => i + 1);
    const s = [2, 2, 3];
    deepEqual(await run(gpu, [[x, s]], (t) => gpu.reduce("sum", t, [0, 2], false)), [
      [2],
      [1 + 2 + 3 + 7 + 8 + 9, 4 + 5 + 6 + 10 + 11 + 12],
    ]);
    deepEqual(await run(gpu, [[x, s]], (t) => gpu.reduce("max", t, [1], true)), [
      [2, 1, 3],
      [4, 5, 6, 10, 11, 12],
    ]);
    deepEqual(await run(gpu, [[x, s]], (t) => gpu.reduce("sum", t, [0, 1, 2], false)), [[], [78]]);
    deepEqual(await run(gpu, [[x, s]], (t) => gpu.reduce("max", t, [], false)), [s, x]);
    throws(
      () => gpu.reduce("sum", gpu.upload(new Float32Array(2), [2]), [1], false),
      /tfjs-\w+ backend reduce sum: axis 1 is out of range for rank 1/,
    );
  });

  test("long sums: every axis pattern within 1e-6 of float64 (catches naive float32 sums)", async (gpu) => {
    // [shape, axes]: a=1 with blocks, a>1 and c>1 with blocks, last axis, a prime length (padded),
    // short, and non-contiguous axes.
    const cases: [number[], number[]][] = [
      [[65536], [0]],
      [[16, 32, 32, 3], [0, 1, 2]],
      [[2, 3, 50, 50, 4], [2, 3]],
      [[2, 8192], [1]],
      [[3, 4099, 2], [1]],
      [[7, 5], [0]],
      [[4, 64, 3, 8], [0, 2]],
    ];
    const rows: VerifyRow[] = [];
    for (const [k, [shape, axes]] of cases.entries()) {
      // Values in [2, 4] keep sums away from 0, so the relative error measures the summation.
      rows.push(
        await againstRef(
          gpu,
          `sum [${shape}] over [${axes}]`,
          [{ shape, lo: 2, hi: 4 }],
          (b, [t]) => b.reduce("sum", t, axes, true),
          40 + k,
          1e-6,
        ),
      );
    }
    assertRowsOk(rows);
  });

  test("broadcastTo: leading, inner and scalar patterns", async (gpu) => {
    const cases: [number[], number[]][] = [
      [[5], [3, 4, 5]],
      [[1, 1, 5], [3, 4, 5]],
      [[3, 1, 2], [3, 4, 2]],
      [[3, 1], [2, 3, 4]],
      [[], [2, 3]],
      [[2, 3], [2, 3]],
    ];
    const rows: VerifyRow[] = [];
    for (const [k, [from, to]] of cases.entries()) {
      rows.push(
        await againstRef(
          gpu,
          `broadcast [${from}] to [${to}]`,
          [{ shape: from }],
          (b, [t]) => b.broadcastTo(t, to),
          60 + k,
          0,
        ),
      );
    }
    assertRowsOk(rows);
  });

  test("broadcastTo and reshape", async (gpu) => {
    deepEqual(await run(gpu, [[[1, 2], [2, 1]]], (t) => gpu.broadcastTo(t, [3, 2, 3])), [
      [3, 2, 3],
      [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2],
    ]);
    throws(() => gpu.broadcastTo(gpu.upload(new Float32Array(2), [2]), [3]), /broadcast/);
    deepEqual(await run(gpu, [[A23, [2, 3]]], (t) => gpu.reshape(t, [3, 1, 2])), [[3, 1, 2], A23]);
    throws(() => gpu.reshape(gpu.upload(new Float32Array(6), [6]), [4]), /cannot reshape/);
  });

  test("concat, slice, pad (rank 2, 5 and 6)", async (gpu) => {
    deepEqual(
      await run(gpu, [[A23, [2, 3]], [[7, 8], [2, 1]]], (a, b) => gpu.concat([a, b], 1)),
      [[2, 4], [1, 2, 3, 7, 4, 5, 6, 8]],
    );
    deepEqual(await run(gpu, [[A23, [2, 3]]], (t) => gpu.concat([t, t], 0)), [
      [4, 3],
      [...A23, ...A23],
    ]);
    deepEqual(await run(gpu, [[A23, [2, 3]]], (t) => gpu.slice(t, [1, 1], [1, 2])), [[1, 2], [
      5,
      6,
    ]]);
    deepEqual(await run(gpu, [[A23, [2, 3]]], (t) => gpu.pad(t, [[1, 0], [0, 2]])), [
      [3, 5],
      [0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0],
    ]);
    // Rank 5 pad on two inner axes (the WebGPU engine returned zeros for this before the rewrite).
    const [shape5, got5] = await run(
      gpu,
      [[A23, [1, 2, 3, 1, 1]]],
      (t) => gpu.pad(t, [[0, 0], [0, 0], [0, 1], [0, 0], [1, 0]]),
    );
    deepEqual(shape5, [1, 2, 4, 1, 2]);
    deepEqual(got5, [0, 1, 0, 2, 0, 3, 0, 0, 0, 4, 0, 5, 0, 6, 0, 0]);
    // Rank 6 with padded axes that cannot be merged below rank 5 (padded one axis at a time).
    const shape6 = [2, 1, 3, 1, 2, 2];
    const pads6: [number, number][] = [[1, 0], [0, 0], [0, 1], [0, 0], [1, 1], [0, 1]];
    assertRowsOk([
      await againstRef(gpu, "pad rank 6", [{ shape: shape6 }], (b, [t]) => b.pad(t, pads6), 6, 0),
    ]);
  });

  test("batchNorm and batchNormGrad by hand, no cancellation for a large mean", async (gpu) => {
    // x [4 rows, 2 channels] as NHWC [1,2,2,2], eps = 1, gamma = [2, 3], beta = [1, −1].
    // Channel 0 holds 13, 9, 9, 9: mean 10, variance 3, invStd 1/2, x̂ = 1.5, −.5, −.5, −.5,
    // y = 2·x̂ + 1. Channel 1 is constant 5: variance 0, invStd 1 (eps alone), y = beta = −1.
    // Backward, dy channel 0 = 2, 0, 1, −1: dBeta 2, dGamma 3, dx = .25·(4·dy − 2 − 3·x̂);
    // channel 1 = 1, 2, 3, 4: dBeta 10, dGamma 0, dx = .75·(4·dy − 10).
    const up = (v: number[], shape: number[]) => gpu.upload(new Float32Array(v), shape);
    const gamma = up([2, 3], [2]), beta = up([1, -1], [2]);
    const x = up([13, 5, 9, 5, 9, 5, 9, 5], [1, 2, 2, 2]);
    const dy = up([2, 1, 0, 2, 1, 3, -1, 4], [1, 2, 2, 2]);
    const fwd = gpu.batchNorm(x, gamma, beta, 1);
    deepEqual(fwd.y.shape, [1, 2, 2, 2]);
    assertClose(await gpu.read(fwd.y), [4, -1, 0, -1, 0, -1, 0, -1], 1e-6, "y");
    assertClose(await gpu.read(fwd.mean), [10, 5], 1e-6, "mean");
    assertClose(await gpu.read(fwd.variance), [3, 0], 1e-6, "variance");
    const grad = gpu.batchNormGrad(dy, x, fwd.mean, fwd.variance, gamma, 1);
    const dx = [0.375, -4.5, -0.125, -1.5, 0.875, 1.5, -1.125, 4.5];
    assertClose(await gpu.read(grad.dx), dx, 1e-6, "dx");
    assertClose(await gpu.read(grad.dGamma), [3, 0], 1e-6, "dGamma");
    assertClose(await gpu.read(grad.dBeta), [2, 10], 1e-6, "dBeta");
    // 1e4 ± 1: variance exactly 1 (two passes, so no E[x²] − E[x]² cancellation).
    const one = up([1], [1]), zero = up([0], [1]);
    const xFar = up([1e4 - 1, 1e4 + 1, 1e4 - 1, 1e4 + 1], [4, 1]);
    const far = gpu.batchNorm(xFar, one, zero, 0);
    assertClose(await gpu.read(far.variance), [1], 1e-6, "variance at mean 1e4");
    assertClose(await gpu.read(far.y), [-1, 1, -1, 1], 1e-6, "y at mean 1e4");
    const gamma3 = up([1, 1, 1], [3]);
    throws(
      () => gpu.batchNorm(x, gamma3, beta, 1),
      /tfjs-\w+ backend batchNorm: gamma \[3\] should be \[2\]/,
    );
    for (const t of [gamma, beta, x, dy, one, zero, xFar, gamma3]) gpu.dispose(t);
    for (const out of [fwd, grad, far]) Object.values(out).forEach((t) => gpu.dispose(t));
  });

  test("rejects disposed and foreign tensors", (gpu) => {
    const t = gpu.upload(new Float32Array(2), [2]);
    gpu.dispose(t);
    throws(
      () => gpu.unary("neg", t),
      /backend unary neg: argument x \(shape \[2\]\) was used after dispose/,
    );
    gpu.dispose(t); // a second dispose is ignored, as on every backend
    throws(() => gpu.dispose({ shape: [2] }), /backend dispose: argument is not a tensor/);
    throws(
      () => gpu.unary("neg", { shape: [2] }),
      /backend unary neg: argument x is not a tensor of this tfjs-\w+ backend/,
    );
    throws(() => gpu.conv2d(t, t, { stride: 1, pad: 0 }), /tfjs-\w+ backend conv2d: argument x/);
  });
}
