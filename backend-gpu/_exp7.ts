import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-webgpu";
await tf.setBackend("webgpu");
const order = Deno.args[0];
const y = tf.reshape(tf.range(1, 7), [2,3,1,1]);
const x = tf.reshape(tf.range(1, 7), [1,2,3,1,1,1]);
const x5 = tf.reshape(tf.range(1, 7), [1,2,3,1,1]);
const run4 = async () => console.log("4d", await tf.pad(y, [[0,0],[0,1],[0,0],[0,1]]).data());
const run6 = async () => console.log("6d", await tf.pad(x, [[0,0],[0,0],[0,1],[0,0],[0,0],[0,0]]).data());
const run5 = async () => console.log("5d", await tf.pad(x5, [[0,0],[0,0],[0,1],[0,0],[0,0]]).data());
if (order === "46") { await run4(); await run6(); } else if (order === "5") { await run5(); await run6(); } else { await run6(); await run4(); }
