/**
 * Backend selection shared by `train`, `evaluate` and `bench`: the only place that imports the
 * backends by name, lazily, so a missing optional one (cuda, native) fails only when asked for.
 *
 * @module
 */
import type { Backend } from "@simclr/core";
import { BACKEND_NAMES, ENGINE_NAMES } from "@simclr/train";

export { BACKEND_NAMES, ENGINE_NAMES };
/** One of {@linkcode BACKEND_NAMES}. */
export type BackendName = typeof BACKEND_NAMES[number];
/** One of {@linkcode ENGINE_NAMES}. */
export type EngineName = typeof ENGINE_NAMES[number];

/** A created backend with a one-line description of what was chosen and why. */
export interface ChosenBackend {
  backend: Backend;
  /** `cuda`, `webgpu`, `wasm`, `native` or `ref`. */
  engine: string;
  /** e.g. `tfjs-wasm: no CUDA, no hardware WebGPU adapter; XNNPACK with SIMD`. */
  description: string;
  /** Advice worth printing under the description, e.g. a much faster backend for this machine. */
  hint?: string;
}

/**
 * Printed when `--backend gpu` ends on a CPU engine: on our 2-core machine the native backend
 * trains `small` at ~730 images/s against wasm's ~70 (README, Speed), which decides how good the
 * features get in an hour.
 */
export const CPU_ENGINE_HINT =
  "hint: no GPU here; --backend native (C++ kernels, built with g++ on first use) is ~10x faster on CPUs";

/** Creates the backend `--backend`/`--engine` ask for. */
export async function chooseBackend(name: BackendName, engine: EngineName): Promise<ChosenBackend> {
  if (name === "ref") {
    const { createRefBackend } = await import("@simclr/backend-ref");
    return {
      backend: createRefBackend(),
      engine: "ref",
      description: "ref: pure TypeScript reference backend (slow; for checking)",
    };
  }
  if (name === "native") {
    const { createNativeBackend } = await import("@simclr/backend-native");
    const backend = await createNativeBackend();
    return { backend, engine: "native", description: `${backend.name}: C kernels via Deno FFI` };
  }
  const { createGpuBackend } = await import("@simclr/backend-gpu");
  const gpu = await createGpuBackend({ engine });
  return {
    backend: gpu,
    engine: gpu.engine,
    description: `${gpu.name}: ${gpu.reason}`,
    hint: gpu.engine === "wasm" ? CPU_ENGINE_HINT : undefined,
  };
}

/**
 * Why `--precision` cannot run on this backend and CPU, or `undefined` when it can. bf16 is
 * checked against CPUID at run time (backend-native/precision.ts).
 */
export async function precisionRefusal(
  backend: Backend,
  precision: "fp32" | "bf16",
): Promise<string | undefined> {
  if (precision === "fp32") return undefined;
  if (backend.name !== "native") return "--precision bf16 runs only on --backend native";
  const { bf16Refusal, NativeBackend } = await import("@simclr/backend-native");
  return backend instanceof NativeBackend
    ? bf16Refusal(backend.cpuFeatures())
    : "--precision bf16 runs only on --backend native";
}
