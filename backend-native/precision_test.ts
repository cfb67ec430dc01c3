// The --precision bf16 refusal names what the CPU lacks, or that the kernels are missing.
import assert from "node:assert/strict";
import { bf16Refusal, describeFeatures } from "./precision.ts";

const zen = {
  avx2: true,
  fma: true,
  avx512f: false,
  avx512bf16: false,
  amxTile: false,
  amxBf16: false,
};

Deno.test("bf16 is refused on a CPU without AVX512_BF16, naming what it has", () => {
  assert.equal(describeFeatures(zen), "AVX2, FMA");
  assert.match(
    bf16Refusal(zen)!,
    /needs a CPU with AVX512_BF16 \(vdpbf16ps\) or AMX-BF16; this one has AVX2, FMA\./,
  );
  assert.match(bf16Refusal({ ...zen, avx512f: true })!, /this one has AVX2, FMA, AVX-512F\./);
});

Deno.test("on a CPU with AVX512_BF16 the refusal says the kernels are missing, not the CPU", () => {
  const spr = { ...zen, avx512f: true, avx512bf16: true, amxTile: true, amxBf16: true };
  const m = bf16Refusal(spr)!;
  assert.match(m, /this CPU has AVX2, FMA, AVX-512F, AVX512_BF16, AMX-TILE, AMX-BF16/);
  assert.match(m, /no bf16 kernels yet/);
});
