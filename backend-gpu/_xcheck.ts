import { type Backend, createModel, forwardBackward, Graph } from "@simclr/core";
import { createRefBackend } from "@simclr/backend-ref";
import { createGpuBackend } from "./mod.ts";
import { randomArray } from "./test_util.ts";
const name = (Deno.args[0] ?? "small") as "small";
const width = Number(Deno.args[1] ?? 8);
const n = 4;
const v1 = randomArray(n * 32 * 32 * 3, 1), v2 = randomArray(n * 32 * 32 * 3, 2);
async function run(b: Backend) {
  const g = new Graph(b);
  const model = createModel(g, name, { seed: 3, width });
  const t0 = performance.now();
  const out = await g.tidy(async () => {
    const { loss, grads } = forwardBackward(
      model,
      g.constant(v1, [n, 32, 32, 3]),
      g.constant(v2, [n, 32, 32, 3]),
      { loss: "ntxent", temperature: 0.5 },
    );
    return { loss: await loss.item(), grads: await Promise.all(grads.map((x) => x!.read())) };
  });
  return { ...out, ms: performance.now() - t0, live: b.liveTensors() };
}
const gpu = await createGpuBackend({ engine: "wasm" });
const other = Deno.args[2] === "webgpu"
  ? await createGpuBackend({ engine: "webgpu" })
  : createRefBackend();
const a = await run(other), b = await run(gpu);
const b2 = await run(gpu);
console.log(
  "loss",
  a.loss,
  b.loss,
  "ms",
  a.ms.toFixed(0),
  b.ms.toFixed(0),
  b2.ms.toFixed(0),
  "live",
  b.live,
  b2.live,
);
let worst = 0;
a.grads.forEach((ga, i) => {
  const gb = b.grads[i];
  let num = 0, den = 0;
  for (let j = 0; j < ga.length; j++) {
    num += (ga[j] - gb[j]) ** 2;
    den += ga[j] ** 2;
  }
  worst = Math.max(worst, Math.sqrt(num / (den + 1e-30)));
});
console.log("params", a.grads.length, "worst relative grad L2 diff", worst);
a.grads.forEach((ga, i) => {
  const gb = b.grads[i];
  let num = 0, den = 0, mx = 0;
  for (let j = 0; j < ga.length; j++) {
    num += (ga[j] - gb[j]) ** 2;
    den += ga[j] ** 2;
    mx = Math.max(mx, Math.abs(ga[j]));
  }
  const r = Math.sqrt(num / (den + 1e-30));
  if (r > 1e-4) {
    console.log(
      i,
      ga.length,
      "rel",
      r.toExponential(2),
      "norm",
      Math.sqrt(den).toExponential(2),
      "max",
      mx.toExponential(2),
    );
  }
});
