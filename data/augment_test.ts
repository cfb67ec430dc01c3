import assert from "node:assert/strict";
import { Rng } from "@simclr/core";
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  CIFAR10_MEAN,
  CIFAR10_STD,
  colorJitter,
  DEFAULT_AUGMENT_CONFIG,
  flipHorizontal,
  makeViews,
  normalize,
  randomFlip,
  randomGrayscale,
  resizedCrop,
  resolveAugmentConfig,
  sampleCropBox,
  simclrAugment,
  toGrayscale,
} from "./augment.ts";

const N = 32 * 32 * 3;

function randomImage(rng: Rng, floats = N): Float32Array {
  const img = new Float32Array(floats);
  for (let i = 0; i < img.length; i++) img[i] = rng.uniform();
  return img;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function pixel(img: Float32Array, y: number, x: number, width = 32): number[] {
  const o = (y * width + x) * 3;
  return [img[o], img[o + 1], img[o + 2]];
}

Deno.test("flipHorizontal mirrors columns; twice is the identity; randomFlip honours p", () => {
  const img = randomImage(new Rng(1));
  const flipped = img.slice();
  flipHorizontal(flipped);
  for (const [y, x] of [[0, 0], [3, 7], [31, 31], [16, 15]]) {
    assert.deepEqual(pixel(flipped, y, x), pixel(img, y, 31 - x));
  }
  flipHorizontal(flipped);
  assert.deepEqual(flipped, img);
  const rng = new Rng(2);
  const a = img.slice();
  assert.equal(randomFlip(a, rng, 1), true);
  assert.deepEqual(pixel(a, 4, 0), pixel(img, 4, 31));
  const b = img.slice();
  assert.equal(randomFlip(b, rng, 0), false);
  assert.deepEqual(b, img);
  let flips = 0;
  for (let i = 0; i < 4000; i++) if (randomFlip(new Float32Array(6), rng, 0.5, 2)) flips++;
  assert.ok(Math.abs(flips / 4000 - 0.5) < 0.04, `flip rate ${flips / 4000}`);
});

Deno.test("toGrayscale uses 0.299/0.587/0.114; randomGrayscale fires at rate p", () => {
  const img = new Float32Array([0.2, 0.5, 0.9, 1, 0, 0]);
  toGrayscale(img);
  const g = 0.299 * 0.2 + 0.587 * 0.5 + 0.114 * 0.9;
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(img[c] - g) < 1e-6);
  for (let c = 3; c < 6; c++) assert.ok(Math.abs(img[c] - 0.299) < 1e-6);
  const rng = new Rng(3);
  let hits = 0;
  for (let i = 0; i < 5000; i++) if (randomGrayscale(new Float32Array(3), rng, 0.2)) hits++;
  assert.ok(Math.abs(hits / 5000 - 0.2) < 0.03, `grayscale rate ${hits / 5000}`);
});

Deno.test("sampleCropBox: boxes inside the image, area and ratio within bounds up to rounding", () => {
  const rng = new Rng(4);
  const [s0, s1] = DEFAULT_AUGMENT_CONFIG.cropScale;
  const [r0, r1] = DEFAULT_AUGMENT_CONFIG.cropRatio;
  let smallest = Infinity;
  let largest = 0;
  let sumArea = 0;
  const trials = 20000;
  const tops = new Set<number>();
  for (let i = 0; i < trials; i++) {
    const b = sampleCropBox(rng, 32, 32);
    assert.ok(b.top >= 0 && b.left >= 0 && b.height >= 1 && b.width >= 1, JSON.stringify(b));
    assert.ok(b.top + b.height <= 32 && b.left + b.width <= 32, JSON.stringify(b));
    // w = round(sqrt(A r)), h = round(sqrt(A / r)): each off by at most 0.5 from the real value.
    assert.ok((b.width + 0.5) * (b.height + 0.5) >= s0 * 1024, JSON.stringify(b));
    assert.ok((b.width - 0.5) * (b.height - 0.5) <= s1 * 1024, JSON.stringify(b));
    assert.ok((b.width + 0.5) / (b.height - 0.5) >= r0, JSON.stringify(b));
    assert.ok((b.width - 0.5) / (b.height + 0.5) <= r1, JSON.stringify(b));
    const area = (b.width * b.height) / 1024;
    smallest = Math.min(smallest, area);
    largest = Math.max(largest, area);
    sumArea += area;
    if (b.height === 10) tops.add(b.top);
  }
  assert.ok(smallest < 0.1 && largest > 0.95, `areas span ${smallest}..${largest}`);
  // Uniform area in [0.08, 1] has mean 0.54; large boxes with extreme ratios are rejected, so less.
  const mean = sumArea / trials;
  assert.ok(mean > 0.42 && mean < 0.56, `mean area ${mean}`);
  assert.equal(tops.size, 23, "every top offset 0..22 occurs for 10-row boxes");
});

