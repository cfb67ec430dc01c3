// The native backend against the reference: every kernel (backend-ref's conformance suite, plus
// larger shapes that reach the threaded and edge-tile paths), whole SimCLR training steps, tensor
// lifetime and leaks, NaN/tie semantics, and the error for a missing compiler.

import assert from "node:assert/strict";
import {
  type Backend,
  createModel,
  DEFAULT_OPTIMIZER,
  type DeviceTensor,
  Graph,
  type ModelName,
  Optimizer,
  Rng,
  type Shape,
  sizeOf,
  trainStep,
} from "@simclr/core";
import {
  assertRowsOk,
  compareKernel,
  createRefBackend,
  verifyKernels,
  type VerifyRow,
  verifyTrainingSteps,
} from "@simclr/backend-ref";
import { createNativeBackend } from "./mod.ts";

// One library handle for the whole file, opened before the tests so the resource sanitizer does
// not attribute it to a test.
const native = await createNativeBackend({ threads: 2 });

const ref = createRefBackend();

function random(rng: Rng, shape: Shape): Float32Array {
  const a = new Float32Array(sizeOf(shape));
  for (let i = 0; i < a.length; i++) a[i] = rng.range(-1, 1);
  return a;
}

/**
 * Runs `kernel` on the reference and on native with the same random inputs (the conformance
 * suite's {@linkcode compareKernel}); one comparison row.
 */
function against(
  name: string,
  shapes: Shape[],
  kernel: (b: Backend, xs: DeviceTensor[]) => DeviceTensor,
  rng: Rng,
  tolerance?: number,
): Promise<VerifyRow> {
  const inputs = shapes.map((shape) => ({ shape }));
  return compareKernel(ref, native, "native", name, inputs, kernel, rng, tolerance);
}

Deno.test("every kernel of the verify harness matches the reference", async () => {
  const before = native.liveTensors();
  assertRowsOk(await verifyKernels(createRefBackend(), native));
  assert.equal(native.liveTensors(), before);
});

