// Choosing a prebuilt portable library when there is no compiler (the GPU check pack's case).
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import {
  buildNativeLibrary,
  kernelSourceHash,
  nativeCacheDir,
  pickPortableTarget,
  portableLibraryName,
  userNativeDir,
} from "./build.ts";
import { createNativeBackend } from "./create.ts";

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
  // An empty cache: a library built earlier from this source (backend-native/.build after any
  // native run) would otherwise be used without a compiler, and nothing would be refused.
  const cacheDir = await Deno.makeTempDir({ prefix: "simclr-native-empty-" });
  await assert.rejects(
    buildNativeLibrary({ compiler: "simclr-no-such-compiler", prebuiltDir: "", cacheDir }),
    /C\+\+ compiler "simclr-no-such-compiler" not found; install it with `apt-get install -y g\+\+`/,
  );
  await Deno.remove(cacheDir, { recursive: true });
});

// The library cache: hash-checked, rebuilt when damaged, usable without a compiler, and placed
// outside a read-only source tree.

/** A stand-in compiler: prints a version, writes a fixed "library" to `-o` and counts builds. */
async function fakeCompiler(dir: string): Promise<{ path: string; builds: () => number }> {
  const path = join(dir, "fakecc");
  const count = join(dir, "builds");
  await Deno.writeTextFile(
    path,
    `#!/bin/sh
if [ "$1" = "--version" ]; then echo "fakecc 1.0"; exit 0; fi
while [ $# -gt 0 ]; do if [ "$1" = "-o" ]; then out="$2"; fi; shift; done
head -c 4096 /dev/zero | tr '\\0' 'L' > "$out"
echo x >> "${count}"
`,
  );
  await Deno.chmod(path, 0o755);
  const builds = () => {
    try {
      return Deno.readTextFileSync(count).trim().split("\n").length;
    } catch {
      return 0;
    }
  };
  return { path, builds };
}