Deno.test("sampleCropBox falls back to the centre crop clamped to the ratio bounds", () => {
  // Every attempt is too wide (ratio >= 2 at full area), so the fallback runs.
  const box = sampleCropBox(new Rng(5), 32, 32, [1, 1], [2, 3]);
  assert.deepEqual(box, { top: 8, left: 0, height: 16, width: 32 });
  const tall = sampleCropBox(new Rng(5), 32, 32, [1, 1], [0.25, 0.5]);
  assert.deepEqual(tall, { top: 0, left: 8, height: 32, width: 16 });
  const whole = sampleCropBox(new Rng(5), 10, 40, [1, 1], [1, 1]);
  assert.deepEqual(whole, { top: 0, left: 15, height: 10, width: 10 });
});

Deno.test("resizedCrop: bilinear, align_corners=False (PyTorch values); full box is identity", () => {
  // F.interpolate([[0,1],[2,3]], size=4, mode="bilinear", align_corners=False)
  const expected = [
    [0, 0.25, 0.75, 1],
    [0.5, 0.75, 1.25, 1.5],
    [1.5, 1.75, 2.25, 2.5],
    [2, 2.25, 2.75, 3],
  ];
  const src = new Float32Array(2 * 2 * 3);
  [0, 1, 2, 3].forEach((v, i) => src.fill(v, i * 3, i * 3 + 3));
  const dst = new Float32Array(4 * 4 * 3);
  resizedCrop(src, 2, { top: 0, left: 0, height: 2, width: 2 }, dst, 4, 4);
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 4; x++) {
      for (const v of pixel(dst, y, x, 4)) assert.ok(Math.abs(v - expected[y][x]) < 1e-6);
    }
  }
  // A crop of the bottom-right 2x2 of a 3x3 image indexes from the box origin.
  const big = new Float32Array(3 * 3 * 3);
  for (let p = 0; p < 9; p++) big.fill(p, p * 3, p * 3 + 3);
  resizedCrop(big, 3, { top: 1, left: 1, height: 2, width: 2 }, dst, 4, 4);
  assert.deepEqual(pixel(dst, 0, 0, 4), [4, 4, 4]);
  assert.deepEqual(pixel(dst, 3, 3, 4), [8, 8, 8]);
  const img = randomImage(new Rng(6));
  const out = new Float32Array(N);
  resizedCrop(img, 32, { top: 0, left: 0, height: 32, width: 32 }, out);
  assert.deepEqual(out, img);
  assert.throws(() => resizedCrop(img, 32, { top: 20, left: 0, height: 20, width: 5 }, out), /box/);
});