Deno.test("large and odd shapes (threaded GEMM, edge tiles, both conv-gradient paths)", async () => {
  const rng = new Rng(5);
  const rows: VerifyRow[] = [];
  // M, N, K beyond one register tile / K-block, odd remainders, every transpose combination.
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
    const [m, k, n] = [301, 517, 75];
    rows.push(
      await against(
        `matMul ${ta}/${tb} ${m}x${k}x${n}`,
        [ta ? [k, m] : [m, k], tb ? [n, k] : [k, n]],
        (b, [x, y]) => b.matMul(x, y, ta, tb),
        rng,
      ),
    );
  }
  rows.push(
    await against(
      "matMul wide 20x64x700",
      [[20, 64], [64, 700]],
      (b, [x, y]) => b.matMul(x, y, false, false),
      rng,
    ),
  );
  rows.push(
    await against("matMul k=0", [[3, 0], [0, 4]], (b, [x, y]) => b.matMul(x, y, false, false), rng),
  );
  const convs: [number[], number[], number, number][] = [
    [[3, 30, 30, 8], [3, 3, 8, 40], 1, 1], // several pixel chunks: threaded filter gradient
    [[2, 17, 19, 20], [3, 3, 20, 33], 2, 1], // stride 2: col2im input gradient
    [[2, 9, 11, 5], [1, 1, 5, 70], 2, 0], // 1x1 stride 2 (ResNet shortcut)
    [[2, 9, 8, 3], [3, 5, 3, 4], 1, 1], // non-square filter, different H and W padding
    [[1, 6, 6, 2], [3, 3, 2, 3], 1, 3], // pad beyond the filter: col2im path at stride 1
    // Filter over 1 MiB and several pixel chunks: the row-owned im2colᵀ·dy filter gradient
    // (pad 0: "same" padding would take the Winograd path).
    [[3, 20, 20, 48], [3, 3, 48, 640], 1, 0],
    // The direct path (cin >= 16): pixel tiles that cross image rows and batch images, an
    // output-channel strip narrower than NR, a 3x5 filter (taps in several K-blocks).
    [[2, 7, 9, 17], [3, 5, 17, 21], 1, 1],
    // Direct, channels split into two K-blocks (cin > 256), padding wider than the filter's
    // reach so that whole tiles read only the zero row; its input gradient is direct too.
    [[1, 5, 6, 300], [3, 3, 300, 19], 1, 2],
    // Stride 2 with small images: the col2im input gradient takes two images per chunk, and
    // its 120-row GEMM pieces cross from one image into the next.
    [[16, 20, 20, 8], [3, 3, 8, 12], 2, 1],
    // Few input channels (cin < 16, the first layer): the padded-image path, forward and filter
    // gradient (outC a multiple of NR). RGB with several row chunks, a last pixel tile of 1 and
    // a last K-block of 3 columns; one channel, a 5x3 filter, stride 2 and a pad of 2; stride 2
    // without padding, 3 output-channel strips.
    [[8, 33, 35, 3], [3, 3, 3, 32], 1, 1],
    [[3, 12, 10, 1], [5, 3, 1, 16], 2, 2],
    [[2, 8, 9, 7], [3, 3, 7, 48], 2, 0],
    // Winograd (3x3, stride 1, pad 1, cin and cout >= 16). F(2x2, 3x3), sides not multiples of
    // 4: odd height and width (tiles hanging over the edge), channel counts off the vector width,
    // two tile chunks; cin > 256 (two channel blocks) and cout off NR with several 128-wide
    // output blocks, U over 8 MiB (the large-chunk rule); 140 tiles: filter-gradient chunks of
    // 128, the last partial. F(4x4, 3x3), sides multiples of 4: 144 tiles (several forward
    // chunks, two filter-gradient chunks), cout off NR; one tile per image with U over 8 MiB.
    [[3, 7, 9, 17], [3, 3, 17, 21], 1, 1],
    [[2, 3, 3, 400], [3, 3, 400, 330], 1, 1],
    [[70, 2, 4, 32], [3, 3, 32, 64], 1, 1],
    [[9, 16, 16, 16], [3, 3, 16, 24], 1, 1],
    [[2, 4, 4, 256], [3, 3, 256, 240], 1, 1],
    // A 1x1 image: one F(2x2) tile, three of its four output pixels and all but one input pixel
    // of its window outside the image.
    [[3, 1, 1, 16], [3, 3, 16, 40], 1, 1],
  ];
  for (const [xs, ws, stride, pad] of convs) {
    const g = { stride, pad };
    const oh = Math.floor((xs[1] + 2 * pad - ws[0]) / stride) + 1;
    const ow = Math.floor((xs[2] + 2 * pad - ws[1]) / stride) + 1;
    const dys = [xs[0], oh, ow, ws[3]];
    const tag = `[${xs}]*[${ws}] s${stride} p${pad}`;
    rows.push(await against(`conv2d ${tag}`, [xs, ws], (b, [x, w]) => b.conv2d(x, w, g), rng));
    rows.push(
      await against(
        `conv2dGradInput ${tag}`,
        [dys, ws],
        (b, [dy, w]) => b.conv2dGradInput(dy, w, xs, g),
        rng,
      ),
    );
    rows.push(
      await against(
        `conv2dGradFilter ${tag}`,
        [xs, dys],
        (b, [x, dy]) => b.conv2dGradFilter(x, dy, ws, g),
        rng,
      ),
    );
  }
  // Reductions: [K1,R,K2] with one block (R split across threads), middle axes, and a pattern
  // that needs the general walk.
  const big = [1, 300, 520];
  rows.push(
    await against("reduce sum leading", [big], (b, [x]) => b.reduce("sum", x, [0, 1], false), rng),
  );
  rows.push(
    await against("reduce max leading", [big], (b, [x]) => b.reduce("max", x, [1], true), rng),
  );
  rows.push(
    await against("reduce sum last", [[300, 520]], (b, [x]) => b.reduce("sum", x, [1], true), rng),
  );
  rows.push(
    await against(
      "reduce sum middle",
      [[8, 7, 6, 5]],
      (b, [x]) => b.reduce("sum", x, [1, 2], false),
      rng,
    ),
  );
  rows.push(
    await against(
      "reduce max alternating",
      [[4, 3, 5, 2, 3]],
      (b, [x]) => b.reduce("max", x, [0, 2, 4], false),
      rng,
    ),
  );
  rows.push(
    await against(
      "reduce sum all",
      [[70, 3000]],
      (b, [x]) => b.reduce("sum", x, [0, 1], false),
      rng,
    ),
  );
  // Elementwise at threaded sizes with channel-vector, row and scalar broadcasts.
  for (const [as, bs] of [[[64, 33, 65], [65]], [[600, 300], [600, 1]], [[300, 700], []]]) {
    for (const op of ["add", "sub", "mul"] as const) {
      rows.push(
        await against(
          `binary ${op} [${as}]⊕[${bs}]`,
          [as, bs],
          (b, [x, y]) => b.binary(op, x, y),
          rng,
        ),
      );
    }
  }
  rows.push(
    await against(
      "binary sub [5,1,7]⊖[1,6,1]",
      [[5, 1, 7], [1, 6, 1]],
      (b, [x, y]) => b.binary("sub", x, y),
      rng,
    ),
  );
  // Above 2M elements the kernels switch to streaming stores (aligned body, scalar head/tail).
  const huge = [2101, 1000];
  for (
    const [op, as, bs] of [
      ["add", huge, huge],
      ["mul", [1051, 2000], [2000]],
      ["sub", [], huge],
      ["div", huge, [2101, 1]],
    ] as const
  ) {
    rows.push(
      await against(
        `binary ${op} [${as}]⊕[${bs}] (streamed)`,
        [as, bs],
        (b, [x, y]) => b.binary(op, x, y),
        rng,
      ),
    );
  }
  for (const op of ["neg", "relu", "step"] as const) {
    rows.push(await against(`unary ${op} (streamed)`, [huge], (b, [x]) => b.unary(op, x), rng));
  }
  rows.push(
    await against(
      "broadcastTo [1000]→[2101,1000] (streamed)",
      [[1000]],
      (b, [x]) => b.broadcastTo(x, huge),
      rng,
    ),
  );
  rows.push(
    await against(
      "broadcastTo [2101,1]→[2101,1000] (streamed)",
      [[2101, 1]],
      (b, [x]) => b.broadcastTo(x, huge),
      rng,
    ),
  );
  rows.push(
    await against("unary exp big", [[700, 300]], (b, [x]) => b.unary("exp", x), rng),
  );
  rows.push(
    await against("relu big", [[700, 301]], (b, [x]) => b.unary("relu", x), rng),
  );
  // Layout kernels at sizes that split across threads.
  rows.push(
    await against(
      "broadcastTo [40,1,50]→[3,40,900,50]",
      [[40, 1, 50]],
      (b, [x]) => b.broadcastTo(x, [3, 40, 900, 50]),
      rng,
    ),
  );
  rows.push(
    await against(
      "pad 4-D",
      [[3, 5, 6, 2]],
      (b, [x]) => b.pad(x, [[0, 1], [2, 0], [1, 1], [0, 3]]),
      rng,
    ),
  );
  rows.push(
    await against("slice 3-D", [[6, 7, 8]], (b, [x]) => b.slice(x, [1, 2, 3], [4, 5, 2]), rng),
  );
  rows.push(
    await against(
      "concat axis 0 of three",
      [[2, 3], [4, 3], [1, 3]],
      (b, xs) => b.concat(xs, 0),
      rng,
    ),
  );
  // Fused batch norm: one thread below 64K elements, odd channel counts (scalar loops), and
  // above 2M elements with channels a multiple of the vector width (streaming stores).
  for (const shape of [[20000, 7], [3, 9, 11, 13], [128, 16, 16, 64]]) {
    const c = shape[shape.length - 1];
    rows.push(
      await against(`batchNorm y [${shape}]`, [shape, [c], [c]], (b, [x, g, bt]) => {
        const { y, mean, variance } = b.batchNorm(x, g, bt, 1e-5);
        b.dispose(mean);
        b.dispose(variance);
        return y;
      }, rng),
    );
    rows.push(
      await against(`batchNormGrad dx [${shape}]`, [shape, shape, [c]], (b, [dy, x, g]) => {
        // Each backend's own statistics of x (they agree to ~1e-7, see the rows above).
        const { y, mean, variance } = b.batchNorm(x, g, g, 1e-5);
        const { dx, dGamma, dBeta } = b.batchNormGrad(dy, x, mean, variance, g, 1e-5);
        for (const t of [y, mean, variance, dGamma, dBeta]) b.dispose(t);
        return dx;
      }, rng),
    );
  }
  // Overlapping pool windows (size 3, stride 2) accumulate several gradients in one pixel.
  // (Non-overlapping windows that tile the image are written directly; [2,7,9,5] leaves a row
  // and a column uncovered, which must come out 0.)
  const pools = [[[3, 13, 11, 17], 3, 2], [[2, 16, 16, 64], 2, 2], [[2, 7, 9, 5], 2, 2]] as const;
  for (const [xs, size, stride] of pools) {
    const geom = { size, stride };
    const oh = Math.floor((xs[1] - size) / stride) + 1,
      ow = Math.floor((xs[2] - size) / stride) + 1;
    rows.push(await against(`maxPool [${xs}]`, [xs], (b, [x]) => b.maxPool(x, geom), rng));
    rows.push(
      await against(
        `maxPoolGrad [${xs}]`,
        [[xs[0], oh, ow, xs[3]], xs],
        (b, [dy, x]) => b.maxPoolGrad(dy, x, geom),
        rng,
      ),
    );
  }
  assertRowsOk(rows);
});

