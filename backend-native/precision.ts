/**
 * Whether `--precision bf16` can run on this CPU, with the reason when it cannot. bf16 conv and
 * matMul inputs need `vdpbf16ps` (AVX512_BF16), or AMX-BF16 tiles; without them, emulating bf16
 * in fp32 would only add rounding without speed, so the flag is refused rather than ignored.
 *
 * @module
 */
import type { CpuFeatures } from "./native_backend.ts";

/** Names of the features that decide the kernels' paths, for messages. */
export function describeFeatures(f: CpuFeatures): string {
  const names: string[] = [];
  if (f.avx2) names.push("AVX2");
  if (f.fma) names.push("FMA");
  if (f.avx512f) names.push("AVX-512F");
  if (f.avx512bf16) names.push("AVX512_BF16");
  if (f.amxTile) names.push("AMX-TILE");
  if (f.amxBf16) names.push("AMX-BF16");
  return names.length ? names.join(", ") : "no AVX2, FMA or AVX-512";
}

/**
 * `undefined` when bf16 can run here; otherwise the message for the user. Today the bf16 kernels
 * are not written, so a CPU that has the instructions gets that said instead of a silent fp32 run.
 */
export function bf16Refusal(f: CpuFeatures): string | undefined {
  if (!f.avx512bf16 && !f.amxBf16) {
    return `--precision bf16 needs a CPU with AVX512_BF16 (vdpbf16ps) or AMX-BF16; this one has ` +
      `${describeFeatures(f)}. Use --precision fp32 (the default).`;
  }
  return `--precision bf16: this CPU has ${describeFeatures(f)}, but the native backend has no ` +
    `bf16 kernels yet. Use --precision fp32 (the default).`;
}
