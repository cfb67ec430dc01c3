// Each reference kernel against small cases worked out by hand (or, for broadcasting, by
// explicit nested loops, a different formulation from the kernel's odometer walk). Values are
// small integers or exact in float32, so equality is exact unless a tolerance is stated.

import assert from "node:assert/strict";
import type { DeviceTensor, Shape } from "@simclr/core";
import { createRefBackend, type RefBackend } from "./mod.ts";

function setup(): {
  ref: RefBackend;
  t: (values: number[], shape: Shape) => DeviceTensor;
  get: (x: DeviceTensor) => { shape: number[]; values: number[] };
} {
  const ref = createRefBackend();
  return {
    ref,
    t: (values, shape) => ref.upload(new Float32Array(values), shape),
    get: (x) => ({ shape: [...x.shape], values: Array.from(ref.readSync(x)) }),
  };
}

Deno.test("matMul gives the hand-computed product under every transpose combination", () => {
  const { t, get, ref } = setup();
  // a = [[1,2,3],[4,5,6]], b = [[7,8],[9,10],[11,12]]:
  // a·b = [[1·7+2·9+3·11, 1·8+2·10+3·12], [4·7+5·9+6·11, 4·8+5·10+6·12]] = [[58,64],[139,154]].
  const a = t([1, 2, 3, 4, 5, 6], [2, 3]);
  const aT = t([1, 4, 2, 5, 3, 6], [3, 2]);
  const b = t([7, 8, 9, 10, 11, 12], [3, 2]);
  const bT = t([7, 9, 11, 8, 10, 12], [2, 3]);
  const expected = { shape: [2, 2], values: [58, 64, 139, 154] };
  assert.deepEqual(get(ref.matMul(a, b, false, false)), expected);
  assert.deepEqual(get(ref.matMul(aT, b, true, false)), expected);
  assert.deepEqual(get(ref.matMul(a, bT, false, true)), expected);
  assert.deepEqual(get(ref.matMul(aT, bT, true, true)), expected);
  // a·aᵀ = [[14, 32], [32, 77]] exercises a non-square transposed right operand.
  assert.deepEqual(get(ref.matMul(a, a, false, true)), { shape: [2, 2], values: [14, 32, 32, 77] });
});

Deno.test("matMul accumulates in float64 and rounds the sum once", () => {
  const { t, get, ref } = setup();
  // 2^24 + 1 + 1: a float32 running sum loses each 1 (2^24 + 1 rounds to even 2^24), a float64
  // one keeps both and 2^24 + 2 is exact in float32.
  const a = t([2 ** 24, 1, 1], [1, 3]);
  const ones = t([1, 1, 1], [3, 1]);
  assert.deepEqual(get(ref.matMul(a, ones, false, false)).values, [2 ** 24 + 2]);
});

Deno.test("conv2d: 1-channel 3x3 filter on a 4x4 image, pad 0 stride 1 (worked by hand)", () => {
  const { t, get, ref } = setup();
  // x[r][c] = 4r + c + 1; w = [[1,2,0],[0,1,0],[0,0,-1]], so (no flip)
  // y[oy][ox] = x[oy][ox] + 2·x[oy][ox+1] + x[oy+1][ox+1] − x[oy+2][ox+2]:
  // y00 = 1+4+6−11 = 0, y01 = 2+6+7−12 = 3, y10 = 5+12+10−15 = 12, y11 = 6+14+11−16 = 15.
  const x = t(Array.from({ length: 16 }, (_, i) => i + 1), [1, 4, 4, 1]);
  const w = t([1, 2, 0, 0, 1, 0, 0, 0, -1], [3, 3, 1, 1]);
  assert.deepEqual(get(ref.conv2d(x, w, { stride: 1, pad: 0 })), {
    shape: [1, 2, 2, 1],
    values: [0, 3, 12, 15],
  });
});