/**
 * verifyTrainingSteps (batch 2, two steps) with every row OK. (The harness itself leaves out the
 * updated values whose gradient sign the two backends do not resolve.)
 */
async function verifySteps(model: ModelName, width?: number): Promise<void> {
  const { rows } = await verifyTrainingSteps(createRefBackend(), native, model, {
    batch: 2,
    steps: 2,
    width,
  });
  assertRowsOk(rows);
}

Deno.test("convAlgorithm reports the library's choice of convolution path", () => {
  const same = { stride: 1, pad: 1 };
  // 3x3, stride 1, same padding, >= 16 channels in and out: Winograd in all three kernels.
  for (const op of ["conv2d", "conv2dGradInput", "conv2dGradFilter"] as const) {
    assert.equal(native.convAlgorithm(op, [2, 8, 8, 16], [3, 3, 16, 32], same), "winograd");
  }
  // 15 input channels: not Winograd (its input gradient, 32 -> 15 channels, is not either).
  assert.notEqual(native.convAlgorithm("conv2d", [2, 8, 8, 15], [3, 3, 15, 32], same), "winograd");
  // Stride 2: the input gradient scatters with col2im; a 1x1 filter is an im2col GEMM.
  const s2 = { stride: 2, pad: 1 };
  assert.equal(
    native.convAlgorithm("conv2dGradInput", [2, 8, 8, 16], [3, 3, 16, 32], s2),
    "col2im",
  );
  assert.equal(
    native.convAlgorithm("conv2d", [2, 8, 8, 16], [1, 1, 16, 32], { stride: 1, pad: 0 }),
    "im2col",
  );
  assert.throws(
    () => native.convAlgorithm("conv2d", [2, 8, 8, 16], [3, 3, 17, 32], same),
    /conv2d/,
  );
});

