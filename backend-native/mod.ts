/**
 * The native CPU backend of simclr-ts: every `Backend` kernel in C++ (blocked AVX-512/AVX2 SGEMM,
 * implicit-im2col convolutions, broadcasting elementwise ops, reductions, fused batch norm),
 * compiled on first use with the machine's `g++ -O3 -march=native -fopenmp` into `.build/` and
 * called through Deno's FFI (needs `--allow-ffi` and `--allow-run` for the compiler, or `-A`).
 * Debian needs the `g++` package.
 *
 * @example
 * ```ts
 * import { createNativeBackend } from "@simclr/backend-native";
 * const native = await createNativeBackend({ threads: 2 });
 * const a = native.upload(new Float32Array([1, 2, 3, 4]), [2, 2]);
 * const c = native.matMul(a, a, false, true); // a·aᵀ
 * console.log(await native.read(c)); // [5, 11, 11, 25]
 * ```
 *
 * @module
 */
export { type CpuFeatures, NativeBackend } from "./native_backend.ts";
export { CONV_ALGORITHMS, type ConvAlgorithm } from "./ffi.ts";
export { createNativeBackend, type NativeBackendOptions } from "./create.ts";
export { bf16Refusal, describeFeatures } from "./precision.ts";
export {
  buildNativeLibrary,
  type BuildOptions,
  buildPortableLibraries,
  COMPILE_FLAGS,
  MODULE_BUILD_DIR,
  nativeCacheDir,
  pickPortableTarget,
  PORTABLE_TARGETS,
  portableLibraryName,
  userNativeDir,
} from "./build.ts";
