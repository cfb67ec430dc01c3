/**
 * `deno task pack`: builds `dist/gpu-check/`, a folder that checks the GPU path on a machine with
 * no Deno, no network and no package registry (sealed GPU servers take a small upload and nothing
 * else). It holds:
 *
 * - `deno.xz`: this Deno binary, xz-compressed (96 MB → ~31 MB);
 * - `verify.js`, `bench.js`, `train.js`, `probe.js`: the entry points bundled with their npm
 *   dependencies by `deno bundle`, plus `augment_worker.ts`, the training's augmentation worker,
 *   bundled too (see {@linkcode ENTRIES});
 * - `tfjs-wasm/`: the three `.wasm` files TF.js wasm loads at run time;
 * - `csrc/`: the native kernels (`kernels.cpp` and the family files it includes), compiled
 *   with `-march=native` where g++ exists, and `native/`: the same built for each x86-64 level
 *   plus `libgomp.so.1`, for machines without g++;
 * - `data/cifar-10-batches-bin/`: a 2,000-image slice of CIFAR-10 in the official binary layout;
 * - `run.sh`: unpacks Deno and runs probe, verify, bench and train on WebGPU, writing JSON.
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import {
  CIFAR_META_FILE,
  CIFAR_RECORD_BYTES,
  CIFAR_TEST_FILE,
  CIFAR_TRAIN_FILES,
  validateCifarDir,
} from "@simclr/data";
import { buildPortableLibraries } from "@simclr/backend-native";
import { BUNDLED_WASM_DIR } from "@simclr/backend-gpu";
import { commandFlags } from "@simclr/core";

/** The repository root (this file is `pack/pack.ts`). */
const ROOT = fromFileUrl(new URL("../", import.meta.url));

/**
 * Bundled entry points: output name → source. `data/workers.ts` starts its workers from
 * `new URL("./augment_worker.ts", import.meta.url)`, which in a bundle is beside the bundle, so
 * the worker's bundle takes that name; Deno reads the plain JavaScript in it as TypeScript, of
 * which it is a subset.
 */
export const ENTRIES: Readonly<Record<string, string>> = {
  "verify.js": "tests/verify.ts",
  "bench.js": "tests/bench.ts",
  "train.js": "cli/train.ts",
  "probe.js": "pack/probe.ts",
  "augment_worker.ts": "data/augment_worker.ts",
};

/** The pack's size limit: what a sealed machine's upload is assumed to take. */
export const MAX_PACK_BYTES = 60 * 2 ** 20;

/** The slice's default split: 1,600 train images (320 per batch file) and 400 test images. */
export const SLICE = { train: 1600, test: 400 } as const;

/** The `.wasm` files `@tensorflow/tfjs-backend-wasm` fetches when it starts. */
const WASM_FILES = [
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
  "tfjs-backend-wasm-threaded-simd.wasm",
];

/** Options of {@linkcode buildPack}. */
export interface PackOptions {
  /** Output folder; replaced. */
  out: string;
  /** CIFAR-10 binary folder the slice is cut from. */
  data: string;
  /** Train images in the slice (spread evenly over the five batch files). */
  train?: number;
  /** Test images in the slice. */
  test?: number;
  /** xz preset, 0–9 (the test uses 0: seconds instead of a minute, a larger file). */
  xzLevel?: number;
  /** Progress lines go here (default stderr). */
  log?: (line: string) => void;
}

async function exec(cmd: string, args: string[], cwd = ROOT): Promise<Uint8Array> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `pack: "${cmd}" is not installed` +
          (cmd === "xz" ? " (Debian: apt-get install xz-utils)" : ""),
      );
    }
    throw e;
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-15).join("\n");
    throw new Error(`pack: ${cmd} ${args.join(" ")} failed:\n${err}`);
  }
  return out.stdout;
}

/**
 * Writes the first `train` training records (taken from the batch files in order, split evenly
 * over five files) and the first `test` test records of `data` into `dir`, in the official layout.
 * Our shared copy is bit-exact for train images 0–3,999 and test images 0–999, so the default
 * slice holds only original pixels.
 */
