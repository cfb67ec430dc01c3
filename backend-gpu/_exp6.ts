const spec = "@tensorflow/tfjs-node-gpu";
try {
  const m = await import(spec);
  console.log("loaded", Object.keys(m).length);
} catch (e) {
  console.log("ERR name", (e as Error).name, "msg:", (e as Error).message.slice(0, 1500));
  console.log("code", (e as any).code);
}
