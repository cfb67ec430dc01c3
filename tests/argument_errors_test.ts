// Every backend refuses bad arguments with the reference's messages (all apply core/shapes.ts),
// and leaks nothing doing so.
import assert from "node:assert/strict";
import { argumentErrors, createRefBackend } from "@simclr/backend-ref";
import { createGpuBackend } from "@simclr/backend-gpu";
import { createNativeBackend } from "@simclr/backend-native";
import type { Backend } from "@simclr/core";

const expected = argumentErrors(createRefBackend());

Deno.test("ref: every bad call throws, naming the kernel", () => {
  assert.equal(expected.filter((m) => m.startsWith("no error")).join(), "");
  assert.ok(expected.every((m) => m.startsWith("<backend> ")), expected.join("\n"));
  assert.ok(
    expected.includes("<backend> maxPoolGrad: dy [1,4,4,2] should be the output shape [1,2,2,2]"),
  );
});

function check(backend: Backend): void {
  const before = backend.liveTensors();
  assert.deepEqual(argumentErrors(backend), expected);
  assert.equal(backend.liveTensors(), before);
}

Deno.test("tfjs-wasm refuses bad arguments with the reference's messages", async () => {
  check(await createGpuBackend({ engine: "wasm" }));
});

Deno.test("native refuses bad arguments with the reference's messages", async () => {
  const native = await createNativeBackend({ threads: 1 });
  check(native);
  native.close();
});
