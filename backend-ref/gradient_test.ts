// Finite-difference checks of the backward kernels. For a forward kernel y = F(x) and a fixed
// random R, the scalar objective f(x) = Σ F(x) · R (summed in float64 from the float32 outputs)
// has gradient dF/dx applied to R, which is what the backward kernel computes given dy = R.
// numericalGradient approximates it by central differences.
//
// Tolerance: ‖analytic − numeric‖∞ ≤ 1e-3 · ‖numeric‖∞ (relative error 1e-3). Convolution is
// linear, so central differences are exact up to rounding; the remaining error is the float32
// rounding of the forward outputs (~1e-7 relative) divided by the step, hence the large step
// eps = 0.1. Max pool is piecewise linear; inputs are distinct with gaps of 0.1, so a step of
// 0.01 never changes which element is a window's maximum.

import assert from "node:assert/strict";
import { type DeviceTensor, outSize, Rng, type Shape, sizeOf } from "@simclr/core";
import { createRefBackend, type RefBackend } from "./mod.ts";
import { numericalGradient } from "./numerical_gradient.ts";

const TOLERANCE = 1e-3;

/** ‖analytic − numeric‖∞ / ‖numeric‖∞. */
function relativeError(analytic: Float32Array, numeric: Float64Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < numeric.length; i++) {
    diff = Math.max(diff, Math.abs(analytic[i] - numeric[i]));
    scale = Math.max(scale, Math.abs(numeric[i]));
  }
  assert.ok(scale > 0, "numeric gradient is all zeros; the check would be vacuous");
  return diff / scale;
}

function randomArray(rng: Rng, n: number, draw: (rng: Rng) => number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = draw(rng);
  return a;
}

/** Σ out · r in float64, reading `out` and disposing it. */
function dotAndDispose(ref: RefBackend, out: DeviceTensor, r: Float64Array): number {
  const values = ref.readSync(out);
  ref.dispose(out);
  assert.equal(values.length, r.length);
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] * r[i];
  return sum;
}

interface ConvCase {
  batch: number;
  height: number;
  width: number;
  inC: number;
  outC: number;
  kH: number;
  kW: number;
  stride: number;
  pad: number;
}

const CONV_CASES: ConvCase[] = [
  { batch: 2, height: 5, width: 7, inC: 3, outC: 4, kH: 3, kW: 3, stride: 1, pad: 1 },
  { batch: 2, height: 5, width: 7, inC: 2, outC: 3, kH: 3, kW: 3, stride: 2, pad: 0 },
  { batch: 2, height: 5, width: 7, inC: 2, outC: 3, kH: 3, kW: 3, stride: 2, pad: 1 },
  // 1x1 filter, stride 2: odd rows and columns are never read.
  { batch: 2, height: 5, width: 7, inC: 3, outC: 2, kH: 1, kW: 1, stride: 2, pad: 0 },
  { batch: 2, height: 5, width: 7, inC: 2, outC: 2, kH: 1, kW: 1, stride: 1, pad: 1 },
  // 3x3 stride 2 on 6x6 without padding: the last row and column are never read.
  { batch: 1, height: 6, width: 6, inC: 2, outC: 3, kH: 3, kW: 3, stride: 2, pad: 0 },
  // Non-square filter.
  { batch: 2, height: 5, width: 7, inC: 2, outC: 2, kH: 3, kW: 2, stride: 2, pad: 1 },
];

function describeCase(c: ConvCase): string {
  return `x [${c.batch},${c.height},${c.width},${c.inC}] w [${c.kH},${c.kW},${c.inC},${c.outC}] ` +
    `stride ${c.stride} pad ${c.pad}`;
}

/** How many input rows of `size` no window reads (counted independently of the kernels). */
function unreadCount(size: number, k: number, stride: number, pad: number): number {
  const read = new Set<number>();
  for (let o = 0; o < outSize(size, k, stride, pad); o++) {
    for (let t = 0; t < k; t++) {
      const i = o * stride - pad + t;
      if (i >= 0 && i < size) read.add(i);
    }
  }
  return size - read.size;
}