Deno.test("brightness, contrast, saturation: identities, limits and clamping", () => {
  const img = randomImage(new Rng(7));
  const same = img.slice();
  adjustBrightness(same, 1);
  assert.deepEqual(same, img);
  const half = img.slice();
  adjustBrightness(half, 0.5);
  assert.ok(Math.abs(half[10] - img[10] * 0.5) < 1e-7);
  const bright = img.slice();
  adjustBrightness(bright, 1.4);
  assert.ok(bright.every((v) => v >= 0 && v <= 1));
  assert.ok(Math.abs(bright[5] - Math.min(1, img[5] * 1.4)) < 1e-6);

  const flat = img.slice();
  adjustContrast(flat, 0);
  let grayMean = 0;
  for (let i = 0; i < N; i += 3) {
    grayMean += 0.299 * img[i] + 0.587 * img[i + 1] + 0.114 * img[i + 2];
  }
  grayMean /= N / 3;
  assert.ok(flat.every((v) => Math.abs(v - grayMean) < 1e-6), "contrast 0 gives the gray mean");
  const c1 = img.slice();
  adjustContrast(c1, 1);
  assert.ok(maxAbsDiff(c1, img) < 1e-6);

  const desat = img.slice();
  adjustSaturation(desat, 0);
  const gray = img.slice();
  toGrayscale(gray);
  assert.ok(maxAbsDiff(desat, gray) < 1e-6, "saturation 0 is grayscale");
  const s1 = img.slice();
  adjustSaturation(s1, 1);
  assert.ok(maxAbsDiff(s1, img) < 1e-6);
});

Deno.test("hue: shift 0 is identity, 1/3 turns red to green, -1/3 red to blue, grays stay", () => {
  const img = randomImage(new Rng(8));
  const same = img.slice();
  adjustHue(same, 0);
  assert.ok(maxAbsDiff(same, img) < 1e-6, `hue 0 changed values by ${maxAbsDiff(same, img)}`);
  const red = new Float32Array([1, 0, 0, 0.6, 0.1, 0.1]);
  adjustHue(red, 1 / 3);
  assert.ok(maxAbsDiff(red.subarray(0, 3), new Float32Array([0, 1, 0])) < 1e-6, `${red}`);
  // A darker, less saturated red keeps value and saturation: (0.1, 0.6, 0.1).
  assert.ok(maxAbsDiff(red.subarray(3), new Float32Array([0.1, 0.6, 0.1])) < 1e-6, `${red}`);
  const red2 = new Float32Array([1, 0, 0]);
  adjustHue(red2, -1 / 3);
  assert.ok(maxAbsDiff(red2, new Float32Array([0, 0, 1])) < 1e-6, `${red2}`);
  const grays = new Float32Array([0.3, 0.3, 0.3, 0, 0, 0, 1, 1, 1]);
  const g2 = grays.slice();
  adjustHue(g2, 0.25);
  assert.ok(maxAbsDiff(g2, grays) < 1e-7);
  assert.throws(() => adjustHue(img, 0.6), /hueFactor/);
});

Deno.test("colorJitter: factors in range, order a permutation, ops skipped at strength 0", () => {
  const rng = new Rng(9);
  const img = randomImage(rng);
  for (let i = 0; i < 500; i++) {
    const p = colorJitter(img.slice(), rng, DEFAULT_AUGMENT_CONFIG);
    assert.deepEqual([...p.order].sort(), [0, 1, 2, 3]);
    for (const k of ["brightness", "contrast", "saturation"] as const) {
      assert.ok(p[k] >= 0.6 && p[k] <= 1.4, `${k} ${p[k]}`);
    }
    assert.ok(Math.abs(p.hue) <= 0.1);
  }
  const off = { brightness: 0, contrast: 0, saturation: 0, hue: 0 };
  const copy = img.slice();
  const p = colorJitter(copy, rng, off);
  assert.deepEqual(copy, img);
  assert.equal(p.brightness, 1);
  assert.equal(p.hue, 0);
});

Deno.test("normalize uses the CIFAR-10 train mean and std", () => {
  const img = new Float32Array([...CIFAR10_MEAN, 1, 1, 1]);
  normalize(img);
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(img[c]) < 1e-6);
  assert.ok(Math.abs(img[3] - (1 - 125.27 / 255) / (62.57 / 255)) < 1e-5);
  assert.ok(Math.abs(img[5] - (1 - 113.86 / 255) / (66.48 / 255)) < 1e-5);
});

