// The conv gradients refuse a dy that is not the forward output's shape. (Their values are
// compared with the reference on odd geometries by the conformance suite, verify_test.ts.)
import { throws as assertThrows } from "node:assert/strict";
import { ENGINE_CASES } from "./test_util.ts";

for (const c of ENGINE_CASES) {
  Deno.test({
    name: `${c.engine}: conv gradients reject a dy of the wrong shape`,
    ignore: c.skip !== null,
    fn: async () => {
      const gpu = await c.get();
      const x = gpu.upload(new Float32Array(2 * 5 * 5 * 3), [2, 5, 5, 3]);
      const w = gpu.upload(new Float32Array(3 * 3 * 3 * 4), [3, 3, 3, 4]);
      const dy = gpu.upload(new Float32Array(2 * 5 * 5 * 4), [2, 5, 5, 4]); // right for stride 1
      assertThrows(
        () => gpu.conv2dGradFilter(x, dy, w.shape, { stride: 2, pad: 1 }),
        /backend conv2dGradFilter: dy \[2,5,5,4\] should be the output shape \[2,3,3,4\]/,
      );
      assertThrows(
        () => gpu.conv2dGradInput(dy, w, x.shape, { stride: 2, pad: 1 }),
        /backend conv2dGradInput: dy \[2,5,5,4\] should be the output shape \[2,3,3,4\]/,
      );
      [x, w, dy].forEach((t) => gpu.dispose(t));
    },
  });
}
