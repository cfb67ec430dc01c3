/**
 * Loading and choosing a TF.js engine (`cuda`, `webgpu`, `wasm`) in Deno. Each engine's package is
 * imported lazily, so asking for wasm never loads WebGPU or the CUDA addon.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Which TF.js engine runs the kernels; `auto` picks the fastest one that works here. */
export type Engine = "auto" | "cuda" | "webgpu" | "wasm";

/** A concrete engine (not `auto`). */
export type ConcreteEngine = Exclude<Engine, "auto">;

/** Every accepted engine name, for CLI validation. */
export const ENGINES: readonly Engine[] = ["auto", "cuda", "webgpu", "wasm"];

/** The engine that was set up: the TF.js backend name to activate and why it was chosen. */
export interface LoadedEngine {
  /** The engine that runs the kernels. */
  readonly engine: ConcreteEngine;
  /** The TF.js backend registry name (`tensorflow`, `webgpu`, `wasm`). */
  readonly tfBackend: string;
  /** One line saying why this engine runs (for CLIs to print first). */
  readonly reason: string;
}

/** The npm package of the CUDA engine; a variable so type checking never resolves it. */
const CUDA_PACKAGE = "@tensorflow/tfjs-node-gpu";

/** Shared libraries libtensorflow 2.9.1 (used by tfjs-node-gpu 4.22.0) needs for the GPU. */
const CUDA_LIBRARIES: readonly SharedLibrary[] = [
  { file: "libcuda.so.1", what: "the NVIDIA driver (libcuda.so.1)" },
  { file: "libcudart.so.11.0", what: "the CUDA 11.2 runtime (libcudart.so.11.0)" },
  { file: "libcublas.so.11", what: "cuBLAS from CUDA 11.2 (libcublas.so.11)" },
  { file: "libcudnn.so.8", what: "cuDNN 8.1 (libcudnn.so.8)" },
];

/** How to fix a missing CUDA engine, appended to every CUDA error. */
export const CUDA_HOWTO =
  "To use --engine cuda: (1) install the package with its install script, " +
  `which downloads libtensorflow 2.9.1 GPU and the native addon: \`deno install ` +
  `--allow-scripts=npm:${CUDA_PACKAGE}\` (with nodeModulesDir "auto" or "manual"); (2) run with ` +
  "--allow-ffi (or -A) so Deno may load native addons; (3) install an NVIDIA driver, CUDA 11.2 " +
  "and cuDNN 8.1 and put their lib directories on LD_LIBRARY_PATH (e.g. " +
  "/usr/local/cuda-11.2/lib64). Or pick --engine webgpu or --engine wasm.";

/** Thrown when an engine cannot be set up; `message` says what is missing and how to fix it. */
export class EngineUnavailableError extends Error {
  /** The engine that failed. */
  readonly engine: ConcreteEngine;
  /** Builds the error for `engine`. */
  constructor(engine: ConcreteEngine, message: string) {
    super(message);
    this.name = "EngineUnavailableError";
    this.engine = engine;
  }
}

/** The first line of an error, for one-line reasons. */
function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split("\n")[0].trim();
}

/** A shared library an engine needs, with words for error messages. */
export interface SharedLibrary {
  /** File name given to `dlopen`, e.g. `libcudnn.so.8`. */
  readonly file: string;
  /** What it is, e.g. `cuDNN 8.1 (libcudnn.so.8)`. */
  readonly what: string;
}

/** Names the libraries that cannot be opened (libtensorflow silently falls back to CPU then). */
function missingLibraries(libraries: readonly SharedLibrary[]): string[] {
  const missing: string[] = [];
  for (const lib of libraries) {
    try {
      Deno.dlopen(lib.file, {}).close();
    } catch {
      missing.push(lib.what);
    }
  }
  return missing;
}

/** Options of {@linkcode loadCuda}; the defaults are the real package and libraries. */
export interface LoadCudaOptions {
  /** The package to import (tests pass a missing name). */
  readonly packageName?: string;
  /** Libraries that must open before the package is imported (tests pass `[]`). */
  readonly libraries?: readonly SharedLibrary[];
}

/**
 * Sets up the CUDA engine (`@tensorflow/tfjs-node-gpu`): checks the --allow-ffi permission and,
 * with `Deno.dlopen`, the driver, CUDA 11.2 and cuDNN 8.1 libraries, and only then imports the
 * package (which registers and activates TF.js backend `tensorflow`). Throws
 * {@linkcode EngineUnavailableError} naming exactly what is missing and how to fix it.
 */
