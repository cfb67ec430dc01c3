// The conformance suite of backend-ref on each TF.js engine: every kernel and whole training
// steps agree with the reference within the suite's tolerances.
import assert from "node:assert/strict";
import {
  assertRowsOk,
  createRefBackend,
  verifyKernels,
  verifyTrainingSteps,
} from "@simclr/backend-ref";
import { ENGINE_CASES } from "./test_util.ts";

for (const c of ENGINE_CASES) {
  Deno.test({
    name: `${c.engine}: every kernel and a training step agree with the reference`,
    ignore: c.skip !== null,
    fn: async () => {
      const gpu = await c.get();
      const ref = createRefBackend();
      const rows = await verifyKernels(ref, gpu);
      assert.ok(rows.length >= 50, `only ${rows.length} kernel rows`);
      assertRowsOk(rows);
      const step = await verifyTrainingSteps(ref, gpu, "small", { batch: 2, steps: 2, width: 4 });
      assertRowsOk(step.rows);
      if (c.engine === "wasm") {
        const simple = await verifyTrainingSteps(ref, gpu, "simple", { batch: 2, steps: 2 });
        assertRowsOk(simple.rows);
      }
    },
  });
}
