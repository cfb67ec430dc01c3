/**
 * Backend selection shared by `train`, `evaluate`, `verify` and `bench`: the only place that
 * imports the backends by name, lazily, so a missing optional one (cuda, native) fails only when
 * asked for. `auto` (the default) picks the fastest that works here; see `auto.ts`.
 *
 * @module
 */
import type { Backend } from "@simclr/core";
import { BACKEND_NAMES, ENGINE_NAMES } from "@simclr/train";
import {
  autoCandidates,
  type AutoEngine,
  describeSelection,
  type Opener,
  selectAuto,
} from "./auto.ts";

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
  /**
   * For `--backend auto`: the choice and, one a line, why each faster engine was passed over;
   * CLIs print it before anything else.
   */
  selection?: string;
  /** Advice worth printing under the description, e.g. a much faster backend for this machine. */
  hint?: string;
}

/**
 * Printed when a run ends on TF.js wasm although the machine could do ~10x better on the CPU: on
 * our 2-core machine the native backend trains `small` at ~730 images/s against wasm's ~70
 * (README, Speed), which decides how good the features get in an hour. `--backend auto` picks
 * native by itself whenever g++ is there, so the hint says what is missing, not which flag to type.
 */
export const CPU_ENGINE_HINT =
  "hint: this runs on TF.js wasm, ~10x slower than the native C++ backend on CPUs; with g++ " +
  "installed (apt-get install g++) the default --backend auto picks native by itself";

/** Options of {@linkcode chooseBackend}. */
export interface ChooseOptions {
  /** Replaces the real candidates of `--backend auto` (tests inject probe results). */
  autoCandidates?: Partial<Record<AutoEngine, Opener<Backend>>>;
}

/** Creates the backend `--backend`/`--engine` ask for. */
export async function chooseBackend(
  name: BackendName,
  engine: EngineName,
  options: ChooseOptions = {},
): Promise<ChosenBackend> {
  // An explicit TF.js engine (`--engine webgpu`) means the TF.js backend, as it always has.
  if (name === "auto" && engine !== "auto") name = "gpu";
  if (name === "auto") {
    const selection = await selectAuto(options.autoCandidates ?? autoCandidates());
    const backend = selection.value;
    const gpu = backend as { engine?: string; reason?: string };
    const chosen = selection.engine;
    const detail = gpu.reason?.replace(/^\w+: /, "") ??
      (chosen === "native" ? "C++ kernels via Deno FFI, the fast path on CPUs" : backend.name);
    return {
      backend,
      engine: chosen,
      description: `${backend.name}: ${detail} (chosen by --backend auto)`,
      selection: describeSelection(selection, `${backend.name}: ${detail}`),
      hint: chosen === "wasm" ? CPU_ENGINE_HINT : undefined,
    };
  }
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