Deno.test("two threads compute the same training step as one thread", async () => {
  const one = await createNativeBackend({ threads: 1 });
  const { rows } = await verifyTrainingSteps(one, native, "small", {
    batch: 4,
    steps: 2,
    width: 8,
  });
  assertRowsOk(rows);
  one.close();
});

Deno.test("training steps of the simple CNN match the reference", async () => {
  await verifySteps("simple");
});

Deno.test("training steps of the small CNN (width 8) match the reference", async () => {
  await verifySteps("small", 8);
});

Deno.test("training steps of ResNet-18 (width 8) match the reference", async () => {
  await verifySteps("resnet18", 8);
});

Deno.test("repeated training steps leak no tensors and reuse their memory", async () => {
  const g = new Graph(native);
  const base = native.liveTensors();
  const model = createModel(g, "small", { seed: 3, width: 8 });
  const optimizer = new Optimizer(g, model.params(), DEFAULT_OPTIMIZER);
  const rng = new Rng(9);
  const n = 4;
  const counts: number[] = [];
  const losses: number[] = [];
  const systemAllocations: number[] = [];
  for (let s = 0; s < 4; s++) {
    const v1 = random(rng, [n, 32, 32, 3]), v2 = random(rng, [n, 32, 32, 3]);
    const { loss } = await trainStep(
      model,
      optimizer,
      v1,
      v2,
      n,
      { loss: "ntxent", temperature: 0.5 },
      1e-3,
    );
    losses.push(loss);
    counts.push(native.liveTensors());
    systemAllocations.push(native.memoryStats().systemAllocations);
  }
  // Freed buffers are recycled: once warmed up, a step takes no new memory from the system.
  assert.deepEqual(systemAllocations.slice(2), [systemAllocations[1], systemAllocations[1]]);
  // The first step creates the optimiser's slots; after it the count must stay flat.
  assert.deepEqual(counts.slice(1), [counts[1], counts[1], counts[1]]);
  assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
  optimizer.dispose();
  model.dispose();
  assert.equal(native.liveTensors(), base);
});

