import * as tf from "@tensorflow/tfjs-core";
import * as wasm from "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-backend-webgpu";
wasm.setWasmPaths(new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm")).href);
for (const be of ["wasm", "webgpu"]) {
  await tf.setBackend(be);
  // 1x4x4x1 with ties in each window; overlapping 3x3 stride 1 too
  const x = tf.tensor4d([1,3,3,2, 0,3,1,1, 2,2,2,2, 5,0,5,1], [1,4,4,1]);
  for (const [size, stride] of [[2,2],[3,1]]) {
    const y = tf.maxPool(x, size, stride, "valid");
    const dy = tf.onesLike(y);
    const g = tf.engine().runKernel("MaxPoolGrad", {dy, input: x, output: y}, {filterSize: size, strides: stride, pad: "valid"}) as tf.Tensor;
    console.log(be, size, stride, await y.data(), await g.data());
  }
  const z = tf.tensor4d([2,2,2,2], [1,2,2,1]);
  const yz = tf.maxPool(z, 2, 2, "valid");
  const gz = tf.engine().runKernel("MaxPoolGrad", {dy: tf.onesLike(yz), input: z, output: yz}, {filterSize: 2, strides: 2, pad: "valid"}) as tf.Tensor;
  console.log(be, "all tie", await gz.data());
  console.log(be, "sum empty axes", await tf.sum(tf.tensor1d([1,2]), []).data());
  console.log(be, "explicit pad conv", await tf.conv2d(tf.ones([1,3,3,1]) as tf.Tensor4D, tf.ones([3,3,1,1]) as tf.Tensor4D, 1, [[0,0],[1,1],[1,1],[0,0]]).data());
  console.log(be, "dilated conv", await tf.conv2d(tf.ones([1,5,5,1]) as tf.Tensor4D, tf.ones([2,2,1,1]) as tf.Tensor4D, 1, [[0,0],[1,0],[1,0],[0,0]], "NHWC", 2).data());
}
