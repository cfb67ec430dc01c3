// The GPU check pack, end to end: built from a fixture, copied to a fresh folder, run there with
// no node_modules, an empty DENO_DIR and (where `unshare -n` works) no network. On our machines
// WebGPU is lavapipe, so this checks correctness of the whole path, not speed.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { Rng } from "@simclr/core";
import { CIFAR_RECORD_BYTES, CIFAR_TEST_FILE, CIFAR_TRAIN_FILES } from "@simclr/data";
import { writeCifarFixture } from "../data/cifar_fixture.ts";
import { probeWebGpu } from "@simclr/backend-gpu";
import { buildPack, MAX_PACK_BYTES, writeSlice } from "./pack.ts";

async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The commands run.sh calls (besides shell built-ins); xz unpacks Deno. */
const RUN_SH_TOOLS = [
  "sh",
  "xz",
  "mkdir",
  "dirname",
  "basename",
  "chmod",
  "mv",
  "rm",
  "cat",
  "tee",
  "date",
  "uname",
  "sed",
  "head",
  "tr",
  "getconf",
];

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Names in a folder; none when it does not exist. */
async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names;
}

Deno.test("writeSlice keeps the leading records in the official layout, five equal train files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-slice-" });
  const src = join(dir, "src");
  await writeCifarFixture(src, { trainPerBatch: 7, test: 9, rng: new Rng(5) });
  const out = join(dir, "slice");
  await writeSlice(src, out, 10, 4);
  // Train records 0–9 come from data_batch_1 (7 records) and data_batch_2 (3), in order.
  const b1 = await Deno.readFile(join(src, CIFAR_TRAIN_FILES[0]));
  const b2 = await Deno.readFile(join(src, CIFAR_TRAIN_FILES[1]));
  const expected = new Uint8Array([...b1, ...b2.subarray(0, 3 * CIFAR_RECORD_BYTES)]);
  const got: number[] = [];
  for (const f of CIFAR_TRAIN_FILES) {
    const bytes = await Deno.readFile(join(out, f));
    assert.equal(bytes.length, 2 * CIFAR_RECORD_BYTES, f);
    got.push(...bytes);
  }
  assert.deepEqual(new Uint8Array(got), expected);
  const test = await Deno.readFile(join(out, CIFAR_TEST_FILE));
  assert.deepEqual(
    test,
    (await Deno.readFile(join(src, CIFAR_TEST_FILE))).subarray(0, 4 * CIFAR_RECORD_BYTES),
  );
  await assert.rejects(writeSlice(src, join(dir, "x"), 12, 4), /multiple of 5/);
  await assert.rejects(writeSlice(src, join(dir, "y"), 50, 4), /holds 35 train and 9 test/);
  await Deno.remove(dir, { recursive: true });
});

const adapter = await probeWebGpu().catch(() => null);
const tools = (await succeeds("xz", ["--version"])) && (await succeeds("g++", ["--version"]));