Deno.test("hand-computed values: matMul, first maximum on ties, NaN handling", async () => {
  const up = (v: number[], shape: number[]) => native.upload(new Float32Array(v), shape);
  const a = up([1, 2, 3, 4], [2, 2]);
  assert.deepEqual(Array.from(await native.read(native.matMul(a, a, false, true))), [
    5,
    11,
    11,
    25,
  ]);
  assert.deepEqual(Array.from(await native.read(native.matMul(a, a, true, false))), [
    10,
    14,
    14,
    20,
  ]);

  // One 2x2 window holding 3 twice: the gradient goes to the first 3 (row-major window order).
  const x = up([1, 3, 3, 0], [1, 2, 2, 1]);
  const y = native.maxPool(x, { size: 2, stride: 2 });
  assert.deepEqual(Array.from(await native.read(y)), [3]);
  const dx = native.maxPoolGrad(up([5], [1, 1, 1, 1]), x, { size: 2, stride: 2 });
  assert.deepEqual(Array.from(await native.read(dx)), [0, 5, 0, 0]);

  // Channel 0 holds NaN, 1, 1, 4: a NaN in the first position is the maximum and takes the
  // gradient. Channel 1 holds 5, 2, NaN, 0: a later NaN loses to 5.
  const xn = up([NaN, 5, 1, 2, 1, NaN, 4, 0], [1, 2, 2, 2]);
  const yn = native.maxPool(xn, { size: 2, stride: 2 });
  const yv = await native.read(yn);
  assert.ok(Number.isNaN(yv[0]));
  assert.equal(yv[1], 5);
  const dxn = native.maxPoolGrad(up([1, 2], [1, 1, 1, 2]), xn, { size: 2, stride: 2 });
  assert.deepEqual(Array.from(await native.read(dxn)), [1, 2, 0, 0, 0, 0, 0, 0]);

  // The same ties and NaNs in 19 channels, so that the vector path of tiling windows (8 or 16
  // channels at a time) and its scalar tail both see each case: per channel c, pattern c % 4 is
  // a tie (first 3 wins), a first-position NaN, a later NaN losing to 5, and a tie after a 0
  // with a NaN last (the first 4 wins). dy = c + 1.
  const patterns = [[3, 3, 0, 1], [NaN, 5, 1, 2], [5, 2, NaN, 0], [0, 4, 4, NaN]];
  const winner = [0, 0, 0, 1];
  const C = 19;
  const xv: number[] = new Array(4 * C), want: number[] = new Array(4 * C).fill(0);
  for (let c = 0; c < C; c++) {
    for (let k = 0; k < 4; k++) xv[k * C + c] = patterns[c % 4][k];
    want[winner[c % 4] * C + c] = c + 1;
  }
  const xw = up(xv, [1, 2, 2, C]);
  const dyw = up(Array.from({ length: C }, (_, c) => c + 1), [1, 1, 1, C]);
  const dxw = native.maxPoolGrad(dyw, xw, { size: 2, stride: 2 });
  assert.deepEqual(Array.from(await native.read(dxw)), want);

  // relu and step let NaN through; reduce max propagates it.
  const v = up([NaN, -2, 0, 3], [4]);
  const relu = await native.read(native.unary("relu", v));
  assert.ok(Number.isNaN(relu[0]));
  assert.deepEqual(Array.from(relu.slice(1)), [0, 0, 3]);
  const step = await native.read(native.unary("step", v));
  assert.ok(Number.isNaN(step[0]));
  assert.deepEqual(Array.from(step.slice(1)), [0, 0, 1]);
  assert.ok(Number.isNaN((await native.read(native.reduce("max", v, [0], false)))[0]));
  // Math.max(-0, 0) is +0.
  const zeros = await native.read(native.reduce("max", up([-0, 0, -0], [3]), [0], false));
  assert.ok(Object.is(zeros[0], 0));
  // Empty reductions: sum 0, max -Infinity.
  const empty = up([], [2, 0]);
  assert.deepEqual(Array.from(await native.read(native.reduce("sum", empty, [1], false))), [0, 0]);
  assert.deepEqual(
    Array.from(await native.read(native.reduce("max", empty, [1], true))),
    [-Infinity, -Infinity],
  );
});

