// PyTorch as an outside oracle: where python3-torch is installed, three SimCLR steps agree with
// PyTorch, and the check fails when one convention is broken on purpose on the PyTorch side.
import assert from "node:assert/strict";
import { createRefBackend } from "@simclr/backend-ref";
import { torchAvailable } from "@simclr/cli";
import { verifyAgainstTorch } from "./verify_torch.ts";

const torch = await torchAvailable();
const ignore = "missing" in torch;
if (ignore) console.error(`verify_torch_test: skipped: ${torch.missing}`);

for (const model of ["small", "resnet18"] as const) {
  Deno.test({
    name:
      `verify --peer torch: ${model} agrees with PyTorch, and fails with biased/unbiased BN swapped`,
    ignore,
    fn: async () => {
      const opts = { batch: 4, steps: 3, width: 4, tolerance: 1e-3, featureTolerance: 2e-3 };
      const ref = createRefBackend();
      const good = await verifyAgainstTorch([ref], model, opts);
      const bad = good.rows.filter((r) => !r.ok);
      assert.equal(bad.length, 0, bad.map((r) => `${r.name}: ${r.relDiff}`).join("\n"));
      // Every kind of row is there: losses, gradients, changes, running stats, features.
      for (
        const kind of [
          /^loss step 3$/,
          /^grad step 1 /,
          /^Δ .*weight after step 1/,
          /running_var after step 3/,
          /^eval features/,
        ]
      ) {
        assert.ok(good.rows.some((r) => kind.test(r.name)), `no row matches ${kind}`);
      }
      const broken = await verifyAgainstTorch([ref], model, { ...opts, broken: "bn-var" });
      const failed = broken.rows.filter((r) => !r.ok).map((r) => r.name);
      assert.ok(failed.some((n) => n.startsWith("grad step 1")), failed.join());
      // The break normalises with the unbiased variance: the gradients move, and through the
      // activations so do the running statistics.
      assert.ok(failed.some((n) => n.includes("running_")), failed.join());
    },
  });
}

Deno.test({
  name: "verify --peer torch: simple (no batch norm) is untouched by the batch-norm break",
  ignore,
  fn: async () => {
    // The break changes batch norm only, so a model without it must still agree: the failures
    // above come from the convention, not from running the oracle differently.
    const r = await verifyAgainstTorch([createRefBackend()], "simple", {
      batch: 2,
      steps: 2,
      tolerance: 1e-3,
      featureTolerance: 1e-2,
      broken: "bn-var",
    });
    const bad = r.rows.filter((x) => !x.ok);
    assert.equal(bad.length, 0, bad.map((x) => `${x.name}: ${x.relDiff}`).join("\n"));
  },
});

Deno.test("verify --peer torch without torch says so and exits 0", async () => {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./verify.ts", import.meta.url).pathname, "--peer", "torch"],
    env: { SIMCLR_PYTHON: "/nonexistent/python3" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 0, out);
  assert.match(
    out,
    /verify --peer torch: skipped: \/nonexistent\/python3 does not run .*SIMCLR_PYTHON/,
  );
});