export async function writeSlice(
  data: string,
  dir: string,
  train: number = SLICE.train,
  test: number = SLICE.test,
): Promise<void> {
  const files = CIFAR_TRAIN_FILES.length;
  if (!Number.isInteger(train) || train < files || train % files !== 0) {
    throw new RangeError(`pack: --train must be a positive multiple of ${files}, got ${train}`);
  }
  if (!Number.isInteger(test) || test < 1) {
    throw new RangeError(`pack: --test must be a positive integer, got ${test}`);
  }
  const info = await validateCifarDir(data, { strictCounts: false });
  if (info.trainCount < train || info.testCount < test) {
    throw new RangeError(
      `pack: ${data} holds ${info.trainCount} train and ${info.testCount} test images; the slice ` +
        `needs ${train} and ${test}`,
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  // Read the leading train records across files, then cut them into five equal files.
  const trainBytes = new Uint8Array(train * CIFAR_RECORD_BYTES);
  let filled = 0;
  for (let f = 0; f < files && filled < trainBytes.length; f++) {
    const bytes = await Deno.readFile(join(data, CIFAR_TRAIN_FILES[f]));
    const take = Math.min(bytes.length, trainBytes.length - filled);
    trainBytes.set(bytes.subarray(0, take), filled);
    filled += take;
  }
  const per = (train / files) * CIFAR_RECORD_BYTES;
  for (let f = 0; f < files; f++) {
    await Deno.writeFile(
      join(dir, CIFAR_TRAIN_FILES[f]),
      trainBytes.subarray(f * per, (f + 1) * per),
    );
  }
  const testBytes = await Deno.readFile(join(data, CIFAR_TEST_FILE));
  await Deno.writeFile(
    join(dir, CIFAR_TEST_FILE),
    testBytes.subarray(0, test * CIFAR_RECORD_BYTES),
  );
  await Deno.copyFile(join(data, CIFAR_META_FILE), join(dir, CIFAR_META_FILE));
  await Deno.chmod(join(dir, CIFAR_META_FILE), 0o644); // the shared copy is read-only
}

/** The compressed Deno binary, cached in `dist/.cache/` by version, size and xz level. */
async function compressedDeno(level: number, log: (line: string) => void): Promise<string> {
  const exe = Deno.execPath();
  const size = (await Deno.stat(exe)).size;
  const cacheDir = join(ROOT, "dist", ".cache");
  const cached = join(cacheDir, `deno-${Deno.version.deno}-${size}-xz${level}.xz`);
  try {
    await Deno.stat(cached);
    return cached;
  } catch {
    // Not cached yet.
  }
  await Deno.mkdir(cacheDir, { recursive: true });
  log(`compressing ${exe} (${(size / 2 ** 20).toFixed(0)} MiB) with xz -${level} …`);
  const tmp = `${cached}.${Deno.pid}.tmp`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  const child = new Deno.Command("xz", {
    args: [`-${level}`, "-T0", "-c", exe],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  await child.stdout.pipeTo(file.writable);
  if (!(await child.status).success) throw new Error(`pack: xz -${level} ${exe} failed`);
  await Deno.rename(tmp, cached);
  return cached;
}

/** Total bytes of the files under `dir`. */
async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) total += await folderBytes(path);
    else if (e.isFile) total += (await Deno.stat(path)).size;
  }
  return total;
}

/** Builds the pack into `opts.out` and returns its size in bytes; throws over 60 MiB. */
export async function buildPack(opts: PackOptions): Promise<number> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const out = resolve(opts.out);
  const level = opts.xzLevel ?? 6;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new RangeError(`pack: --xz-level must be an integer 0–9, got ${opts.xzLevel}`);
  }
  await Deno.remove(out, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  await Deno.mkdir(out, { recursive: true });

  log("slicing CIFAR-10 …");
  await writeSlice(
    opts.data,
    join(out, "data", "cifar-10-batches-bin"),
    opts.train ?? SLICE.train,
    opts.test ?? SLICE.test,
  );

  for (const [name, source] of Object.entries(ENTRIES)) {
    log(`bundling ${source} → ${name} …`);
    await exec(Deno.execPath(), [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "-o",
      join(out, name),
      source,
    ]);
  }

  log("copying the wasm files, the kernel source, run.sh …");
  const wasmEntry = import.meta.resolve("@tensorflow/tfjs-backend-wasm");
  if (!wasmEntry.startsWith("file:")) {
    throw new Error(
      `pack: @tensorflow/tfjs-backend-wasm resolved to ${wasmEntry}; run deno install`,
    );
  }
  const wasmSource = dirname(fromFileUrl(wasmEntry));
  await Deno.mkdir(join(out, BUNDLED_WASM_DIR), { recursive: true });
  for (const f of WASM_FILES) {
    await Deno.copyFile(join(wasmSource, f), join(out, BUNDLED_WASM_DIR, f));
  }
  // The whole folder: kernels.cpp includes the family files beside it, and the build hashes
  // them all.
  await Deno.mkdir(join(out, "csrc"));
  for await (const e of Deno.readDir(join(ROOT, "backend-native", "csrc"))) {
    if (!e.isFile) throw new Error(`pack: backend-native/csrc/${e.name} is not a plain file`);
    await Deno.copyFile(join(ROOT, "backend-native", "csrc", e.name), join(out, "csrc", e.name));
  }
  await Deno.copyFile(join(ROOT, "pack", "run.sh"), join(out, "run.sh"));
  await Deno.chmod(join(out, "run.sh"), 0o755);

  log("building the portable native libraries (x86-64, -v2, -v3, -v4) …");
  const native = join(out, "native");
  await buildPortableLibraries(native);
  const gomp = new TextDecoder().decode(await exec("g++", ["-print-file-name=libgomp.so.1"]))
    .trim();
  await Deno.copyFile(gomp, join(native, "libgomp.so.1"));

  await Deno.copyFile(await compressedDeno(level, log), join(out, "deno.xz"));

  const bytes = await folderBytes(out);
  if (bytes > MAX_PACK_BYTES) {
    throw new Error(
      `pack: ${out} is ${(bytes / 2 ** 20).toFixed(1)} MiB, over the ${
        MAX_PACK_BYTES / 2 ** 20
      } MiB limit`,
    );
  }
  log(`wrote ${relative(Deno.cwd(), out) || out}: ${(bytes / 2 ** 20).toFixed(1)} MiB`);
  return bytes;
}

