import { throws as assertThrows } from "node:assert/strict";
import type { DeviceTensor } from "@simclr/core";
import {
  assertClose,
  ENGINE_CASES,
  randomArray,
  type RefConv,
  refConv2d,
  refConvGradFilter,
  refConvGradInput,
  refMaxPoolGrad,
  refOut,
} from "./test_util.ts";

/**
 * Geometries covering odd sides (5×7), k 1 and 3, stride 1 and 2, pad 0 and 1, batch 2 and
 * cin/cout > 1, including the cases where the forward pass skips trailing rows/columns
 * (`(h + 2·pad − k) % stride ≠ 0`), where `k − 1 − pad < 0` (k 1, pad 1), stride-2 phases
 * without any filter tap (k 1), a non-square filter and stride 3.
 */
const GEOMETRIES: readonly RefConv[] = [
  { n: 2, h: 5, w: 7, cin: 3, kh: 3, kw: 3, cout: 4, stride: 1, pad: 1 },
  { n: 2, h: 5, w: 7, cin: 3, kh: 3, kw: 3, cout: 4, stride: 2, pad: 1 },
  { n: 2, h: 5, w: 7, cin: 3, kh: 3, kw: 3, cout: 4, stride: 2, pad: 0 },
  { n: 2, h: 5, w: 7, cin: 3, kh: 3, kw: 3, cout: 4, stride: 1, pad: 0 },
  { n: 2, h: 6, w: 7, cin: 3, kh: 3, kw: 3, cout: 2, stride: 2, pad: 1 },
  { n: 2, h: 5, w: 7, cin: 3, kh: 1, kw: 1, cout: 4, stride: 2, pad: 0 },
  { n: 2, h: 6, w: 6, cin: 2, kh: 1, kw: 1, cout: 3, stride: 2, pad: 0 },
  { n: 2, h: 5, w: 7, cin: 3, kh: 1, kw: 1, cout: 4, stride: 1, pad: 1 },
  { n: 2, h: 5, w: 7, cin: 3, kh: 1, kw: 1, cout: 4, stride: 2, pad: 1 },
  { n: 2, h: 5, w: 7, cin: 2, kh: 3, kw: 1, cout: 3, stride: 2, pad: 1 },
  { n: 2, h: 7, w: 8, cin: 2, kh: 3, kw: 3, cout: 3, stride: 3, pad: 1 },
];

/** float32 kernels against float64 loops over O(100) terms: 1e-4 relative is ample. */
const TOL = 1e-4;

for (const c of ENGINE_CASES) {
  Deno.test({
    name: `${c.engine}: conv2d forward and both gradients match float64 loops`,
    ignore: c.skip !== null,
    fn: async () => {
      const gpu = await c.get();
      for (const [k, g] of GEOMETRIES.entries()) {
        const [oh, ow] = refOut(g);
        const what = `${c.engine} n${g.n} ${g.h}x${g.w} k${g.kh}x${g.kw} s${g.stride} p${g.pad}`;
        const x = randomArray(g.n * g.h * g.w * g.cin, 10 + k);
        const w = randomArray(g.kh * g.kw * g.cin * g.cout, 20 + k);
        const dy = randomArray(g.n * oh * ow * g.cout, 30 + k);
        const geometry = { stride: g.stride, pad: g.pad };
        const owned: DeviceTensor[] = [];
        const up = (data: Float32Array, shape: number[]) => {
          const t = gpu.upload(data, shape);
          owned.push(t);
          return t;
        };
        const tx = up(x, [g.n, g.h, g.w, g.cin]);
        const tw = up(w, [g.kh, g.kw, g.cin, g.cout]);
        const tdy = up(dy, [g.n, oh, ow, g.cout]);
        const y = gpu.conv2d(tx, tw, geometry);
        const dx = gpu.conv2dGradInput(tdy, tw, tx.shape, geometry);
        const dw = gpu.conv2dGradFilter(tx, tdy, tw.shape, geometry);
        owned.push(y, dx, dw);
        assertClose(await gpu.read(y), refConv2d(x, w, g), TOL, `${what} conv2d`);
        assertClose(await gpu.read(dx), refConvGradInput(dy, w, g), TOL, `${what} grad input`);
        assertClose(await gpu.read(dw), refConvGradFilter(x, dy, g), TOL, `${what} grad filter`);
        owned.forEach((t) => gpu.dispose(t));
      }
    },
  });

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

  Deno.test({
    name: `${c.engine}: maxPoolGrad routes ties to the first maximum (random ties, odd sides)`,
    ignore: c.skip !== null,
    fn: async () => {
      const gpu = await c.get();
      const shape = [2, 7, 5, 3] as const;
      // Values from {0,1,2} make ties in most windows.
      const x = randomArray(2 * 7 * 5 * 3, 7).map((v) => Math.min(2, Math.floor(Math.abs(v) * 2)));
      for (const [size, stride] of [[2, 2], [3, 2], [3, 1], [2, 1], [3, 3]]) {
        const oh = Math.floor((7 - size) / stride) + 1, ow = Math.floor((5 - size) / stride) + 1;
        const dy = randomArray(2 * oh * ow * 3, 100 + size * 10 + stride);
        const tx = gpu.upload(x, [...shape]);
        const tdy = gpu.upload(dy, [2, oh, ow, 3]);
        const ty = gpu.maxPool(tx, { size, stride });
        const dx = gpu.maxPoolGrad(tdy, tx, ty, { size, stride });
        assertClose(
          await gpu.read(dx),
          refMaxPoolGrad(x, dy, shape, size, stride),
          1e-6,
          `${c.engine} maxPoolGrad size ${size} stride ${stride}`,
        );
        [tx, tdy, ty, dx].forEach((t) => gpu.dispose(t));
      }
    },
  });
}
