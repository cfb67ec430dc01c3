/**
 * `--backend auto`: the fastest backend that works on this machine, without any flag. The order
 * is the speed order measured in the README: cuda (tfjs-node-gpu), WebGPU on a hardware adapter,
 * native C++ on the CPU (~10x wasm on our 2-core machine), TF.js wasm. Each candidate is opened in
 * turn; the first that opens wins, and the reason every earlier one was passed over is kept, so
 * the CLIs can print it.
 *
 * The order and the bookkeeping ({@linkcode selectAuto}) take the candidates as functions, so the
 * tests inject probe results; {@linkcode autoCandidates} are the real probes.
 *
 * @module
 */
import type { Backend } from "@simclr/core";

/** The engines `auto` chooses between, fastest first. */
export const AUTO_ORDER = ["cuda", "webgpu", "native", "wasm"] as const;
/** One of {@linkcode AUTO_ORDER}. */
export type AutoEngine = typeof AUTO_ORDER[number];

/** A candidate that did not open, and why (one line). */
export interface Skipped {
  /** The engine passed over. */
  engine: AutoEngine;
  /** Why, e.g. `no hardware WebGPU adapter (llvmpipe (LLVM 15.0.6, 256 bits) is a CPU one)`. */
  reason: string;
}

/** What {@linkcode selectAuto} picked. */
export interface AutoSelection<T> {
  /** The engine that opened. */
  engine: AutoEngine;
  /** Whatever the candidate's `open` returned (the backend, for the real candidates). */
  value: T;
  /** Every engine tried before it, in order, with its reason. */
  skipped: Skipped[];
}

/**
 * Opens one engine, or throws an error whose first line says why it is not usable here. The
 * error's first line is the reason printed, so it should read well after "cuda: ".
 */
export type Opener<T> = () => Promise<T>;

/** Thrown when no candidate opened; `skipped` has every reason. */
export class NoBackendError extends Error {
  /** Every engine with its reason. */
  readonly skipped: Skipped[];
  /** Builds the error from the reasons. */
  constructor(skipped: Skipped[]) {
    super(
      `--backend auto found no usable backend: ${
        skipped.map((s) => `${s.engine}: ${s.reason}`).join("; ")
      }`,
    );
    this.name = "NoBackendError";
    this.skipped = skipped;
  }
}

/** The first line of an error message, trimmed, without a trailing full stop. */
export function reasonOf(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const line = (text.split("\n")[0] ?? "").trim().replace(/\.+$/, "");
  // "native backend: …" / "webgpu engine: …" repeat the name the reason is printed under.
  return line.replace(/^\w+ (backend|engine): /, "") || "failed without a message";
}

/**
 * Tries `candidates` in {@linkcode AUTO_ORDER}; engines without an opener are skipped as "not
 * available in this build". Returns the first that opens with the reasons of those before it;
 * throws {@linkcode NoBackendError} when none opens.
 */
export async function selectAuto<T>(
  candidates: Partial<Record<AutoEngine, Opener<T>>>,
): Promise<AutoSelection<T>> {
  const skipped: Skipped[] = [];
  for (const engine of AUTO_ORDER) {
    const open = candidates[engine];
    if (open === undefined) {
      skipped.push({ engine, reason: "not available in this build" });
      continue;
    }
    try {
      return { engine, value: await open(), skipped };
    } catch (e) {
      skipped.push({ engine, reason: reasonOf(e) });
    }
  }
  throw new NoBackendError(skipped);
}

/** The lines a CLI prints for a selection: the choice, then one line per engine passed over. */
export function describeSelection(
  selection: { engine: AutoEngine; skipped: Skipped[] },
  detail: string,
): string {
  const lines = [`backend auto: chose ${selection.engine} (${detail})`];
  for (const s of selection.skipped) lines.push(`  passed over ${s.engine}: ${s.reason}`);
  return lines.join("\n");
}

/** The result of the real WebGPU probe, as `probeWebGpu` of `@simclr/backend-gpu` returns it. */
export interface AdapterProbe {
  /** The adapter's description, e.g. `NVIDIA H200` or `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  description: string;
  /** True for a CPU (software) adapter: lavapipe/llvmpipe, SwiftShader, WARP. */
  software: boolean;
}

/**
 * Decides whether a WebGPU adapter is worth using: throws the reason when there is none or it is
 * a CPU one (lavapipe trains ~40x slower than native; README, Verification).
 */
export function requireHardwareAdapter(probe: AdapterProbe | null): AdapterProbe {
  if (probe === null) throw new Error("no WebGPU adapter (navigator.gpu offers none)");
  if (probe.software) {
    throw new Error(`no hardware WebGPU adapter (${probe.description} is a CPU one)`);
  }
  return probe;
}

/** The real candidates: each opens its backend, lazily importing only what it needs. */
export function autoCandidates(): Record<AutoEngine, Opener<Backend>> {
  return {
    cuda: async () => {
      const { createGpuBackend } = await import("@simclr/backend-gpu");
      try {
        return await createGpuBackend({ engine: "cuda" });
      } catch (e) {
        // The full message carries a long how-to; the reason needs only what is missing.
        throw new Error(
          reasonOf(e).replace(/\. To use --engine cuda.*$/, "").replace(
            /^cuda engine: /,
            "",
          ),
        );
      }
    },
    webgpu: async () => {
      const { createGpuBackend, probeWebGpu } = await import("@simclr/backend-gpu");
      requireHardwareAdapter(await probeWebGpu());
      return await createGpuBackend({ engine: "webgpu" });
    },
    native: async () => {
      const { createNativeBackend } = await import("@simclr/backend-native");
      return await createNativeBackend();
    },
    wasm: async () => {
      const { createGpuBackend } = await import("@simclr/backend-gpu");
      return await createGpuBackend({ engine: "wasm" });
    },
  };
}
