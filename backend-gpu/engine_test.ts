import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import type { DeviceTensor } from "@simclr/core";
import {
  createGpuBackend,
  EngineUnavailableError,
  ensureRuntimeDir,
  type GpuBackend,
  loadCuda,
  loadEngine,
  probeWebGpu,
} from "./mod.ts";
import { ENGINE_CASES, randomArray } from "./test_util.ts";

/** Every fix the CUDA error must spell out. */
function assertCudaHowto(message: string): void {
  for (
    const needle of [
      "--allow-scripts=npm:@tensorflow/tfjs-node-gpu",
      "--allow-ffi",
      "CUDA 11.2",
      "cuDNN 8.1",
      "NVIDIA driver",
      "LD_LIBRARY_PATH",
    ]
  ) {
    ok(message.includes(needle), `cuda error lacks "${needle}": ${message}`);
  }
}

function hasNvidiaDriver(): boolean {
  try {
    Deno.dlopen("libcuda.so.1", {}).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "cuda: without an NVIDIA driver the error names libcuda.so.1 and every fix",
  ignore: hasNvidiaDriver(),
  fn: async () => {
    const error = await rejects(createGpuBackend({ engine: "cuda" }), (e: unknown) => {
      ok(e instanceof EngineUnavailableError, String(e));
      equal(e.engine, "cuda");
      match(e.message, /cannot load the NVIDIA driver \(libcuda\.so\.1\)/);
      match(e.message, /cuDNN 8\.1 \(libcudnn\.so\.8\)/);
      assertCudaHowto(e.message);
      return true;
    });
    equal(error, undefined);
  },
});

Deno.test("cuda: a package that is not installed is reported as such", async () => {
  await rejects(
    loadCuda({ packageName: "@tensorflow/tfjs-node-gpu-not-a-package", libraries: [] }),
    (e: unknown) => {
      ok(e instanceof EngineUnavailableError);
      match(e.message, /npm package @tensorflow\/tfjs-node-gpu-not-a-package is not installed/);
      assertCudaHowto(e.message);
      return true;
    },
  );
});

Deno.test({
  name: "cuda: the package installed without its install script is reported, wasm still works",
  // Where the addon was built the import would succeed; this checks the common failure here.
  ignore: hasNvidiaDriver(),
  fn: async () => {
    await rejects(loadCuda({ libraries: [] }), (e: unknown) => {
      ok(e instanceof EngineUnavailableError);
      match(e.message, /installed without its native addon/);
      assertCudaHowto(e.message);
      return true;
    });
    const gpu = await createGpuBackend({ engine: "wasm" });
    const t = gpu.upload(new Float32Array([1, -2]), [2]);
    const r = gpu.unary("relu", t);
    deepEqual(Array.from(await gpu.read(r)), [1, 0]);
    [t, r].forEach((x) => gpu.dispose(x));
  },
});

