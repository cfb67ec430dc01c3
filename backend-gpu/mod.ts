/**
 * The TF.js backend of simclr-ts: the `Backend` kernels of `@simclr/core` on TensorFlow.js 4.22
 * (`@tensorflow/tfjs-core` plus one engine package), selectable with an {@linkcode Engine}.
 *
 * Engines:
 * - `cuda` — `@tensorflow/tfjs-node-gpu` (libtensorflow 2.9.1). Its npm install script downloads
 *   libtensorflow and the native addon, so install it with
 *   `deno install --allow-scripts=npm:@tensorflow/tfjs-node-gpu`, run with `--allow-ffi` (or
 *   `-A`), and provide an NVIDIA driver, CUDA 11.2 and cuDNN 8.1 on `LD_LIBRARY_PATH`. It is
 *   imported lazily (by a variable specifier, so type checking and the other engines never need
 *   it); before importing, the driver/CUDA/cuDNN libraries are probed with `Deno.dlopen` because
 *   libtensorflow would otherwise fall back to the CPU silently. The error names each missing
 *   piece and the fix.
 * - `webgpu` — `@tensorflow/tfjs-backend-webgpu` on Deno's built-in `navigator.gpu` (no flag
 *   needed in Deno 2.9; older Deno needed `--unstable-webgpu`). Mesa prints
 *   `XDG_RUNTIME_DIR is invalid` to stderr on headless Linux unless that variable names a folder;
 *   the probe points it at a private one first (see `ensureRuntimeDir`). On machines without
 *   a GPU, Debian's `mesa-vulkan-drivers` provides lavapipe/llvmpipe, a software Vulkan device:
 *   correct but slow, and reported as a fallback adapter.
 * - `wasm` — `@tensorflow/tfjs-backend-wasm` (XNNPACK) with SIMD, one thread (the threaded build
 *   needs cross-origin-isolated workers, which Deno does not provide). Its `.wasm` files are loaded
 *   from the package's `dist/` folder under `node_modules` (root deno.json has
 *   `"nodeModulesDir": "auto"`), located with `import.meta.resolve`.
 * - `auto` (default) — cuda if it loads, else webgpu on a hardware adapter (fallback/software
 *   adapters such as lavapipe are skipped), else wasm. {@linkcode GpuBackend.reason} says which and
 *   why in one line, for CLIs to print first.
 *
 * Kernel notes: both conv gradients are composed from forward `tf.conv2d` (the wasm engine has
 * no `Conv2DBackpropFilter`; its stock `Conv2DBackpropInput` measured 3–10× slower than the
 * composition): the filter gradient correlates the batch/channel-swapped input with the swapped,
 * dilated `dy`; the input gradient correlates padded `dy` with the flipped filter, and for stride s
 * > 1 splits the output into s² phases so no multiply hits an inserted zero (2.3× faster than
 * dilating `dy` at k 3, stride 2). `maxPoolGrad` is composed because TF.js's `MaxPoolGrad` routes a
 * tie to the LAST maximum of a window (measured on wasm and webgpu) while the reference routes it
 * to the first. `step` is `tf.step` (0 at exactly 0, NaN stays NaN). Two TF.js WebGPU bugs seen on
 * lavapipe are avoided: pads of rank > 4 returned zeros (rewritten as rank ≤ 4 pads), and `addN`
 * of more inputs than the per-stage storage-buffer limit (8) wrote nothing (summed in groups of 4).
 *
 * wasm only: `reduce("sum")` over contiguous axes is a two-level `viewᵀ·ones` matrix product
 * (the stock sum accumulated sequentially in float32 — batch norm's backward amplified that to 1%
 * gradient differences from the reference in early ResNet layers — and transposed first: 17 ms
 * against 3 ms for a `[32,32,32,64]` batch-norm sum), and `broadcastTo` is an outer product with
 * ones or `0 + x` (the stock Tile-based one took 1.8 s for `[1,1,1,64]` → `[512,32,32,64]`).
 * `matMul` with a transpose flag transposes explicitly first (the flagged kernel skips XNNPACK:
 * 2 against 27 GFLOP/s at 1024³), and strided views are rank-4 slices (wasm's `StridedSlice` and
 * slices of rank > 4 run element by element in JavaScript, ~1 s per 2M elements — so core should
 * keep its own slices at rank ≤ 4).
 *
 * Memory: the wasm engine's heap is capped at 4 GiB (wasm32); past it a kernel traps and the
 * backend throws an error saying so (the engine is unusable afterwards), so pick the batch size
 * accordingly. {@linkcode GpuBackend.liveTensors} counts TF.js tensors of the whole process.
 *
 * @example
 * ```ts
 * import { createGpuBackend } from "@simclr/backend-gpu";
 * const gpu = await createGpuBackend({ engine: "wasm" });
 * console.log(gpu.name, "—", gpu.reason);
 * const a = gpu.upload(new Float32Array([1, 2, 3, 4]), [2, 2]);
 * const c = gpu.matMul(a, a, false, true); // a·aᵀ
 * console.log(await gpu.read(c)); // [5, 11, 11, 25]
 * ```
 *
 * @module
 */
export { createGpuBackend, GpuBackend, type GpuBackendOptions } from "./gpu_backend.ts";
export {
  BUNDLED_WASM_DIR,
  type ConcreteEngine,
  CUDA_HOWTO,
  type Engine,
  ENGINES,
  EngineUnavailableError,
  ensureRuntimeDir,
  loadCuda,
  type LoadCudaOptions,
  type LoadedEngine,
  loadEngine,
  probeWebGpu,
  type SharedLibrary,
  type WebGpuProbe,
} from "./engines.ts";
