// Kernels of the native CPU backend: a blocked SGEMM (packed panels, register-tiled micro-kernel
// written with GCC vector extensions so -march=native picks AVX-512, AVX2 or SSE), convolutions
// as implicit-im2col GEMMs, direct kernels or Winograd transforms around GEMMs, max pooling, broadcasting elementwise ops, reductions, strided
// copies and fused batch norm. Parallel loops use OpenMP. Every entry point is `extern "C"` and
// called through Deno's FFI from native_backend.ts, which validates shapes before calling;
// nothing here allocates tensors (outputs are passed in), only scratch buffers that live for the
// process.
//
// Numerics: products accumulate in float32 inside the GEMM (in KC-long register runs); long
// reductions (reduce sum, convolution filter gradients, batch-norm sums) accumulate in double, so
// results stay within ~1e-6 relative of the float64 reference.
//
// The kernels live in one file per family beside this one; this file includes them in order, so
// the library is still one translation unit built by one command (backend-native/build.ts), and
// the build key hashes every file in this folder.

#include "common.h"       // headers, tile macros, scratch memory, threads, nb_alloc/nb_fill/...
#include "gemm.h"         // packing, micro-kernels, nb_matmul
#include "conv.h"         // im2col, direct (conv_direct.h), Winograd (winograd.h), nb_conv2d + grads
#include "pool.h"         // nb_maxpool, nb_maxpool_grad
#include "elementwise.h"  // nb_unary, nb_binary, nb_copy_strided
#include "reduce.h"       // nb_reduce
#include "batchnorm.h"    // nb_batchnorm, nb_batchnorm_grad
#include "machine.h"      // nb_cpu_features, nb_peak_gflops