Deno.test("conv2d: same filter with pad 1 stride 2 (worked by hand)", () => {
  const { t, get, ref } = setup();
  // out side = floor((4 + 2 − 3) / 2) + 1 = 2; window corner at input (2·o − 1).
  // y00: taps inside are w11·x(0,0) + w22·x(1,1) = 1 − 6 = −5
  // y01: w11·x(0,2) + w22·x(1,3) = 3 − 8 = −5
  // y10: w01·x(1,0) + w11·x(2,0) + w22·x(3,1) = 10 + 9 − 14 = 5
  // y11: w00·x(1,1) + w01·x(1,2) + w11·x(2,2) + w22·x(3,3) = 6 + 14 + 11 − 16 = 15
  const x = t(Array.from({ length: 16 }, (_, i) => i + 1), [1, 4, 4, 1]);
  const w = t([1, 2, 0, 0, 1, 0, 0, 0, -1], [3, 3, 1, 1]);
  assert.deepEqual(get(ref.conv2d(x, w, { stride: 2, pad: 1 })), {
    shape: [1, 2, 2, 1],
    values: [-5, -5, 5, 15],
  });
});

Deno.test("conv2d: channels follow NHWC input and HWIO filter order", () => {
  const { t, get, ref } = setup();
  // One pixel per image with channels [1,2] and [3,4]; 1x1 filter w[0,0,ci,co] = [[1,10],[100,1000]].
  // y[co] = Σ_ci x[ci]·w[ci][co]: [1+200, 10+2000] and [3+400, 30+4000].
  const x = t([1, 2, 3, 4], [2, 1, 1, 2]);
  const w = t([1, 10, 100, 1000], [1, 1, 2, 2]);
  assert.deepEqual(get(ref.conv2d(x, w, { stride: 1, pad: 0 })), {
    shape: [2, 1, 1, 2],
    values: [201, 2010, 403, 4030],
  });
});