Deno.test({
  name: "run.sh of the pack passes from a bare folder: no node_modules, empty DENO_DIR, no network",
  // CI installs lavapipe, g++ and xz (.ci/run); without them this cannot run.
  ignore: adapter === null || !tools,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "simclr-pack-" });
    const data = join(dir, "cifar");
    await writeCifarFixture(data, { trainPerBatch: 20, test: 40, rng: new Rng(8) });
    const built = join(dir, "built", "gpu-check");
    // xz -0: seconds instead of a minute; `deno task pack` uses -6.
    const bytes = await buildPack({
      out: built,
      data,
      train: 100,
      test: 40,
      xzLevel: 0,
      log: () => {},
    });
    assert.ok(bytes <= MAX_PACK_BYTES, `${bytes} bytes`);
    assert.equal(await exists(join(built, "node_modules")), false);
    // The whole kernel folder, byte for byte (kernels.cpp includes the family files beside it),
    // and it compiles from there, as run.sh's native build does where g++ exists.
    const csrc = new URL("../backend-native/csrc/", import.meta.url);
    const names = (await entries(fromFileUrl(csrc))).sort();
    assert.ok(names.length > 1 && names.includes("kernels.cpp"), names.join(" "));
    assert.deepEqual((await entries(join(built, "csrc"))).sort(), names);
    for (const name of names) {
      assert.deepEqual(
        await Deno.readFile(join(built, "csrc", name)),
        await Deno.readFile(new URL(name, csrc)),
        name,
      );
    }
    const syntax = await new Deno.Command("g++", {
      args: ["-fsyntax-only", "-fopenmp", "-std=gnu++17", join(built, "csrc", "kernels.cpp")],
      stderr: "piped",
    }).output();
    assert.ok(syntax.success, new TextDecoder().decode(syntax.stderr));

    // A fresh folder elsewhere, holding only the pack: nothing of the repository is reachable.
    const bare = join(dir, "bare");
    await Deno.mkdir(bare);
    const copy = await new Deno.Command("cp", { args: ["-r", built, bare] }).output();
    assert.ok(copy.success);
    const pack = join(bare, "gpu-check");
    const denoDir = join(bare, "deno-dir");
    await Deno.mkdir(denoDir);
    const out = join(bare, "out");
    const isolate = await succeeds("unshare", ["-n", "true"]);
    // PATH holds only the shell tools run.sh uses: no deno and no g++, as on a sealed GPU server,
    // so the unpacked Deno runs and the native backend loads its prebuilt library.
    const bin = join(bare, "bin");
    await Deno.mkdir(bin);
    for (const tool of RUN_SH_TOOLS) {
      const path = ["/usr/bin", "/bin"].map((d) => join(d, tool)).find((p) => existsSync(p));
      assert.ok(path, `${tool} is not installed`);
      await Deno.symlink(path, join(bin, tool));
    }
    const env = [
      "env",
      "-i",
      `PATH=${bin}`,
      `HOME=${bare}`,
      `DENO_DIR=${denoDir}`,
      `TMPDIR=${bare}`,
      "SIMCLR_CHECK_QUICK=1",
      "sh",
      join(pack, "run.sh"),
      out,
    ];
    const [cmd, ...args] = isolate ? ["unshare", "-n", ...env] : env;
    const run = await new Deno.Command(cmd, { args, cwd: bare, stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, text.slice(-4000));

    const read = async (f: string) => JSON.parse(await Deno.readTextFile(join(out, f)));
    const summary = await read("summary.json");
    assert.equal(summary.passed, true);
    assert.deepEqual(
      summary.steps.map((s: { name: string; exit: number }) => [s.name, s.exit]),
      [["probe", 0], ["verify", 0], ["bench", 0], ["train", 0]],
    );
    // The unpacked Deno ran, not one on PATH, and it fetched nothing into its empty cache.
    const system = await read("system.json");
    assert.equal(system.deno, join(pack, "deno"));
    assert.equal(system.gxx, "none");
    // The native loader probes `.build/` (next to the bundle) as its cache folder, which leaves the
    // folder behind; a compiled library in it would mean the prebuilt one was not used.
    const compiled = (await entries(join(pack, ".build"))).filter((n) => n.endsWith(".so"));
    assert.deepEqual(compiled, [], "native was compiled, not prebuilt");
    // (Deno makes an empty npm/ folder at start; a package fetched would land in it.)
    assert.deepEqual(await entries(join(denoDir, "npm")), [], "DENO_DIR/npm was filled");
    assert.deepEqual(await entries(join(denoDir, "remote")), [], "DENO_DIR/remote was filled");

    const probe = await read("probe.json");
    assert.equal(probe.adapter.description, adapter!.description);
    assert.equal(probe.adapter.software, adapter!.software);

    const verify = await read("verify.json");
    assert.equal(verify.engine, "webgpu");
    assert.ok(verify.rows.length > 70, `${verify.rows.length} rows`);
    const bad = verify.rows.filter((r: { ok: boolean }) => !r.ok);
    assert.deepEqual(bad, []);
    assert.ok(verify.rows.some((r: { group: string }) => r.group !== "kernels"), "training rows");

    const bench = await read("bench.json");
    const rate = (name: string) =>
      bench.rows.find((r: { backend: string }) => r.backend === name)?.imagesPerSec;
    for (const name of ["tfjs-webgpu", "native"]) {
      const v = rate(name);
      assert.ok(Number.isFinite(v) && v > 0, `${name}: ${v} images/s`);
    }

    const trained = JSON.parse(await Deno.readTextFile(join(out, "train-run", "run.json")));
    assert.equal(trained.config.engine, "webgpu");
    assert.equal(trained.stopped, "done");
    assert.equal(trained.step, 4); // 64 images, batch 16, one epoch
    // NT-Xent over 2·16 views is ln(31) = 3.43 when all similarities are equal; far above is broken.
    assert.ok(trained.lastLoss > 0 && trained.lastLoss < 4, `loss ${trained.lastLoss}`);
    await Deno.remove(dir, { recursive: true });
  },
});