for (const c of CONV_CASES) {
  const geometry = { stride: c.stride, pad: c.pad };
  const xShape: Shape = [c.batch, c.height, c.width, c.inC];
  const wShape: Shape = [c.kH, c.kW, c.inC, c.outC];
  const yShape: Shape = [
    c.batch,
    outSize(c.height, c.kH, c.stride, c.pad),
    outSize(c.width, c.kW, c.stride, c.pad),
    c.outC,
  ];

  Deno.test(`conv2dGradInput matches finite differences: ${describeCase(c)}`, () => {
    const ref = createRefBackend();
    const rng = new Rng(1);
    const x = randomArray(rng, sizeOf(xShape), (r) => r.normal());
    const r = randomArray(rng, sizeOf(yShape), (g) => g.range(-1, 1));
    const w = ref.upload(
      Float32Array.from(randomArray(rng, sizeOf(wShape), (g) => g.normal())),
      wShape,
    );

    const objective = (xv: Float64Array) => {
      const xt = ref.upload(Float32Array.from(xv), xShape);
      const y = ref.conv2d(xt, w, geometry);
      ref.dispose(xt);
      return dotAndDispose(ref, y, r);
    };
    const numeric = numericalGradient(objective, x, 0.1);
    const dy = ref.upload(Float32Array.from(r), yShape);
    const dxTensor = ref.conv2dGradInput(dy, w, xShape, geometry);
    const analytic = ref.readSync(dxTensor);
    assert.deepEqual(dxTensor.shape, xShape);

    const err = relativeError(analytic, numeric);
    assert.ok(err <= TOLERANCE, `relative error ${err} > ${TOLERANCE}`);

    // Pixels no window reads: the numeric gradient is exactly 0 there (f does not change at
    // all), and the analytic one must be exactly 0 too, no more and no fewer of them.
    const unreadH = unreadCount(c.height, c.kH, c.stride, c.pad);
    const unreadW = unreadCount(c.width, c.kW, c.stride, c.pad);
    const expectedUnread = c.batch * c.inC *
      (c.height * c.width - (c.height - unreadH) * (c.width - unreadW));
    let numericZeros = 0;
    for (let i = 0; i < numeric.length; i++) {
      if (numeric[i] === 0) {
        numericZeros++;
        assert.equal(analytic[i], 0, `input element ${i} is never read but got gradient`);
      }
    }
    assert.equal(numericZeros, expectedUnread);

    for (const t of [w, dy, dxTensor]) ref.dispose(t);
    assert.equal(ref.liveTensors(), 0);
  });

  Deno.test(`conv2dGradFilter matches finite differences: ${describeCase(c)}`, () => {
    const ref = createRefBackend();
    const rng = new Rng(2);
    const w = randomArray(rng, sizeOf(wShape), (g) => g.normal());
    const r = randomArray(rng, sizeOf(yShape), (g) => g.range(-1, 1));
    const x = ref.upload(
      Float32Array.from(randomArray(rng, sizeOf(xShape), (g) => g.normal())),
      xShape,
    );

    const objective = (wv: Float64Array) => {
      const wt = ref.upload(Float32Array.from(wv), wShape);
      const y = ref.conv2d(x, wt, geometry);
      ref.dispose(wt);
      return dotAndDispose(ref, y, r);
    };
    const numeric = numericalGradient(objective, w, 0.1);
    const dy = ref.upload(Float32Array.from(r), yShape);
    const dwTensor = ref.conv2dGradFilter(x, dy, wShape, geometry);
    assert.deepEqual(dwTensor.shape, wShape);

    const err = relativeError(ref.readSync(dwTensor), numeric);
    assert.ok(err <= TOLERANCE, `relative error ${err} > ${TOLERANCE}`);

    for (const t of [x, dy, dwTensor]) ref.dispose(t);
    assert.equal(ref.liveTensors(), 0);
  });
}

const POOL_CASES = [
  // 5x7 with 2x2 stride 2: the last row and column fall in no window.
  { xShape: [2, 5, 7, 3], size: 2, stride: 2 },
  // 3x3 stride 2: windows overlap, so a shared maximum collects two or more gradients.
  { xShape: [2, 7, 7, 2], size: 3, stride: 2 },
  { xShape: [1, 6, 5, 2], size: 3, stride: 1 },
];

for (const { xShape, size, stride } of POOL_CASES) {
  Deno.test(`maxPoolGrad matches finite differences: x [${xShape}] size ${size} stride ${stride}`, () => {
    const ref = createRefBackend();
    const rng = new Rng(3);
    const geometry = { size, stride };
    const n = sizeOf(xShape);
    // Distinct values 0.1 apart in random order, so no window has a tie.
    const order = rng.permutation(n);
    const x = new Float64Array(n);
    for (let i = 0; i < n; i++) x[i] = (order[i] - n / 2) * 0.1;

    const yShape = [
      xShape[0],
      outSize(xShape[1], size, stride),
      outSize(xShape[2], size, stride),
      xShape[3],
    ];
    const r = randomArray(rng, sizeOf(yShape), (g) => g.range(-1, 1));
    const objective = (xv: Float64Array) => {
      const xt = ref.upload(Float32Array.from(xv), xShape);
      const y = ref.maxPool(xt, geometry);
      ref.dispose(xt);
      return dotAndDispose(ref, y, r);
    };
    const numeric = numericalGradient(objective, x, 0.01);

    const xt = ref.upload(Float32Array.from(x), xShape);
    const dy = ref.upload(Float32Array.from(r), yShape);
    const dxTensor = ref.maxPoolGrad(dy, xt, geometry);
    const analytic = ref.readSync(dxTensor);
    const err = relativeError(analytic, numeric);
    assert.ok(err <= TOLERANCE, `relative error ${err} > ${TOLERANCE}`);
    // Each window sends its dy to exactly one element, so the gradient sums to Σ dy.
    const total = analytic.reduce((s, v) => s + v, 0);
    const expected = r.reduce((s, v) => s + Math.fround(v), 0);
    assert.ok(Math.abs(total - expected) <= 1e-5 * r.length, `Σ dx ${total} ≠ Σ dy ${expected}`);

    for (const t of [xt, dy, dxTensor]) ref.dispose(t);
    assert.equal(ref.liveTensors(), 0);
  });
}

Deno.test("numericalGradient is exact on a quadratic and leaves its input alone", () => {
  // f(x) = Σ (i+1)·x_i² has gradient 2(i+1)·x_i; central differences are exact on quadratics
  // up to float64 rounding (~1e-10 here).
  const x = new Float64Array([0.5, -1.25, 2]);
  const before = x.slice();
  const g = numericalGradient((v) => v.reduce((s, xi, i) => s + (i + 1) * xi * xi, 0), x);
  const expected = [1, -5, 12];
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(g[i] - expected[i]) < 1e-8, `g[${i}] = ${g[i]}`);
  assert.deepEqual(x, before);
  assert.throws(() => numericalGradient(() => 0, x, 0), /eps must be a positive finite number/);
});