Deno.test("conv2d gradients: stride 2 with a 1x1 filter skips odd rows and columns", () => {
  const { t, get, ref } = setup();
  // x 3x3 = 1..9, w = [5], stride 2: outputs read x(0,0), x(0,2), x(2,0), x(2,2).
  const geometry = { stride: 2, pad: 0 };
  const dy = t([1, 2, 3, 4], [1, 2, 2, 1]);
  const w = t([5], [1, 1, 1, 1]);
  // dx = 5·dy at the four read positions, exactly 0 elsewhere.
  assert.deepEqual(get(ref.conv2dGradInput(dy, w, [1, 3, 3, 1], geometry)), {
    shape: [1, 3, 3, 1],
    values: [5, 0, 10, 0, 0, 0, 15, 0, 20],
  });
  // dw = Σ x(read)·dy = 1·1 + 3·2 + 7·3 + 9·4 = 64.
  const x = t([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
  assert.deepEqual(get(ref.conv2dGradFilter(x, dy, [1, 1, 1, 1], geometry)), {
    shape: [1, 1, 1, 1],
    values: [64],
  });
});

Deno.test("maxPool and maxPoolGrad: ties go to the first maximum in row-major window order", () => {
  const { t, get, ref } = setup();
  // x = [[1,3,3,2],[3,0,2,3]], 2x2 windows stride 2:
  // window 0 = [1,3;3,0]: max 3, first at (0,1); window 1 = [3,2;2,3]: max 3, first at (0,2).
  const x = t([1, 3, 3, 2, 3, 0, 2, 3], [1, 2, 4, 1]);
  const geometry = { size: 2, stride: 2 };
  const y = ref.maxPool(x, geometry);
  assert.deepEqual(get(y), { shape: [1, 1, 2, 1], values: [3, 3] });
  const dy = t([10, 20], [1, 1, 2, 1]);
  assert.deepEqual(get(ref.maxPoolGrad(dy, x, geometry)), {
    shape: [1, 2, 4, 1],
    values: [0, 10, 20, 0, 0, 0, 0, 0],
  });
});

Deno.test("maxPool: channels pool independently; overlapping windows add their gradients", () => {
  const { t, get, ref } = setup();
  // 1x3x3, two channels: channel 0 = 0..8 (max at the window's bottom-right), channel 1 = 8..0
  // (max at its top-left). Windows 2x2 stride 1 → 2x2 outputs.
  const values: number[] = [];
  for (let i = 0; i < 9; i++) values.push(i, 8 - i);
  const x = t(values, [1, 3, 3, 2]);
  const geometry = { size: 2, stride: 1 };
  const y = ref.maxPool(x, geometry);
  // channel 0 maxima: 4,5,7,8; channel 1 maxima: 8,7,5,4.
  assert.deepEqual(get(y), { shape: [1, 2, 2, 2], values: [4, 8, 5, 7, 7, 5, 8, 4] });
  // All-ones dy: channel 0 sends 1 each to (1,1),(1,2),(2,1),(2,2); channel 1 to (0,0),(0,1),
  // (1,0),(1,1).
  const dy = t(new Array(8).fill(1), [1, 2, 2, 2]);
  const dx = get(ref.maxPoolGrad(dy, x, geometry)).values;
  assert.deepEqual(dx.filter((_, i) => i % 2 === 0), [0, 0, 0, 0, 1, 1, 0, 1, 1]);
  assert.deepEqual(dx.filter((_, i) => i % 2 === 1), [1, 1, 0, 1, 1, 0, 0, 0, 0]);

  // Overlap: a 3x3 image whose maximum is the centre, 2x2 windows stride 1: all four windows
  // contain the centre, so it collects 1+2+3+4 = 10.
  const centre = t([0, 0, 0, 0, 9, 0, 0, 0, 0], [1, 3, 3, 1]);
  const dyc = t([1, 2, 3, 4], [1, 2, 2, 1]);
  assert.deepEqual(get(ref.maxPoolGrad(dyc, centre, geometry)).values, [
    0,
    0,
    0,
    0,
    10,
    0,
    0,
    0,
    0,
  ]);
});

Deno.test("unary kernels, rounded to float32", () => {
  const { t, get, ref } = setup();
  const x = t([-1, 0, 2], [3]);
  assert.deepEqual(get(ref.unary("neg", x)).values, [1, -0, -2]);
  assert.deepEqual(get(ref.unary("relu", x)).values, [0, 0, 2]);
  assert.deepEqual(get(ref.unary("step", x)).values, [0, 0, 1]);
  assert.deepEqual(
    get(ref.unary("exp", x)).values,
    [Math.exp(-1), 1, Math.exp(2)].map(Math.fround),
  );
  const p = t([1, 4, 2], [3]);
  assert.deepEqual(get(ref.unary("log", p)).values, [0, Math.log(4), Math.log(2)].map(Math.fround));
  assert.deepEqual(get(ref.unary("sqrt", p)).values, [1, 2, Math.SQRT2].map(Math.fround));
  // NaN propagates through relu and step, as in TF.js.
  const nan = t([NaN], [1]);
  assert.deepEqual(get(ref.unary("relu", nan)).values, [NaN]);
  assert.deepEqual(get(ref.unary("step", nan)).values, [NaN]);
});

Deno.test("binary kernels broadcast [2,1,3] with [3] by NumPy rules", () => {
  const { t, get, ref } = setup();
  // a = [[[1,2,3]],[[4,5,6]]], b = [10,20,30] → [[[11,22,33]],[[14,25,36]]].
  const a = t([1, 2, 3, 4, 5, 6], [2, 1, 3]);
  const b = t([10, 20, 30], [3]);
  assert.deepEqual(get(ref.binary("add", a, b)), {
    shape: [2, 1, 3],
    values: [11, 22, 33, 14, 25, 36],
  });
  assert.deepEqual(get(ref.binary("sub", b, a)), {
    shape: [2, 1, 3],
    values: [9, 18, 27, 6, 15, 24],
  });
});

Deno.test("binary kernels broadcast both sides: [2,1,3] op [4,1] → [2,4,3]", () => {
  const { t, get, ref } = setup();
  const aValues = [1, 2, 3, 4, 5, 6];
  const bValues = [2, 4, 8, 16];
  const a = t(aValues, [2, 1, 3]);
  const b = t(bValues, [4, 1]);
  const ops = {
    add: (u: number, v: number) => u + v,
    sub: (u: number, v: number) => u - v,
    mul: (u: number, v: number) => u * v,
    div: (u: number, v: number) => u / v,
  };
  for (const [op, f] of Object.entries(ops)) {
    // out[i,j,k] = a[i,0,k] op b[j,0].
    const expected: number[] = [];
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 4; j++) {
        for (let k = 0; k < 3; k++) expected.push(Math.fround(f(aValues[i * 3 + k], bValues[j])));
      }
    }
    const out = get(ref.binary(op as keyof typeof ops, a, b));
    assert.deepEqual(out, { shape: [2, 4, 3], values: expected }, op);
  }
});