Deno.test("auto: picks webgpu only on a hardware adapter, else wasm, and says why", async () => {
  const probe = await probeWebGpu();
  const loaded = await loadEngine("auto");
  if (!hasNvidiaDriver()) match(loaded.reason, /cuda unavailable \(cannot load the NVIDIA driver/);
  if (probe === null || probe.software) {
    equal(loaded.engine, "wasm");
    match(loaded.reason, probe === null ? /no WebGPU adapter/ : /WebGPU adapter is software/);
  } else {
    equal(loaded.engine, "webgpu");
  }
  equal(loaded.reason.includes("\n"), false);
});

Deno.test("unknown engine names the choices", async () => {
  await rejects(
    createGpuBackend({ engine: "tpu" as "wasm" }),
    /unknown engine "tpu": expected one of auto, cuda, webgpu, wasm/,
  );
});

/** Runs every kernel once on small inputs and disposes all outputs. */
async function everyKernel(gpu: GpuBackend): Promise<void> {
  const out: DeviceTensor[] = [];
  const keep = (t: DeviceTensor) => (out.push(t), t);
  const x = keep(gpu.upload(randomArray(2 * 5 * 5 * 3, 1), [2, 5, 5, 3]));
  const w = keep(gpu.upload(randomArray(3 * 3 * 3 * 4, 2), [3, 3, 3, 4]));
  const g = { stride: 2, pad: 1 };
  const y = keep(gpu.conv2d(x, w, g));
  keep(gpu.conv2dGradInput(y, w, x.shape, g));
  keep(gpu.conv2dGradFilter(x, y, w.shape, g));
  for (const pool of [{ size: 2, stride: 2 }, { size: 3, stride: 1 }]) {
    const p = keep(gpu.maxPool(x, pool));
    keep(gpu.maxPoolGrad(p, x, pool));
  }
  const m = keep(gpu.reshape(x, [10, 15]));
  keep(gpu.matMul(m, m, false, true));
  for (const op of ["neg", "exp", "log", "sqrt", "relu", "step"] as const) keep(gpu.unary(op, m));
  const row = keep(gpu.reduce("max", m, [0], true));
  for (const op of ["add", "sub", "mul", "div"] as const) keep(gpu.binary(op, m, row));
  keep(gpu.reduce("sum", m, [1], false));
  keep(gpu.reduce("sum", m, [], false));
  keep(gpu.broadcastTo(row, [3, 10, 15]));
  keep(gpu.concat([m, m], 1));
  keep(gpu.slice(m, [1, 2], [3, 4]));
  keep(gpu.pad(m, [[1, 2], [0, 1]]));
  keep(gpu.pad(keep(gpu.reshape(m, [2, 5, 3, 5, 1])), [[0, 0], [1, 0], [0, 0], [0, 1], [0, 0]]));
  await gpu.read(out[out.length - 1]);
  out.forEach((t) => gpu.dispose(t));
}

for (const c of ENGINE_CASES) {
  Deno.test({
    name: `${c.engine}: liveTensors stays flat over repeated calls of every kernel`,
    ignore: c.skip !== null,
    fn: async () => {
      const gpu = await c.get();
      await everyKernel(gpu); // first call may create engine-level constants
      const before = gpu.liveTensors();
      for (let i = 0; i < 3; i++) await everyKernel(gpu);
      equal(gpu.liveTensors(), before);
    },
  });
}

Deno.test({
  name: "wasm and webgpu backends coexist in one process",
  ignore: ENGINE_CASES.some((c) => c.skip !== null),
  fn: async () => {
    const [wasm, webgpu] = await Promise.all(ENGINE_CASES.map((c) => c.get()));
    const a = wasm.upload(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const b = webgpu.upload(new Float32Array([1, 2, 3, 4]), [2, 2]);
    for (let i = 0; i < 2; i++) {
      const ya = wasm.matMul(a, a, false, true);
      const yb = webgpu.matMul(b, b, false, true);
      deepEqual(Array.from(await wasm.read(ya)), [5, 11, 11, 25]);
      deepEqual(Array.from(await webgpu.read(yb)), [5, 11, 11, 25]);
      [ya, yb].forEach((t) => t === ya ? wasm.dispose(t) : webgpu.dispose(t));
    }
    throws(
      () => wasm.unary("neg", b),
      /tfjs-wasm backend unary neg: argument x is not a tensor of this tfjs-wasm backend/,
    );
    wasm.dispose(a);
    webgpu.dispose(b);
  },
});

Deno.test("without XDG_RUNTIME_DIR the WebGPU probe first points it at a private folder", () => {
  const saved = Deno.env.get("XDG_RUNTIME_DIR");
  try {
    Deno.env.delete("XDG_RUNTIME_DIR");
    ensureRuntimeDir();
    const dir = Deno.env.get("XDG_RUNTIME_DIR");
    ok(dir, "XDG_RUNTIME_DIR is set");
    const info = Deno.statSync(dir);
    ok(info.isDirectory);
    equal((info.mode ?? 0) & 0o777, 0o700);
    // A valid folder is left as it is.
    Deno.env.set("XDG_RUNTIME_DIR", Deno.cwd());
    ensureRuntimeDir();
    equal(Deno.env.get("XDG_RUNTIME_DIR"), Deno.cwd());
  } finally {
    if (saved === undefined) Deno.env.delete("XDG_RUNTIME_DIR");
    else Deno.env.set("XDG_RUNTIME_DIR", saved);
  }
});