Deno.test("batch norm worked by hand, and no cancellation for a large mean", async () => {
  const up = (v: number[], shape: number[]) => native.upload(new Float32Array(v), shape);
  const get = async (t: DeviceTensor) => Array.from(await native.read(t));
  // x [4 rows, 2 channels], eps = 1, gamma = [2, 3], beta = [1, −1]. Channel 0 holds 13, 9, 9, 9:
  // mean 10, variance 3, invStd 1/2, x̂ = 1.5, −.5, −.5, −.5, y = 2·x̂ + 1. Channel 1 is constant
  // 5: variance 0, invStd 1 (eps alone), y = beta. Backward with dy channel 0 = 2, 0, 1, −1:
  // dBeta 2, dGamma 3, dx = .25·(4·dy − 2 − 3·x̂); channel 1 = 1, 2, 3, 4: dBeta 10, dGamma 0,
  // dx = .75·(4·dy − 10).
  const gamma = up([2, 3], [2]);
  const x = up([13, 5, 9, 5, 9, 5, 9, 5], [1, 2, 2, 2]);
  const { y, mean, variance } = native.batchNorm(x, gamma, up([1, -1], [2]), 1);
  const close = (got: number[], want: number[], what: string) =>
    assert.ok(got.every((v, i) => Math.abs(v - want[i]) <= 1e-6), `${what}: ${got} vs ${want}`);
  close(await get(y), [4, -1, 0, -1, 0, -1, 0, -1], "y");
  close(await get(mean), [10, 5], "mean");
  close(await get(variance), [3, 0], "variance");
  const dy = up([2, 1, 0, 2, 1, 3, -1, 4], [1, 2, 2, 2]);
  const { dx, dGamma, dBeta } = native.batchNormGrad(dy, x, mean, variance, gamma, 1);
  close(await get(dx), [0.375, -4.5, -0.125, -1.5, 0.875, 1.5, -1.125, 4.5], "dx");
  close(await get(dGamma), [3, 0], "dGamma");
  close(await get(dBeta), [2, 10], "dBeta");
  // 1e4 ± 1: variance exactly 1, which E[x²] − E[x]² in float32 would lose entirely.
  const far = native.batchNorm(
    up([1e4 - 1, 1e4 + 1, 1e4 - 1, 1e4 + 1], [4, 1]),
    up([1], [1]),
    up([0], [1]),
    0,
  );
  close(await get(far.variance), [1], "variance at mean 1e4");
  close(await get(far.y), [-1, 1, -1, 1], "y at mean 1e4");
  assert.throws(
    () => native.batchNormGrad(dy, x, mean, up([1, 1, 1], [3]), gamma, 1),
    /native backend batchNormGrad: variance \[3\] should be \[2\]/,
  );
});