Deno.test("binary div rounds the exact quotient to float32", () => {
  const { t, get, ref } = setup();
  assert.deepEqual(get(ref.binary("div", t([1, 2], [2]), t([3], [1]))).values, [
    Math.fround(1 / 3),
    Math.fround(2 / 3),
  ]);
});

Deno.test("reduce sum and max over several axes, with and without keepDims", () => {
  const { t, get, ref } = setup();
  // x[i,j,k] = 12i + 4j + k on [2,3,4].
  const x = t(Array.from({ length: 24 }, (_, i) => i), [2, 3, 4]);
  // Σ_{i,k} (12i + 4j + k) = 4·12 + 2·4·4j + 2·6 = 60 + 32j.
  assert.deepEqual(get(ref.reduce("sum", x, [0, 2], false)), { shape: [3], values: [60, 92, 124] });
  assert.deepEqual(get(ref.reduce("sum", x, [0, 2], true)), {
    shape: [1, 3, 1],
    values: [60, 92, 124],
  });
  // max over j,k is at j=2,k=3: 12i + 11.
  assert.deepEqual(get(ref.reduce("max", x, [1, 2], false)), { shape: [2], values: [11, 23] });
  assert.deepEqual(get(ref.reduce("max", x, [0], true)).shape, [1, 3, 4]);
  assert.deepEqual(
    get(ref.reduce("max", x, [0], false)).values,
    Array.from({ length: 12 }, (_, i) => i + 12),
  );
  // All axes → a scalar: 0 + 1 + … + 23 = 276.
  assert.deepEqual(get(ref.reduce("sum", x, [0, 1, 2], false)), { shape: [], values: [276] });
  // No axes → unchanged.
  assert.deepEqual(
    get(ref.reduce("sum", x, [], false)).values,
    Array.from({ length: 24 }, (_, i) => i),
  );
});

Deno.test("reduce sum accumulates in float64", () => {
  const { t, get, ref } = setup();
  // See the matMul case: a float32 running sum would return 2^24.
  assert.deepEqual(get(ref.reduce("sum", t([2 ** 24, 1, 1], [3]), [0], false)).values, [
    2 ** 24 + 2,
  ]);
});

Deno.test("broadcastTo repeats size-1 and missing leading axes", () => {
  const { t, get, ref } = setup();
  assert.deepEqual(get(ref.broadcastTo(t([1, 2, 3], [3]), [2, 3])).values, [1, 2, 3, 1, 2, 3]);
  assert.deepEqual(get(ref.broadcastTo(t([1, 2], [2, 1]), [2, 3])).values, [1, 1, 1, 2, 2, 2]);
  assert.deepEqual(get(ref.broadcastTo(t([7], []), [2, 2])), {
    shape: [2, 2],
    values: [7, 7, 7, 7],
  });
});

Deno.test("reshape keeps row-major order", () => {
  const { t, get, ref } = setup();
  assert.deepEqual(get(ref.reshape(t([1, 2, 3, 4, 5, 6], [2, 3]), [3, 1, 2])), {
    shape: [3, 1, 2],
    values: [1, 2, 3, 4, 5, 6],
  });
});

Deno.test("concat joins along the given axis", () => {
  const { t, get, ref } = setup();
  const a = t([1, 2], [2, 1]);
  const b = t([3, 4, 5, 6], [2, 2]);
  assert.deepEqual(get(ref.concat([a, b], 1)), { shape: [2, 3], values: [1, 3, 4, 2, 5, 6] });
  assert.deepEqual(get(ref.concat([b, t([7, 8], [1, 2])], 0)), {
    shape: [3, 2],
    values: [3, 4, 5, 6, 7, 8],
  });
});

Deno.test("slice takes the block begin..begin+size", () => {
  const { t, get, ref } = setup();
  // [3,4] with x[r,c] = 4r + c; rows 1..2, cols 1..3.
  const x = t(Array.from({ length: 12 }, (_, i) => i), [3, 4]);
  assert.deepEqual(get(ref.slice(x, [1, 1], [2, 3])), {
    shape: [2, 3],
    values: [5, 6, 7, 9, 10, 11],
  });
  assert.deepEqual(get(ref.slice(x, [2, 0], [1, 0])), { shape: [1, 0], values: [] });
});