Deno.test("simclrAugment: deterministic per seed, output in range, config respected", () => {
  const src = randomImage(new Rng(10));
  const a = new Float32Array(N);
  const b = new Float32Array(N);
  simclrAugment(src, a, new Rng(42));
  simclrAugment(src, b, new Rng(42));
  assert.deepEqual(a, b);
  simclrAugment(src, b, new Rng(43));
  assert.ok(maxAbsDiff(a, b) > 0.1, "another seed gives another view");

  const raw = resolveAugmentConfig({ normalize: false });
  const lo = [0, 1, 2].map((c) => (0 - CIFAR10_MEAN[c]) / CIFAR10_STD[c]);
  const hi = [0, 1, 2].map((c) => (1 - CIFAR10_MEAN[c]) / CIFAR10_STD[c]);
  const rng = new Rng(11);
  for (let i = 0; i < 200; i++) {
    simclrAugment(src, a, rng, raw);
    assert.ok(a.every((v) => v >= 0 && v <= 1), "unnormalised output in [0, 1]");
    simclrAugment(src, b, rng);
    for (let j = 0; j < N; j++) {
      const c = j % 3;
      assert.ok(b[j] >= lo[c] - 1e-5 && b[j] <= hi[c] + 1e-5, `normalised value ${b[j]}`);
    }
  }
  // Grayscale always, nothing else random in colour: the three channels are equal.
  simclrAugment(src, a, rng, { grayscaleProb: 1, jitterProb: 0, normalize: false });
  for (let j = 0; j < N; j += 3) assert.ok(a[j] === a[j + 1] && a[j] === a[j + 2]);
  // No crop range, no flip, no colour: identity.
  simclrAugment(src, a, rng, {
    cropScale: [1, 1],
    cropRatio: [1, 1],
    flipProb: 0,
    jitterProb: 0,
    grayscaleProb: 0,
    normalize: false,
  });
  assert.deepEqual(a, src);
});

Deno.test("makeViews: deterministic for a seed, two different views, bad input rejected", () => {
  const rng = new Rng(12);
  const images = new Uint8Array(6 * 3072);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  const indices = new Int32Array([5, 0, 3, 3]);
  const v = makeViews(images, indices, 7);
  const w = makeViews(images, indices, 7);
  assert.deepEqual(v.view1, w.view1);
  assert.deepEqual(v.view2, w.view2);
  assert.equal(v.view1.length, 4 * 3072);
  assert.ok(maxAbsDiff(v.view1, v.view2) > 0.1);
  // Same image at two positions gets different views (per-position generators).
  assert.ok(maxAbsDiff(v.view1.subarray(2 * 3072, 3 * 3072), v.view1.subarray(3 * 3072)) > 0.1);
  const other = makeViews(images, indices, 8);
  assert.ok(maxAbsDiff(v.view1, other.view1) > 0.1);
  // With every random op off, a view is the normalised source image.
  const plain = makeViews(images, new Int32Array([2]), 1, {
    cropScale: [1, 1],
    cropRatio: [1, 1],
    flipProb: 0,
    jitterProb: 0,
    grayscaleProb: 0,
  });
  const expected = new Float32Array(3072);
  for (let i = 0; i < 3072; i++) expected[i] = images[2 * 3072 + i] / 255;
  normalize(expected);
  assert.ok(maxAbsDiff(plain.view1, expected) < 1e-6);
  assert.throws(() => makeViews(images, new Int32Array([6]), 1), /index 6 at batch position 0/);
  assert.throws(() => makeViews(images, indices, 1, { hue: 0.7 }), /hue/);
  assert.throws(() => resolveAugmentConfig({ cropScale: [0.5, 0.2] }), /cropScale/);
  assert.throws(() => resolveAugmentConfig({ flipProb: 2 }), /flipProb/);
});
