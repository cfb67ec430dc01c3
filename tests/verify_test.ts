// `deno task verify`'s harness (backend-ref/conformance.ts) does catch a wrong kernel. Each
// backend's own tests run the harness on that backend (backend-gpu/verify_test.ts,
// backend-native/native_test.ts).
import assert from "node:assert/strict";
import {
  assertRowsOk,
  createRefBackend,
  verifyKernels,
  verifyTrainingSteps,
} from "@simclr/backend-ref";
import type { Backend } from "@simclr/core";

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

Deno.test("verify: the reference agrees with itself, and an empty comparison is not a pass", async () => {
  const rows = await verifyKernels(createRefBackend(), createRefBackend());
  assert.ok(rows.length >= 50, `only ${rows.length} kernel rows`);
  assert.ok(rows.every((r) => r.relDiff === 0), "two reference backends differ");
  assertRowsOk(rows);
  assert.throws(() => assertRowsOk([]), /no rows were compared/);
  const bad = { ...rows[0], ok: false };
  assert.throws(() => assertRowsOk([rows[1], bad]), /1 of 2 comparisons NOT OK/);
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