Deno.test("pad adds zeros before and after each axis", () => {
  const { t, get, ref } = setup();
  assert.deepEqual(get(ref.pad(t([1, 2, 3, 4], [2, 2]), [[1, 0], [0, 2]])), {
    shape: [3, 4],
    values: [0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0],
  });
});

// Batch norm by hand, x [4 rows, 2 channels], eps = 1, gamma = [2, 3], beta = [1, −1]:
// channel 0 holds 13, 9, 9, 9: mean 10, biased variance (9+1+1+1)/4 = 3, invStd = 1/√(3+1) = 1/2,
// x̂ = 1.5, −.5, −.5, −.5 and y = 2·x̂ + 1 = 4, 0, 0, 0. Channel 1 is constant 5: variance 0, so
// only eps keeps invStd = 1 finite, x̂ = 0 and y = beta = −1.
// Backward with dy channel 0 = 2, 0, 1, −1 and channel 1 = 1, 2, 3, 4:
// channel 0: dBeta = 2, dGamma = 3 + 0 − .5 + .5 = 3, dx = 2·(1/2)/4·(4·dy − 2 − 3·x̂)
//   = .25·(1.5, −.5, 3.5, −4.5) = .375, −.125, .875, −1.125;
// channel 1: dBeta = 10, dGamma = 0, dx = 3·1/4·(4·dy − 10) = −4.5, −1.5, 1.5, 4.5.
const BN_X = [13, 5, 9, 5, 9, 5, 9, 5];
const BN_DY = [2, 1, 0, 2, 1, 3, -1, 4];

Deno.test("batchNorm and batchNormGrad: worked by hand, any leading axes", () => {
  const { t, get, ref } = setup();
  const gamma = t([2, 3], [2]), beta = t([1, -1], [2]);
  // The same values as [4,2] and as NHWC [1,2,2,2]: statistics run over every axis but the last.
  for (const shape of [[4, 2], [1, 2, 2, 2]]) {
    const x = t(BN_X, shape);
    const { y, mean, variance } = ref.batchNorm(x, gamma, beta, 1);
    assert.deepEqual(get(y), { shape, values: [4, -1, 0, -1, 0, -1, 0, -1] });
    assert.deepEqual(get(mean), { shape: [2], values: [10, 5] });
    assert.deepEqual(get(variance), { shape: [2], values: [3, 0] });
    const { dx, dGamma, dBeta } = ref.batchNormGrad(t(BN_DY, shape), x, mean, variance, gamma, 1);
    assert.deepEqual(get(dx), {
      shape,
      values: [0.375, -4.5, -0.125, -1.5, 0.875, 1.5, -1.125, 4.5],
    });
    assert.deepEqual(get(dGamma), { shape: [2], values: [3, 0] });
    assert.deepEqual(get(dBeta), { shape: [2], values: [2, 10] });
  }
  assert.throws(
    () => ref.batchNorm(t(BN_X, [4, 2]), t([1, 1, 1], [3]), beta, 1),
    /ref backend batchNorm: gamma \[3\] should be \[2\]/,
  );
  assert.throws(() => ref.batchNorm(t(BN_X, [4, 2]), gamma, beta, -1), /eps -1 must be/);
  assert.throws(
    () => ref.batchNormGrad(t([1, 2], [2]), t(BN_X, [4, 2]), gamma, gamma, gamma, 1),
    /dy \[2\] should have the shape of x \[4,2\]/,
  );
});

Deno.test("batchNorm variance is free of cancellation for a large mean", () => {
  const { t, get, ref } = setup();
  // 1e4 + (−1, 1, −1, 1): variance exactly 1. E[x²] − E[x]² in float32 would lose it entirely
  // (1e8 carries only ~7 digits).
  const x = t([1e4 - 1, 1e4 + 1, 1e4 - 1, 1e4 + 1], [4, 1]);
  const { y, mean, variance } = ref.batchNorm(x, t([1], [1]), t([0], [1]), 0);
  assert.deepEqual(get(mean).values, [1e4]);
  assert.deepEqual(get(variance).values, [1]);
  assert.deepEqual(get(y).values, [-1, 1, -1, 1]);
});
