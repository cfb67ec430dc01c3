import * as tf from "@tensorflow/tfjs-core";
import { createGpuBackend } from "./mod.ts";
import { wasmSum } from "./composed.ts";
await createGpuBackend({ engine: "wasm" });
for (
  const [shape, axes] of [
    [[512, 32, 32, 64], [0, 1, 2]],
    [[512, 8, 8, 256], [0, 1, 2]],
    [[
      512,
      4,
      4,
      512,
    ], [0, 1, 2]],
    [[512, 128], [0]],
    [[512, 32, 32, 64], [1, 2]],
    [[512, 32, 32, 64], [3]],
    [[512, 32, 32, 64], [0, 2]],
  ] as [number[], number[]][]
) {
  const x = tf.randomNormal(shape);
  const r: Record<string, number[]> = { tf: [], blocked: [] };
  for (let i = 0; i < 3; i++) {
    for (
      const [k, f] of [["tf", () => tf.sum(x, axes)], [
        "blocked",
        () => wasmSum(x, axes, false),
      ]] as const
    ) {
      const t0 = performance.now();
      const y = f();
      await y.data();
      y.dispose();
      r[k].push(Math.round(performance.now() - t0));
    }
  }
  console.log(JSON.stringify(shape), JSON.stringify(r));
  x.dispose();
}