export async function loadCuda(options: LoadCudaOptions = {}): Promise<LoadedEngine> {
  const packageName = options.packageName ?? CUDA_PACKAGE;
  const fail = (what: string) =>
    new EngineUnavailableError("cuda", `cuda engine: ${what.replace(/\.+$/, "")}. ${CUDA_HOWTO}`);
  const ffi = await Deno.permissions.query({ name: "ffi" });
  if (ffi.state !== "granted") {
    throw fail("Deno has no --allow-ffi permission, which native addons need");
  }
  const missing = missingLibraries(options.libraries ?? CUDA_LIBRARIES);
  if (missing.length > 0) throw fail(`cannot load ${missing.join(", ")}`);
  try {
    await import(packageName);
  } catch (e) {
    const text = firstLine(e);
    if (/tfjs_binding\.node|native addon/i.test(text)) {
      throw fail(
        `${packageName} is installed without its native addon and libtensorflow (its install ` +
          `script did not run): ${text}`,
      );
    }
    if (/not found|cannot find|could not find|resolve|import map|not prefixed/i.test(text)) {
      throw fail(`npm package ${packageName} is not installed (${text})`);
    }
    throw fail(`${packageName} failed to load: ${text}`);
  }
  if (!(await tf.setBackend("tensorflow"))) {
    throw fail("TF.js backend 'tensorflow' did not initialise");
  }
  return {
    engine: "cuda",
    tfBackend: "tensorflow",
    reason: "cuda: tfjs-node-gpu (libtensorflow 2.9.1) with the NVIDIA driver, CUDA 11.2 and " +
      "cuDNN 8.1",
  };
}

/** What `navigator.gpu` offers: the adapter's description and whether it is software. */
export interface WebGpuProbe {
  /** Adapter description, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`; empty when none. */
  readonly description: string;
  /** True for fallback/software adapters (lavapipe/llvmpipe, SwiftShader, WARP). */
  readonly software: boolean;
}

/** Adapter descriptions of CPU (software) WebGPU/Vulkan implementations. */
const SOFTWARE_ADAPTERS = /llvmpipe|lavapipe|swiftshader|software|warp|basic render/i;

/**
 * Vulkan vendor ids of CPU implementations: 0x10005 is Mesa's own id (lavapipe reports it, as
 * Deno's `adapter.info.vendor` "65541"); 0x1AE0 is Google's (SwiftShader). Mesa's hardware
 * drivers report the GPU maker's PCI id instead.
 */
const SOFTWARE_VENDOR_IDS = new Set([0x10005, 0x1ae0]);

/**
 * Mesa's Vulkan drivers print `error: XDG_RUNTIME_DIR is invalid or not set` on every start on a
 * headless Linux machine (no login session). It is harmless but reads like a failure, so when the
 * variable is missing or not a folder, point it at a private folder of ours (mode 0700, as the
 * spec asks) before the driver loads. Without the permissions to do so, leave it as it is.
 */
export function ensureRuntimeDir(): void {
  if (Deno.build.os !== "linux") return;
  try {
    const current = Deno.env.get("XDG_RUNTIME_DIR");
    if (current && Deno.statSync(current).isDirectory) return;
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) return;
    // A stale path: fall through and replace it.
  }
  try {
    const tmp = Deno.env.get("TMPDIR") || "/tmp";
    const dir = `${tmp}/simclr-ts-runtime-${Deno.uid() ?? "user"}`;
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Deno.chmodSync(dir, 0o700);
    Deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch {
    // No write or env permission: the warning stays, and WebGPU works regardless.
  }
}

/**
 * Asks `navigator.gpu` for a high-performance adapter. Returns null when Deno exposes no WebGPU or
 * no adapter exists. Deno 2.9 needs no flag for `navigator.gpu` (older Deno needed
 * `--unstable-webgpu`).
 */
export async function probeWebGpu(): Promise<WebGpuProbe | null> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (gpu === undefined) return null;
  ensureRuntimeDir();
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (adapter === null) return null;
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const legacy = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  // Deno fills `description` (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"); vendor is a PCI id.
  const description = info.description ||
    [info.vendor, info.architecture].filter((s) => s).join(" ");
  // Deno 2.9 sets isFallbackAdapter for CPU devices (lavapipe: true); the vendor id and the name
  // cover runtimes that leave it false.
  const software = info.isFallbackAdapter === true || legacy === true ||
    SOFTWARE_VENDOR_IDS.has(Number(info.vendor)) || SOFTWARE_ADAPTERS.test(description);
  return { description: description || "unnamed adapter", software };
}

/**
 * Sets up the WebGPU engine (`@tensorflow/tfjs-backend-webgpu` on Deno's `navigator.gpu`). A
 * software adapter is accepted here (it is correct, only slow); `auto` skips it.
 */