Deno.test("a library that no longer matches its recorded hash is rebuilt, not loaded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-native-build-" });
  const cc = await fakeCompiler(dir);
  const cacheDir = join(dir, "cache");
  const lines: string[] = [];
  const opts = { compiler: cc.path, cacheDir, log: (l: string) => lines.push(l) };
  const lib = await buildNativeLibrary(opts);
  assert.equal(cc.builds(), 1);
  const manifest = JSON.parse(await Deno.readTextFile(`${lib}.json`));
  assert.equal(manifest.bytes, 4096);
  assert.match(manifest.sha256, /^[0-9a-f]{64}$/);
  assert.equal(await buildNativeLibrary(opts), lib);
  assert.equal(cc.builds(), 1, "a valid cached library is reused");
  // Truncated (the bus-error case) and same-size garbage: both rebuilt, with a note.
  await Deno.truncate(lib, 1000);
  assert.equal(await buildNativeLibrary(opts), lib);
  assert.equal(cc.builds(), 2);
  assert.match(lines.at(-1)!, /is 1000 bytes, its manifest says 4096; rebuilding it/);
  await Deno.writeFile(lib, new Uint8Array(4096));
  await buildNativeLibrary(opts);
  assert.equal(cc.builds(), 3);
  assert.match(lines.at(-1)!, /does not match the SHA-256 in its manifest; rebuilding it/);
  assert.equal((await Deno.readFile(lib))[0], "L".charCodeAt(0));
  await Deno.remove(`${lib}.json`);
  await buildNativeLibrary(opts);
  assert.equal(cc.builds(), 4);
  assert.match(lines.at(-1)!, /has no manifest recording its hash/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("every file of the kernel source folder is in the library key, not only kernels.cpp", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-native-src-" });
  const cc = await fakeCompiler(dir);
  const src = join(dir, "csrc");
  const copy = await new Deno.Command("cp", {
    args: ["-r", fromFileUrl(new URL("./csrc", import.meta.url)), src],
  }).output();
  assert.ok(copy.success);
  // The real folder is a unity build split into families; a copy hashes the same.
  const families = [...Deno.readDirSync(src)].map((e) => e.name).sort();
  assert.ok(families.length >= 8 && families.includes("pool.h"), families.join(" "));
  assert.equal(await kernelSourceHash(src), await kernelSourceHash());
  const opts = { compiler: cc.path, cacheDir: join(dir, "cache"), sourceDir: src, log: () => {} };
  const first = await buildNativeLibrary(opts);
  assert.equal(cc.builds(), 1);
  assert.equal(await buildNativeLibrary(opts), first);
  assert.equal(cc.builds(), 1, "an unchanged folder reuses its library");
  // One comment line in a family file: a new key, so a new library is compiled.
  const pool = join(src, "pool.h");
  const original = await Deno.readTextFile(pool);
  await Deno.writeTextFile(pool, original + "// edited\n");
  const second = await buildNativeLibrary(opts);
  assert.equal(cc.builds(), 2);
  assert.notEqual(second, first);
  // Back to the original text: the first library is found again, nothing compiled.
  await Deno.writeTextFile(pool, original);
  assert.equal(await buildNativeLibrary(opts), first);
  assert.equal(cc.builds(), 2);
  // A new file, or a renamed one, changes the key too.
  const before = await kernelSourceHash(src);
  await Deno.writeTextFile(join(src, "extra.h"), "");
  assert.notEqual(await kernelSourceHash(src), before);
  await Deno.remove(join(src, "extra.h"));
  await Deno.rename(pool, join(src, "pool2.h"));
  assert.notEqual(await kernelSourceHash(src), before);
  await Deno.remove(join(src, "kernels.cpp"));
  await assert.rejects(buildNativeLibrary(opts), /kernel source folder .*csrc has no kernels\.cpp/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a library already built is used where no compiler is installed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-native-build-" });
  const cc = await fakeCompiler(dir);
  const cacheDir = join(dir, "cache");
  const lib = await buildNativeLibrary({ compiler: cc.path, cacheDir, log: () => {} });
  const missing = join(dir, "no-such-g++");
  assert.equal(await buildNativeLibrary({ compiler: missing, cacheDir }), lib);
  // Damaged and no compiler: the compiler error, not a crash on load.
  await Deno.truncate(lib, 10);
  await assert.rejects(
    buildNativeLibrary({ compiler: missing, cacheDir }),
    /C\+\+ compiler ".*no-such-g\+\+" not found; install it with `apt-get install -y g\+\+`/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("libraries go to SIMCLR_NATIVE_DIR, else .build/ if writable, else the user cache", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-native-dir-" });
  const saved = ["SIMCLR_NATIVE_DIR", "XDG_CACHE_HOME"].map((k) => [k, Deno.env.get(k)] as const);
  try {
    Deno.env.delete("SIMCLR_NATIVE_DIR");
    Deno.env.set("XDG_CACHE_HOME", join(dir, "xdg"));
    assert.equal(userNativeDir(), join(dir, "xdg", "simclr-ts", "native"));
    const writableTree = join(dir, "tree", ".build");
    assert.equal(await nativeCacheDir(writableTree), writableTree);
    // A tree where .build/ cannot be created (its parent is a file; chmod would not stop root).
    await Deno.writeTextFile(join(dir, "file"), "");
    assert.equal(await nativeCacheDir(join(dir, "file", ".build")), userNativeDir());
    Deno.env.set("SIMCLR_NATIVE_DIR", join(dir, "mine/"));
    assert.equal(await nativeCacheDir(writableTree), join(dir, "mine"));
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("with g++: a truncated library is rebuilt and the backend then computes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-native-real-" });
  const lib = await buildNativeLibrary({ cacheDir: dir, log: () => {} });
  const size = (await Deno.stat(lib)).size;
  await Deno.truncate(lib, Math.floor(size / 3));
  const backend = await createNativeBackend({ cacheDir: dir, threads: 1 });
  assert.equal((await Deno.stat(lib)).size, size);
  const a = backend.upload(new Float32Array([1, 2, 3, 4]), [2, 2]);
  const c = backend.matMul(a, a, false, false);
  assert.deepEqual([...await backend.read(c)], [7, 10, 15, 22]);
  await Deno.remove(dir, { recursive: true });
});
