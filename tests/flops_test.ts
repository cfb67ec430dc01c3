// FLOP counting from the kernels a step runs (tests/flops.ts), checked against hand counts.
import assert from "node:assert/strict";
import { createRefBackend } from "@simclr/backend-ref";
import { createModel, DEFAULT_OPTIMIZER, Graph, Optimizer, Rng, trainStep } from "@simclr/core";
import { convGemm, countingBackend, matMulGemm } from "./flops.ts";

Deno.test("convGemm and matMulGemm give the im2col GEMM shapes and 2·M·N·K", () => {
  // 3×3 conv, 64 → 128 channels, stride 2, pad 1, on 8 images of 16×16: 8·8·8 output pixels.
  const g = { stride: 2, pad: 1 };
  assert.deepEqual(convGemm("conv2d", [8, 16, 16, 64], [3, 3, 64, 128], g), {
    m: 512,
    n: 128,
    k: 576,
    flops: 2 * 512 * 128 * 576,
  });
  assert.deepEqual(convGemm("conv2dGradInput", [8, 16, 16, 64], [3, 3, 64, 128], g).n, 576);
  assert.deepEqual(convGemm("conv2dGradFilter", [8, 16, 16, 64], [3, 3, 64, 128], g).k, 512);
  assert.deepEqual(matMulGemm([5, 7], [11, 7], false, true), { m: 5, n: 11, k: 7, flops: 770 });
  assert.deepEqual(matMulGemm([7, 5], [7, 11], true, false), { m: 5, n: 11, k: 7, flops: 770 });
});

Deno.test("a counted training step of the simple CNN has the hand-counted FLOPs", async () => {
  const ref = createRefBackend();
  const { backend, calls } = countingBackend(ref);
  const g = new Graph(backend);
  const net = createModel(g, "simple", { seed: 0 });
  const opt = new Optimizer(g, net.params(), DEFAULT_OPTIMIZER);
  const b = 2, rng = new Rng(1);
  const views = [0, 1].map(() => new Float32Array(b * 3072).map(() => rng.normal()));
  await trainStep(net, opt, views[0], views[1], b, { loss: "ntxent", temperature: 0.5 }, 1e-3);
  opt.dispose();
  const n = 2 * b; // both views
  // Forward: conv 3→64 at 32×32, conv 64→128 at 16×16, linear 8192→256, 256→128.
  const conv1 = 2 * n * 1024 * 27 * 64, conv2 = 2 * n * 256 * 576 * 128;
  const fc = 2 * n * (8192 * 256 + 256 * 128);
  const sum = (op: string) => calls.filter((c) => c.op === op).reduce((a, c) => a + c.flops, 0);
  assert.equal(sum("conv2d"), conv1 + conv2);
  assert.equal(sum("conv2dGradFilter"), conv1 + conv2);
  // No gradient is taken for the images, so the first conv has no input gradient.
  assert.equal(sum("conv2dGradInput"), conv2);
  // Linear layers: forward, input and weight gradients (the first one's input gradient feeds
  // conv2), plus NT-Xent's similarity matmul z·zᵀ of 2b×128 and its two gradients.
  const sim = 2 * n * n * 128;
  assert.equal(sum("matMul"), 3 * fc + 3 * sim);
});
