// Tensor lifetime (copies, dispose, live counts) and the error messages of bad input.

import assert from "node:assert/strict";
import { createRefBackend } from "./mod.ts";

Deno.test("upload and read copy their data", async () => {
  const ref = createRefBackend();
  const source = new Float32Array([1, 2, 3]);
  const x = ref.upload(source, [3]);
  source[0] = 99; // the caller reuses its array
  const first = await ref.read(x);
  assert.deepEqual(Array.from(first), [1, 2, 3]);
  first[1] = 99; // the caller scribbles on what it read
  assert.deepEqual(Array.from(await ref.read(x)), [1, 2, 3]);
  assert.deepEqual(x.shape, [3]);
});

Deno.test("liveTensors counts uploads and kernel outputs until disposed", () => {
  const ref = createRefBackend();
  assert.deepEqual(ref.liveTensors(), 0);
  const a = ref.upload(new Float32Array([1, 2]), [2]);
  const b = ref.unary("exp", a);
  const c = ref.reshape(b, [1, 2]);
  assert.deepEqual(ref.liveTensors(), 3);
  ref.dispose(b);
  // reshape returned its own copy, so c outlives b.
  assert.deepEqual(Array.from(ref.readSync(c)), [Math.exp(1), Math.exp(2)].map(Math.fround));
  ref.dispose(a);
  ref.dispose(c);
  assert.deepEqual(ref.liveTensors(), 0);
  ref.dispose(c); // a second dispose is ignored and does not count twice
  assert.deepEqual(ref.liveTensors(), 0);
  // Each backend counts only its own tensors.
  assert.deepEqual(createRefBackend().liveTensors(), 0);
});

Deno.test("using a disposed tensor throws naming the kernel, argument and shape", async () => {
  const ref = createRefBackend();
  const a = ref.upload(new Float32Array(6), [2, 3]);
  const b = ref.upload(new Float32Array(6), [3, 2]);
  ref.dispose(b);
  assert.throws(
    () => ref.matMul(a, b, false, false),
    /ref backend matMul: argument b \(shape \[3,2\]\) was used after dispose/,
  );
  assert.throws(() => ref.readSync(b), /used after dispose/);
  await assert.rejects(ref.read(b), /ref backend read: argument x .* used after dispose/);
  assert.throws(() => ref.concat([a, b], 0), /concat: argument xs\[1\].*used after dispose/);
});

Deno.test("a tensor from another backend instance is rejected", () => {
  const ref = createRefBackend();
  const other = createRefBackend().upload(new Float32Array(1), [1]);
  assert.throws(
    () => ref.unary("neg", other),
    /unary neg: argument x is not a tensor of this ref backend/,
  );
  assert.throws(() => ref.dispose(other), /not a tensor of this ref backend/);
});

Deno.test("shape errors name the kernel and the shapes involved", () => {
  const ref = createRefBackend();
  const t = (shape: number[]) =>
    ref.upload(new Float32Array(shape.reduce((p, d) => p * d, 1)), shape);
  assert.throws(
    () => ref.upload(new Float32Array(5), [2, 3]),
    /upload: data has 5 elements but shape \[2,3\] needs 6/,
  );
  assert.throws(() => ref.upload(new Float32Array(0), [-1]), /upload: shape \[-1\]/);
  assert.throws(
    () => ref.matMul(t([2, 3]), t([4, 5]), false, false),
    /matMul: inner dimensions 3 and 4 differ: a \[2,3\] \(transposeA=false\) · b \[4,5\]/,
  );
  assert.throws(
    () => ref.matMul(t([2, 3]), t([2, 5]), false, true),
    /matMul: inner dimensions 3 and 5 differ: a \[2,3\] \(transposeA=false\) · b \[2,5\] \(transposeB=true\)/,
  );
  assert.throws(
    () => ref.matMul(t([2, 3, 1]), t([3, 2]), false, false),
    /matMul: needs 2-D tensors, got a \[2,3,1\]/,
  );
  assert.throws(
    () => ref.conv2d(t([1, 4, 4, 3]), t([3, 3, 2, 8]), { stride: 1, pad: 0 }),
    /conv2d: input \[1,4,4,3\] has 3 channels but filter \[3,3,2,8\] expects 2/,
  );
  assert.throws(
    () => ref.conv2d(t([1, 2, 2, 1]), t([3, 3, 1, 1]), { stride: 1, pad: 0 }),
    /conv2d: filter \[3,3,1,1\] with pad 0 does not fit input \[1,2,2,1\]/,
  );
  assert.throws(
    () =>
      ref.conv2dGradInput(t([1, 3, 3, 2]), t([3, 3, 1, 2]), [1, 4, 4, 1], { stride: 1, pad: 0 }),
    /conv2dGradInput: dy \[1,3,3,2\] should be the output shape \[1,2,2,2\]/,
  );
  assert.throws(
    () => ref.conv2d(t([1, 4, 4, 1]), t([1, 1, 1, 1]), { stride: 0, pad: 0 }),
    /stride 0 must be a positive integer/,
  );
  assert.throws(
    () => ref.maxPoolGrad(t([1, 1, 1, 1]), t([1, 4, 4, 1]), { size: 2, stride: 2 }),
    /maxPoolGrad: dy \[1,1,1,1\] should be the output shape \[1,2,2,1\]/,
  );
  assert.throws(
    () => ref.binary("add", t([2, 3]), t([2])),
    /binary add: shapes \[2,3\] and \[2\] do not broadcast/,
  );
  assert.throws(() => ref.broadcastTo(t([2]), [3]), /broadcastTo: cannot broadcast \[2\] to \[3\]/);
  assert.throws(
    () => ref.reduce("sum", t([2, 3]), [1, 0], false),
    /reduce sum: axes \[1,0\] must be sorted/,
  );
  assert.throws(
    () => ref.reduce("max", t([2, 3]), [2], false),
    /reduce max: axis 2 is out of range for rank 2/,
  );
  assert.throws(
    () => ref.reshape(t([2, 3]), [4, 2]),
    /reshape: cannot reshape \[2,3\] \(6 elements\) to \[4,2\] \(8 elements\)/,
  );
  assert.throws(
    () => ref.concat([t([2, 3]), t([3, 3])], 1),
    /concat: shapes \[2,3\], \[3,3\] differ off axis 1/,
  );
  assert.throws(
    () => ref.slice(t([2, 3]), [1, 1], [2, 1]),
    /slice: begin \[1,1\] size \[2,1\] falls outside \[2,3\] on axis 0/,
  );
  assert.throws(() => ref.pad(t([2, 3]), [[1, 1]]), /pad: got 1 paddings for rank-2 \[2,3\]/);
});
