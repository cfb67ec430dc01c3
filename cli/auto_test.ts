// `--backend auto`: the order, the reasons, and what the CLIs print, with injected probe results.
import assert from "node:assert/strict";
import type { Backend } from "@simclr/core";
import { createRefBackend } from "@simclr/backend-ref";
import {
  AUTO_ORDER,
  type AutoEngine,
  NoBackendError,
  type Opener,
  reasonOf,
  requireHardwareAdapter,
  selectAuto,
} from "./auto.ts";
import { chooseBackend, CPU_ENGINE_HINT } from "./backends.ts";

/** Openers that succeed with their name for `ok` engines and throw `reasons[e]` otherwise. */
function fake(
  ok: AutoEngine[],
  reasons: Partial<Record<AutoEngine, string>> = {},
): { candidates: Record<AutoEngine, Opener<string>>; tried: AutoEngine[] } {
  const tried: AutoEngine[] = [];
  const candidates = {} as Record<AutoEngine, Opener<string>>;
  for (const engine of AUTO_ORDER) {
    candidates[engine] = () => {
      tried.push(engine);
      if (ok.includes(engine)) return Promise.resolve(engine);
      return Promise.reject(new Error(reasons[engine] ?? `${engine} missing`));
    };
  }
  return { candidates, tried };
}

Deno.test("auto: the order is cuda, webgpu, native, wasm", () => {
  assert.deepEqual([...AUTO_ORDER], ["cuda", "webgpu", "native", "wasm"]);
});

Deno.test("auto: a CPU machine with g++ picks native and says why cuda and webgpu were passed over", async () => {
  const { candidates, tried } = fake(["native", "wasm"], {
    cuda: "cannot load the NVIDIA driver (libcuda.so.1)",
    webgpu: "no hardware WebGPU adapter (llvmpipe (LLVM 15.0.6, 256 bits) is a CPU one)",
  });
  const s = await selectAuto(candidates);
  assert.equal(s.engine, "native");
  assert.equal(s.value, "native");
  // wasm is never opened once native works: opening costs time and memory.
  assert.deepEqual(tried, ["cuda", "webgpu", "native"]);
  assert.deepEqual(s.skipped, [
    { engine: "cuda", reason: "cannot load the NVIDIA driver (libcuda.so.1)" },
    {
      engine: "webgpu",
      reason: "no hardware WebGPU adapter (llvmpipe (LLVM 15.0.6, 256 bits) is a CPU one)",
    },
  ]);
});

Deno.test("auto: each engine wins exactly when every faster one fails", async () => {
  for (let i = 0; i < AUTO_ORDER.length; i++) {
    const { candidates, tried } = fake(AUTO_ORDER.slice(i) as AutoEngine[]);
    const s = await selectAuto(candidates);
    assert.equal(s.engine, AUTO_ORDER[i]);
    assert.deepEqual(s.skipped.map((k) => k.engine), AUTO_ORDER.slice(0, i));
    assert.deepEqual(tried, AUTO_ORDER.slice(0, i + 1));
  }
});

Deno.test("auto: without g++ a CPU machine falls to wasm, naming the missing compiler", async () => {
  const { candidates } = fake(["wasm"], {
    native:
      'native backend: C++ compiler "g++" not found; install it with `apt-get install -y g++`',
  });
  const s = await selectAuto(candidates);
  assert.equal(s.engine, "wasm");
  assert.equal(
    s.skipped.find((k) => k.engine === "native")?.reason,
    'C++ compiler "g++" not found; install it with `apt-get install -y g++`',
  );
});

Deno.test("auto: a hardware adapter wins over native; a missing opener reads as not in this build", async () => {
  const { candidates } = fake(["webgpu", "native", "wasm"]);
  const s = await selectAuto({ webgpu: candidates.webgpu, native: candidates.native });
  assert.equal(s.engine, "webgpu");
  assert.deepEqual(s.skipped, [{ engine: "cuda", reason: "not available in this build" }]);
});

Deno.test("auto: when nothing opens, the error lists every reason", async () => {
  const { candidates } = fake([]);
  await assert.rejects(selectAuto(candidates), (e: unknown) => {
    assert.ok(e instanceof NoBackendError);
    assert.equal(e.skipped.length, 4);
    assert.match(e.message, /cuda: cuda missing; webgpu: webgpu missing; native: native missing/);
    return true;
  });
});

Deno.test("auto: reasons are the first line without the engine's own prefix or full stop", () => {
  assert.equal(reasonOf(new Error("webgpu engine: no adapter.\nmore text")), "no adapter");
  assert.equal(reasonOf("plain"), "plain");
  assert.equal(reasonOf(new Error("")), "failed without a message");
});

Deno.test("auto: a software WebGPU adapter (lavapipe, SwiftShader) is passed over, a hardware one kept", () => {
  assert.throws(() => requireHardwareAdapter(null), /no WebGPU adapter/);
  assert.throws(
    () =>
      requireHardwareAdapter({ description: "llvmpipe (LLVM 15.0.6, 256 bits)", software: true }),
    /no hardware WebGPU adapter \(llvmpipe \(LLVM 15\.0\.6, 256 bits\) is a CPU one\)/,
  );
  const h200 = { description: "NVIDIA H200", software: false };
  assert.equal(requireHardwareAdapter(h200), h200);
});

Deno.test("chooseBackend auto: prints the choice and each reason; wasm brings the g++ hint", async () => {
  const ref = createRefBackend();
  const fail = (m: string): Opener<Backend> => () => Promise.reject(new Error(m));
  const chosen = await chooseBackend("auto", "auto", {
    autoCandidates: {
      cuda: fail(
        "cuda engine: cannot load the NVIDIA driver (libcuda.so.1). To use --engine cuda…",
      ),
      webgpu: fail("no WebGPU adapter (navigator.gpu offers none)"),
      native: () => Promise.resolve(ref),
    },
  });
  assert.equal(chosen.engine, "native");
  assert.equal(chosen.backend, ref);
  assert.equal(chosen.hint, undefined);
  const lines = (chosen.selection ?? "").split("\n");
  assert.match(lines[0], /^backend auto: chose native \(ref: /);
  assert.equal(
    lines[1],
    "  passed over cuda: cannot load the NVIDIA driver (libcuda.so.1). To use --engine cuda…",
  );
  assert.equal(lines[2], "  passed over webgpu: no WebGPU adapter (navigator.gpu offers none)");
  assert.equal(lines.length, 3);

  const onWasm = await chooseBackend("auto", "auto", {
    autoCandidates: { native: fail("compiler missing"), wasm: () => Promise.resolve(ref) },
  });
  assert.equal(onWasm.engine, "wasm");
  assert.equal(onWasm.hint, CPU_ENGINE_HINT);
  assert.match(onWasm.hint ?? "", /apt-get install g\+\+/);
  assert.match(onWasm.selection ?? "", /passed over native: compiler missing/);
});
