// `deno task verify`'s harness: the TF.js engines agree with the reference within tolerance, and
// the harness does catch a wrong kernel.
import assert from "node:assert/strict";
import { createRefBackend } from "@simclr/backend-ref";
import { createGpuBackend, type Engine } from "@simclr/backend-gpu";
import type { Backend } from "@simclr/core";
import { verifyKernels, type VerifyRow, verifyTrainingSteps } from "./verify_lib.ts";

function assertAllOk(rows: VerifyRow[]) {
  const bad = rows.filter((r) => !r.ok);
  assert.equal(bad.length, 0, bad.map((r) => `${r.group} ${r.name}: ${r.relDiff}`).join("\n"));
}

async function hasWebGpu(): Promise<boolean> {
  try {
    return (await navigator.gpu?.requestAdapter()) != null;
  } catch {
    return false;
  }
}

for (const engine of ["wasm", "webgpu"] as Engine[]) {
  Deno.test({
    name: `verify: every kernel and a training step agree on the ${engine} engine`,
    ignore: engine === "webgpu" && !(await hasWebGpu()),
    fn: async () => {
      const gpu = await createGpuBackend({ engine });
      const ref = createRefBackend();
      const rows = await verifyKernels(ref, gpu);
      assert.ok(rows.length >= 50, `only ${rows.length} kernel rows`);
      assertAllOk(rows);
      const step = await verifyTrainingSteps(ref, gpu, "small", { batch: 2, steps: 2, width: 4 });
      assertAllOk(step.rows);
      if (engine === "wasm") {
        const simple = await verifyTrainingSteps(ref, gpu, "simple", { batch: 2, steps: 2 });
        assertAllOk(simple.rows);
      }
    },
  });
}

/** A reference backend whose filter gradient is scaled by `factor`; every other kernel is exact. */
function skewedFilterGradient(factor: number): Backend {
  const off = createRefBackend();
  // Forward every kernel to a second reference backend (bound: it keeps private state)...
  const forwarded: Record<string, unknown> = { name: "skewed" };
  for (const key of Object.getOwnPropertyNames(Object.getPrototypeOf(off))) {
    const member = (off as unknown as Record<string, unknown>)[key];
    if (typeof member === "function" && key !== "constructor") forwarded[key] = member.bind(off);
  }
  const skewed = forwarded as unknown as Backend;
  // ...except the filter gradient, scaled by `factor`.
  skewed.conv2dGradFilter = (x, dy, wShape, geometry) => {
    const dw = off.conv2dGradFilter(x, dy, wShape, geometry);
    const scale = off.upload(new Float32Array([factor]), []);
    const out = off.binary("mul", dw, scale);
    off.dispose(dw);
    off.dispose(scale);
    return out;
  };
  return skewed;
}

Deno.test("verify: a kernel that is off by 1e-3 relative is reported NOT OK", async () => {
  const ref = createRefBackend();
  const rows = await verifyKernels(ref, skewedFilterGradient(1.001));
  const bad = rows.filter((r) => !r.ok).map((r) => r.name);
  assert.ok(bad.length >= 7 && bad.every((n) => n.startsWith("conv2dGradFilter")), bad.join());
});

Deno.test("verify: a training step with a 1% filter-gradient error flags the conv weights", async () => {
  // 1e-3 sits on the default bound for gradients, so the step check is tested at 1e-2, where a
  // pass on an empty list of failures would be a bug in verify.
  const ref = createRefBackend();
  const step = await verifyTrainingSteps(ref, skewedFilterGradient(1.01), "small", {
    batch: 2,
    steps: 1,
    width: 4,
  });
  const badStep = step.rows.filter((r) => !r.ok).map((r) => r.name);
  assert.ok(badStep.length > 0, "no row flagged a 1% filter-gradient error");
  assert.ok(badStep.every((n) => /conv\.weight/.test(n)), badStep.join());
});

Deno.test("verify --json to an unwritable path fails before the run, naming the path", async () => {
  const { jsonTargetProblem } = await import("./verify.ts");
  const dir = await Deno.makeTempDir({ prefix: "simclr-verify-json-" });
  await Deno.writeTextFile(`${dir}/file`, "");
  assert.match((await jsonTargetProblem(dir))!, /is a folder/);
  assert.match((await jsonTargetProblem(`${dir}/file/out.json`))!, /cannot write in .*file/);
  assert.equal(await jsonTargetProblem(`${dir}/sub/out.json`), undefined);
  const child = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./verify.ts", import.meta.url).pathname,
      "--backend=native",
      `--json=${dir}/file/out.json`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(child.stdout) + new TextDecoder().decode(child.stderr);
  assert.equal(child.code, 2, out);
  assert.match(out, /verify: --json .*file\/out\.json: cannot write/);
  assert.doesNotMatch(out, /engine:/, "it stops before choosing a backend");
  await Deno.remove(dir, { recursive: true });
});
