/**
 * The C entry points of `csrc/kernels.cpp` as Deno FFI symbol definitions, and the loader.
 * Integer arrays (shapes, strides, geometry) travel as one `Int32Array` "buffer" argument; counts
 * and offsets are 32-bit, so a tensor holds fewer than 2³¹ elements (checked on allocation).
 *
 * @module
 */

import type { BinaryOp, UnaryOp } from "@simclr/core";

/** Codes of the unary ops in `nb_unary` (kernels.cpp). */
export const UNARY_CODES: Record<UnaryOp, number> = {
  neg: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  relu: 4,
  step: 5,
};
/** Codes of the binary ops in `nb_binary` (kernels.cpp). */
export const BINARY_CODES: Record<BinaryOp, number> = {
  add: 0,
  sub: 1,
  mul: 2,
  div: 3,
};
/** The convolution algorithms, indexed by `nb_conv_algorithm`'s codes (ConvAlgorithm in conv.h). */
export const CONV_ALGORITHMS = ["im2col", "direct", "rows", "winograd", "col2im"] as const;
/** A convolution algorithm of the native backend (see {@linkcode CONV_ALGORITHMS}). */
export type ConvAlgorithm = typeof CONV_ALGORITHMS[number];
/** Highest rank the C strided kernels take (`MAX_RANK` in kernels.cpp). */
export const MAX_RANK = 16;

/** Symbol table handed to `Deno.dlopen`. */
export const SYMBOLS = {
  nb_alloc: { parameters: ["i32"], result: "pointer" },
  nb_free: { parameters: ["pointer"], result: "void" },
  nb_set_threads: { parameters: ["i32"], result: "void" },
  nb_get_threads: { parameters: [], result: "i32" },
  nb_simd_width: { parameters: [], result: "i32" },
  nb_cpu_features: { parameters: [], result: "i32" },
  // threads, seconds per run, runs, out (2 doubles)
  nb_peak_gflops: { parameters: ["i32", "f64", "i32", "buffer"], result: "void" },
  nb_fill: { parameters: ["pointer", "i32", "f32"], result: "void" },
  nb_copy: { parameters: ["pointer", "pointer", "i32"], result: "void" },
  nb_matmul: {
    parameters: [
      "pointer",
      "pointer",
      "pointer",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
    ],
    result: "void",
  },
  nb_conv_algorithm: { parameters: ["i32", "buffer"], result: "i32" },
  nb_conv2d: {
    parameters: ["pointer", "pointer", "pointer", "buffer"],
    result: "void",
  },
  nb_conv2d_grad_input: {
    parameters: ["pointer", "pointer", "pointer", "buffer"],
    result: "void",
  },
  nb_conv2d_grad_filter: {
    parameters: ["pointer", "pointer", "pointer", "buffer"],
    result: "void",
  },
  nb_maxpool: { parameters: ["pointer", "pointer", "buffer"], result: "void" },
  nb_maxpool_grad: {
    parameters: ["pointer", "pointer", "pointer", "buffer"],
    result: "void",
  },
  nb_unary: {
    parameters: ["i32", "pointer", "pointer", "i32"],
    result: "void",
  },
  nb_binary: {
    parameters: ["i32", "pointer", "pointer", "pointer", "buffer"],
    result: "void",
  },
  nb_copy_strided: {
    parameters: ["pointer", "i32", "pointer", "i32", "buffer"],
    result: "void",
  },
  nb_reduce: {
    parameters: ["i32", "pointer", "pointer", "buffer"],
    result: "void",
  },
  // x, gamma, beta, y, mean, variance, rows, channels, eps
  nb_batchnorm: {
    parameters: [
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "i32",
      "i32",
      "f64",
    ],
    result: "void",
  },
  // dy, x, mean, variance, gamma, dx, dGamma, dBeta, rows, channels, eps
  nb_batchnorm_grad: {
    parameters: [
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "i32",
      "i32",
      "f64",
    ],
    result: "void",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded library's functions. */
export type NativeLib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Opens the compiled library at `path`; the error names the path and the `--allow-ffi` need. */
export function loadLibrary(path: string): Deno.DynamicLibrary<typeof SYMBOLS> {
  try {
    return Deno.dlopen(path, SYMBOLS);
  } catch (e) {
    const hint = e instanceof Deno.errors.NotCapable ||
        e instanceof Deno.errors.PermissionDenied
      ? " (run deno with --allow-ffi, or -A)"
      : "";
    throw new Error(
      `native backend: cannot load ${path}${hint}: ${(e as Error).message}`,
    );
  }
}