export async function loadWebGpu(probe?: WebGpuProbe | null): Promise<LoadedEngine> {
  const adapter = probe === undefined ? await probeWebGpu() : probe;
  if (adapter === null) {
    throw new EngineUnavailableError(
      "webgpu",
      "webgpu engine: navigator.gpu offers no adapter. Install a Vulkan driver (a GPU vendor's, " +
        "or Debian's mesa-vulkan-drivers for the slow software lavapipe) or pick --engine wasm.",
    );
  }
  await import("@tensorflow/tfjs-backend-webgpu");
  let ok = false;
  try {
    ok = await tf.setBackend("webgpu");
  } catch (e) {
    throw new EngineUnavailableError("webgpu", `webgpu engine failed to start: ${firstLine(e)}`);
  }
  if (!ok) {
    throw new EngineUnavailableError(
      "webgpu",
      `webgpu engine: TF.js could not initialise WebGPU on ${adapter.description}`,
    );
  }
  const kind = adapter.software ? "software adapter, correct but slow" : "hardware adapter";
  return {
    engine: "webgpu",
    tfBackend: "webgpu",
    reason: `webgpu: ${adapter.description} (${kind})`,
  };
}

let wasmPathsSet = false;

/** The folder of TF.js wasm's `.wasm` files that `deno task pack` puts beside a bundle. */
export const BUNDLED_WASM_DIR = "tfjs-wasm/";

/**
 * Where TF.js wasm's `.wasm` files are: the package's own `dist/` folder, found with
 * `import.meta.resolve`, or, in a bundle (`deno task pack`), where no package resolves and
 * `import.meta.url` is the bundle, the {@linkcode BUNDLED_WASM_DIR} folder beside it.
 */
function wasmFolder(): string {
  let entry = "";
  try {
    entry = import.meta.resolve("@tensorflow/tfjs-backend-wasm");
  } catch {
    // A bundle run without deno.json: no import map, so the bare name does not resolve.
  }
  if (entry.startsWith("file:")) return new URL("./", entry).href;
  const beside = new URL(`./${BUNDLED_WASM_DIR}`, import.meta.url);
  try {
    Deno.statSync(new URL("tfjs-backend-wasm.wasm", beside));
    return beside.href;
  } catch {
    // Neither: say what is needed for the usual, unbundled case.
  }
  throw new EngineUnavailableError(
    "wasm",
    `wasm engine: @tensorflow/tfjs-backend-wasm resolved to ${entry || "nothing"}, not a file, ` +
      `and no ${BUNDLED_WASM_DIR} folder is beside ${import.meta.url}; set ` +
      `"nodeModulesDir": "auto" in deno.json so its .wasm files are on disk`,
  );
}

/**
 * Sets up the wasm engine (`@tensorflow/tfjs-backend-wasm`, SIMD, one thread: Deno offers no
 * cross-origin-isolated SharedArrayBuffer workers for its threaded build). The `.wasm` files are
 * loaded from the package's own `dist/` folder, or beside a bundle (see `wasmFolder`).
 */
export async function loadWasm(): Promise<LoadedEngine> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  if (!wasmPathsSet) {
    wasm.setWasmPaths(wasmFolder());
    wasmPathsSet = true;
  }
  let ok = false;
  try {
    ok = await tf.setBackend("wasm");
  } catch (e) {
    throw new EngineUnavailableError("wasm", `wasm engine failed to start: ${firstLine(e)}`);
  }
  if (!ok) throw new EngineUnavailableError("wasm", "wasm engine: TF.js could not initialise wasm");
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
  return {
    engine: "wasm",
    tfBackend: "wasm",
    reason: `wasm: XNNPACK ${simd ? "with SIMD" : "without SIMD"}, single thread`,
  };
}

/**
 * Sets up `engine`. `auto` tries cuda, then webgpu on a hardware adapter, then wasm, and its
 * reason names why each earlier choice was skipped.
 */
export async function loadEngine(engine: Engine = "auto"): Promise<LoadedEngine> {
  if (!ENGINES.includes(engine)) {
    throw new Error(`unknown engine "${engine}": expected one of ${ENGINES.join(", ")}`);
  }
  if (engine === "cuda") return await loadCuda();
  if (engine === "webgpu") return await loadWebGpu();
  if (engine === "wasm") return await loadWasm();
  const skipped: string[] = [];
  try {
    return await loadCuda();
  } catch (e) {
    const text = firstLine(e).replace(/\. To use --engine cuda.*$/, "").replace(
      /^cuda engine: /,
      "",
    );
    skipped.push(`cuda unavailable (${text})`);
  }
  const probe = await probeWebGpu();
  if (probe === null) skipped.push("no WebGPU adapter");
  else if (probe.software) skipped.push(`WebGPU adapter is software (${probe.description})`);
  else {
    try {
      const loaded = await loadWebGpu(probe);
      return { ...loaded, reason: `${loaded.reason}; ${skipped.join("; ")}` };
    } catch (e) {
      skipped.push(`webgpu failed (${firstLine(e)})`);
    }
  }
  const loaded = await loadWasm();
  return { ...loaded, reason: `${loaded.reason}; ${skipped.join("; ")}` };
}