/** The flags of `deno task pack`. */
const PACK_FLAGS = {
  out: {
    type: "string",
    arg: "DIR",
    default: join(ROOT, "dist", "gpu-check"),
    defaultText: "dist/gpu-check",
    help: "output folder, replaced",
  },
  data: {
    type: "string",
    arg: "DIR",
    default: join(ROOT, "..", "shared", "data", "cifar-10-batches-bin"),
    defaultText: "../shared/data/cifar-10-batches-bin",
    help: "CIFAR-10 binary folder to slice",
  },
  train: { type: "int", default: SLICE.train, min: 0, help: "train images in the slice, ÷ 5" },
  test: { type: "int", default: SLICE.test, min: 0, help: "test images in the slice" },
  "xz-level": { type: "int", default: 6, min: 0, max: 9, help: "xz preset for the Deno binary" },
} as const;

async function main(): Promise<number> {
  const parsed = commandFlags("pack", PACK_FLAGS, Deno.args, {
    usage: "usage: deno task pack [--out DIR] [--data DIR] [--train N] [--test N] [--xz-level L]",
    footer: "Then copy the folder to the GPU machine and run: sh run.sh OUTPUT_DIR",
  });
  if (typeof parsed === "number") return parsed;
  const values = parsed.values;
  try {
    await buildPack({
      out: values.out,
      data: values.data,
      train: values.train,
      test: values.test,
      xzLevel: values["xz-level"],
    });
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
