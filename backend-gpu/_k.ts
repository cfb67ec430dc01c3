import { createGpuBackend } from "./mod.ts";
import { randomArray } from "./test_util.ts";
const gpu = await createGpuBackend({ engine: (Deno.args[0] ?? "wasm") as "wasm" });
for (
  const [shape, axes] of [[[8, 32, 32, 8], [0, 1, 2]], [[8192 * 8], [0]], [[64, 8192], [1]], [[
    8192,
    64,
  ], [0]]] as [number[], number[]][]
) {
  const n = shape.reduce((a, b) => a * b);
  const x = randomArray(n, 5).map((v) => v + 3); // nonzero mean like activations
  const t = gpu.upload(x, shape);
  const s = await gpu.read(gpu.reduce("sum", t, axes, false));
  // float64 reference
  const outSize = s.length;
  const ref = new Float64Array(outSize);
  if (shape.length === 4) { for (let i = 0; i < n; i++) ref[i % 8] += x[i]; }
  else if (axes[0] === 0 && shape.length === 1) ref[0] = x.reduce((a, b) => a + b, 0);
  else if (shape[0] === 64) { for (let i = 0; i < n; i++) ref[Math.floor(i / 8192)] += x[i]; }
  else for (let i = 0; i < n; i++) ref[i % 64] += x[i];
  let worst = 0;
  for (let i = 0; i < outSize; i++) {
    worst = Math.max(worst, Math.abs(s[i] - ref[i]) / Math.abs(ref[i]));
  }
  console.log(JSON.stringify(shape), axes, "worst rel err", worst.toExponential(2));
}
