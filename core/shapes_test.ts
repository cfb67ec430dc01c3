import * as assert from "node:assert/strict";
import { broadcastSteps, kernelError, shapeRules, showShape, stridesOf } from "./shapes.ts";

Deno.test("shape helpers: showShape, stridesOf, broadcastSteps", () => {
  assert.equal(showShape([2, 3]), "[2,3]");
  assert.equal(showShape([]), "[]");
  assert.deepEqual(stridesOf([2, 3, 4]), [12, 4, 1]);
  assert.deepEqual(stridesOf([]), []);
  assert.deepEqual(broadcastSteps([3, 1], 3), [0, 1, 0]);
  assert.deepEqual(broadcastSteps([2, 3], 2), [3, 1]);
});

Deno.test("errors name the backend and the kernel", () => {
  assert.throws(() => kernelError("ref", "matMul", "bad"), /^Error: ref backend matMul: bad$/);
  const native = shapeRules("native", { maxRank: 4 });
  assert.throws(
    () => native.checkShape("upload", "shape", [1, 1, 1, 1, 1]),
    /^Error: native backend upload: shape \[1,1,1,1,1\] has rank > 4$/,
  );
  assert.throws(
    () => native.broadcastShape("binary add", [1, 1, 1, 1, 2], [2]),
    /native backend binary add: rank 5 exceeds 4/,
  );
  // Without maxRank any rank passes.
  shapeRules("ref").checkShape("upload", "shape", new Array(20).fill(1));
});

Deno.test("every backend refuses the same input with the same message", () => {
  const ref = shapeRules("ref");
  const other = shapeRules("other");
  const calls: ((r: typeof ref) => unknown)[] = [
    (r) => r.convDims("conv2d", [1, 4, 4, 3], [3, 3, 2, 8], { stride: 1, pad: 0 }),
    (r) => r.poolDims("maxPool", [1, 1, 4, 1], { size: 2, stride: 2 }),
    (r) => r.concatShape([[2, 3], [3, 3]], 1),
    (r) => r.reducedShape("reduce sum", [2, 3], [1, 0], false),
  ];
  for (const call of calls) {
    const message = (r: typeof ref) => {
      try {
        call(r);
      } catch (e) {
        return (e as Error).message.replace(/^\w+ backend /, "");
      }
      throw new Error("no error");
    };
    assert.equal(message(ref), message(other));
  }
});

Deno.test("rules return the kernel's output shape", () => {
  const r = shapeRules("ref");
  const conv = r.convDims("conv2d", [2, 5, 5, 3], [3, 3, 3, 4], { stride: 2, pad: 1 });
  assert.deepEqual(conv.outShape, [2, 3, 3, 4]);
  assert.equal(conv.kH, 3);
  const pool = r.poolDims("maxPool", [1, 5, 4, 3], { size: 2, stride: 2 });
  assert.deepEqual(pool.outShape, [1, 2, 2, 3]);
  assert.deepEqual(r.matMulDims([3, 2], [3, 5], true, false), { m: 2, n: 5, k: 3 });
  assert.deepEqual(r.concatShape([[2, 3], [2, 1]], 1), [2, 4]);
  assert.deepEqual(r.paddedShape([2, 3], [[1, 2], [0, 3]]), [5, 6]);
  assert.deepEqual(r.reducedShape("reduce max", [2, 3, 4], [0, 2], true), [1, 3, 1]);
  assert.deepEqual(r.reducedShape("reduce sum", [2, 3, 4], [1], false), [2, 4]);
  assert.deepEqual(r.broadcastShape("binary mul", [2, 1, 3], [4, 1]), [2, 4, 3]);
});