Deno.test("tensor lifetime: copies, live count, dispose errors, foreign tensors", async () => {
  const base = native.liveTensors();
  const source = new Float32Array([1, 2, 3]);
  const x = native.upload(source, [3]);
  source[0] = 99;
  const first = await native.read(x);
  first[1] = 99;
  assert.deepEqual(Array.from(await native.read(x)), [1, 2, 3]);
  const r = native.reshape(x, [1, 3]);
  assert.equal(native.liveTensors(), base + 2);
  native.dispose(x);
  // The reshape is its own copy and outlives x, even when x's memory is reused.
  const reuse = native.upload(new Float32Array([7, 7, 7]), [3]);
  assert.deepEqual(Array.from(await native.read(r)), [1, 2, 3]);
  native.dispose(x); // ignored
  assert.equal(native.liveTensors(), base + 2);
  assert.throws(
    () => native.unary("neg", x),
    /native backend unary neg: argument x .*after dispose/,
  );
  await assert.rejects(native.read(x), /native backend read: argument x .*after dispose/);
  const foreign = createRefBackend().upload(new Float32Array(1), [1]);
  assert.throws(() => native.unary("exp", foreign), /not a tensor of this native backend/);
  assert.throws(
    () => native.matMul(r, r, false, false),
    /matMul: inner dimensions 3 and 1 differ: a \[1,3\]/,
  );
  assert.throws(
    () =>
      native.conv2d(native.upload(new Float32Array(16), [1, 4, 4, 1]), r, { stride: 1, pad: 0 }),
    /conv2d: filter \[1,3\] must be HWIO/,
  );
  native.dispose(r);
  native.dispose(reuse);
  assert.equal(native.liveTensors(), base + 1); // the conv2d input above
});

Deno.test("a missing compiler gives an error naming the apt package", async () => {
  // An empty library folder: with a library already built there, no compiler would be needed.
  const cacheDir = await Deno.makeTempDir({ prefix: "simclr-native-empty-" });
  await assert.rejects(
    createNativeBackend({ compiler: "/nonexistent/g++", cacheDir }),
    /C\+\+ compiler "\/nonexistent\/g\+\+" not found; install it with `apt-get install -y g\+\+`/,
  );
  await Deno.remove(cacheDir, { recursive: true });
});

Deno.test("CPU features match /proc/cpuinfo, and the FMA peak runs on the widest path they allow", async () => {
  const native = await createNativeBackend({ threads: 1 });
  const f = native.cpuFeatures();
  let flags: Set<string> | undefined;
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    flags = new Set(info.match(/^flags\s*:(.*)$/m)?.[1].trim().split(/\s+/) ?? []);
  } catch {
    // not Linux: only the consistency checks below
  }
  if (flags) {
    assert.equal(f.avx2, flags.has("avx2"), "avx2");
    assert.equal(f.fma, flags.has("fma"), "fma");
    assert.equal(f.avx512f, flags.has("avx512f"), "avx512f");
    assert.equal(f.avx512bf16, flags.has("avx512_bf16"), "avx512_bf16");
    assert.equal(f.amxTile, flags.has("amx_tile"), "amx_tile");
    assert.equal(f.amxBf16, flags.has("amx_bf16"), "amx_bf16");
  }
  const peak = native.peakGflops({ seconds: 0.02, reps: 1 });
  assert.equal(peak.vectorWidth, f.avx512f ? 16 : f.avx2 && f.fma ? 8 : 0);
  // Any x86-64 core of the last decade does > 1 GFLOP/s in a register-only FMA loop, even shared.
  if (peak.vectorWidth) {
    assert.ok(peak.gflops > 1 && Number.isFinite(peak.gflops), `${peak.gflops}`);
  }
  native.close();
});
