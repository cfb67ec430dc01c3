import * as tf from "@tensorflow/tfjs-core";
import * as wasm from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
try { console.log(import.meta.resolve("@tensorflow/tfjs-backend-wasm")); } catch (e) { console.log("resolve err", e); }
const req = createRequire(import.meta.url);
try { console.log(req.resolve("@tensorflow/tfjs-backend-wasm")); } catch (e) { console.log("req err", String(e)); }
const dir = new URL("../node_modules/@tensorflow/tfjs-backend-wasm/dist/", import.meta.url);
wasm.setWasmPaths(dir.href);
await tf.setBackend("wasm");
console.log(tf.env().features);
console.log(tf.env().getAsync ? await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT") : "");
console.log(await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"));
const kern = ["Conv2DBackpropFilter","Conv2DBackpropInput","MaxPoolGrad","Step","Conv2D","MaxPool","GatherV2","PadV2","Maximum","Sum","Max","Transpose","Concat","Slice","BatchMatMul","Greater","Cast","Relu","Sqrt","Log","Exp","Neg","RealDiv","Sub","Mul","Add", "Reshape"];
for (const k of kern) console.log(k, !!tf.getKernel(k, "wasm"));
