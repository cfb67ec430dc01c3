// Choosing a prebuilt portable library when there is no compiler (the GPU check pack's case).
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildNativeLibrary, pickPortableTarget, portableLibraryName } from "./build.ts";

Deno.test("pickPortableTarget: the highest x86-64 level whose every flag the CPU has", () => {
  const v2 = ["sse4_1", "sse4_2", "ssse3", "popcnt"];
  const v3 = [...v2, "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe"];
  const v4 = [...v3, "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"];
  assert.equal(pickPortableTarget(v4), "x86-64-v4");
  // Our EPYC: AVX2 + FMA, no AVX-512.
  assert.equal(pickPortableTarget(v3), "x86-64-v3");
  // AVX-512F alone (no BW/VL) is not level 4.
  assert.equal(pickPortableTarget([...v3, "avx512f"]), "x86-64-v3");
  assert.equal(pickPortableTarget(v3.filter((f) => f !== "fma")), "x86-64-v2");
  assert.equal(pickPortableTarget(v2), "x86-64-v2");
  assert.equal(pickPortableTarget([]), "x86-64");
});

Deno.test("buildNativeLibrary without a compiler: the prebuilt library for this CPU, or an error naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-prebuilt-" });
  const compiler = "simclr-no-such-compiler";
  await assert.rejects(
    buildNativeLibrary({ compiler, cacheDir: dir, prebuiltDir: join(dir, "none") }),
    (e: unknown) => {
      assert.match(
        (e as Error).message,
        /no compiler, and the prebuilt library .*none\/libsimclr_native-x86-64.*\.so is missing/,
      );
      return true;
    },
  );
  // One file per level, so whichever this CPU picks exists.
  for (const march of ["x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"]) {
    await Deno.writeTextFile(join(dir, portableLibraryName(march)), march);
  }
  const lib = await buildNativeLibrary({ compiler, cacheDir: dir, prebuiltDir: dir });
  const flags = (await Deno.readTextFile("/proc/cpuinfo")).match(/^flags\s*:(.*)$/m)![1].trim()
    .split(/\s+/);
  assert.equal(lib, join(dir, portableLibraryName(pickPortableTarget(flags))));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("buildNativeLibrary without a compiler or prebuilt folder names the compiler and the fix", async () => {
  await assert.rejects(
    buildNativeLibrary({ compiler: "simclr-no-such-compiler", prebuiltDir: "" }),
    /C\+\+ compiler "simclr-no-such-compiler" not found; install it with `apt-get install -y g\+\+`/,
  );
});
