/**
 * Compiles `csrc/kernels.cpp` (a unity build: it includes the per-family files beside it) into a
 * shared library with the machine's C++ compiler, once per source/flags/compiler/CPU combination,
 * where "source" is every file under `csrc/`, into a cache folder: `$SIMCLR_NATIVE_DIR` if set, else
 * `.build/` beside this file when the source tree is writable, else
 * `$XDG_CACHE_HOME/simclr-ts/native` (or `~/.cache/simclr-ts/native`). Each library has a
 * manifest (`<lib>.json`) recording its SHA-256: a library that no longer matches it (truncated,
 * replaced) is rebuilt instead of loaded, since loading a cut ELF file dies with a bus error and
 * no message. A library already built is found through its manifest even where no compiler is
 * installed. Concurrent builds (parallel test processes) are safe: each compiles to its own
 * temporary file and renames it into place.
 *
 * @module
 */
import { sha256Hex } from "@simclr/core";

/** Options of {@linkcode buildNativeLibrary}. */
export interface BuildOptions {
  /** The C++ compiler; default `$CXX` or `g++`. */
  compiler?: string;
  /**
   * Folder of compiled libraries; default {@linkcode nativeCacheDir} (`$SIMCLR_NATIVE_DIR`,
   * `.build/` beside this module when writable, else the user cache folder).
   */
  cacheDir?: string;
  /** Where notes go (a rebuild, a fallback folder); default stderr. */
  log?: (line: string) => void;
  /** Recompile even when a cached library exists. */
  force?: boolean;
  /**
   * Target CPU for `-march`; default `$SIMCLR_NATIVE_MARCH` or `native`. E.g. `haswell` builds
   * the AVX2 kernels and `x86-64` the SSE2 ones, to test those paths on an AVX-512 machine.
   */
  march?: string;
  /**
   * A folder of prebuilt portable libraries ({@linkcode buildPortableLibraries}) used when the
   * compiler is missing; default `$SIMCLR_NATIVE_PREBUILT`. The GPU check pack ships one, since
   * sealed GPU servers often have no g++.
   */
  prebuiltDir?: string;
  /**
   * The kernel source folder: `kernels.cpp` and the family files it includes; default `csrc/`
   * beside this module. Every file in it goes into the library key.
   */
  sourceDir?: string;
}

/**
 * The portable builds of the pack, fastest first, with the /proc/cpuinfo flags each needs (the
 * x86-64 psABI levels). The kernels choose their SIMD paths at compile time, so runtime dispatch
 * is done here: one library per level, the best the CPU supports is loaded.
 */
export const PORTABLE_TARGETS: readonly { march: string; needs: readonly string[] }[] = [
  { march: "x86-64-v4", needs: ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"] },
  { march: "x86-64-v3", needs: ["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe"] },
  { march: "x86-64-v2", needs: ["sse4_1", "sse4_2", "ssse3", "popcnt"] },
  { march: "x86-64", needs: [] },
];

/** File name of the portable library for one `-march` level. */
export function portableLibraryName(march: string): string {
  return `libsimclr_native-${march}.so`;
}

/** The best portable level for a CPU with these /proc/cpuinfo flags. */
export function pickPortableTarget(cpuFlags: readonly string[]): string {
  const have = new Set(cpuFlags);
  const target = PORTABLE_TARGETS.find((t) => t.needs.every((f) => have.has(f)));
  return (target ?? PORTABLE_TARGETS[PORTABLE_TARGETS.length - 1]).march;
}

/**
 * Compiler flags besides `-march` (which defaults to `native`: the library is built on the
 * machine that runs it).
 */
export const COMPILE_FLAGS: readonly string[] = [
  "-O3",
  "-fopenmp",
  "-fPIC",
  "-shared",
  "-std=gnu++17",
  "-ffp-contract=fast",
];

/** The kernel source folder; `kernels.cpp` in it is the one file given to the compiler. */
const SOURCE_DIR = new URL("./csrc/", import.meta.url);
const MAIN_SOURCE = "kernels.cpp";

/** `csrc/` beside this module as a path; throws when the module is not on a local disk. */
function defaultSourceDir(): string {
  if (SOURCE_DIR.protocol !== "file:") {
    throw new Error(`native backend: kernel source ${SOURCE_DIR.href} is not a local folder`);
  }
  return decodeURIComponent(SOURCE_DIR.pathname).replace(/\/$/, "");
}

/** Every file under `dir` (recursively) as [path relative to `dir`, bytes], sorted by path. */
async function sourceFiles(dir: string, sub = ""): Promise<[string, Uint8Array][]> {
  const files: [string, Uint8Array][] = [];
  for await (const e of Deno.readDir(sub ? `${dir}/${sub}` : dir)) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory) files.push(...await sourceFiles(dir, rel));
    else files.push([rel, await Deno.readFile(`${dir}/${rel}`)]);
  }
  return files.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

/**
 * SHA-256 of every file under the kernel source folder, names included, so that an edit to any
 * family file (not only `kernels.cpp`) gives a new library key. Throws naming the folder when it
 * has no `kernels.cpp`.
 */
export async function kernelSourceHash(dir: string = defaultSourceDir()): Promise<string> {
  let files: [string, Uint8Array][];
  try {
    files = await sourceFiles(dir);
  } catch (e) {
    throw new Error(
      `native backend: cannot read the kernel source folder ${dir} (${(e as Error).message})`,
    );
  }
  if (!files.some(([name]) => name === MAIN_SOURCE)) {
    throw new Error(`native backend: the kernel source folder ${dir} has no ${MAIN_SOURCE}`);
  }
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const [name, bytes] of files) {
    // Name and length before the bytes: no two different folders give the same stream.
    parts.push(enc.encode(`${name}\n${bytes.length}\n`), bytes);
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return await sha256Hex(all);
}

/** How to get a compiler on Debian, for error messages. */
const INSTALL_HINT = "install it with `apt-get install -y g++` (Debian package g++, which " +
  "brings libgomp for OpenMP) or point $CXX at another C++ compiler";

/** The CPU model and feature flags: a library built with -march=native is only valid there. */
async function cpuSignature(): Promise<string> {
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    const model = info.match(/^model name\s*:.*$/m)?.[0] ?? "";
    const flags = info.match(/^flags\s*:.*$/m)?.[0] ?? "";
    return `${model}\n${flags}`;
  } catch {
    return `${Deno.build.os}-${Deno.build.arch}`;
  }
}

/** This CPU's feature flags from /proc/cpuinfo (empty when unreadable). */
async function cpuFlags(): Promise<string[]> {
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    return (info.match(/^flags\s*:(.*)$/m)?.[1] ?? "").trim().split(/\s+/);
  } catch {
    return [];
  }
}

/** The prebuilt library for this CPU in `dir`; throws naming the file when it is not there. */
async function prebuiltLibrary(dir: string): Promise<string> {
  const lib = `${dir.replace(/\/$/, "")}/${
    portableLibraryName(pickPortableTarget(await cpuFlags()))
  }`;
  try {
    await Deno.stat(lib);
  } catch {
    throw new Error(`native backend: no compiler, and the prebuilt library ${lib} is missing`);
  }
  return lib;
}

async function run(cmd: string, args: string[]): Promise<Deno.CommandOutput> {
  try {
    return await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `native backend: C++ compiler "${cmd}" not found; ${INSTALL_HINT}`,
      );
    }
    throw e;
  }
}

/** `.build/` beside this module: the first choice when the source tree is writable. */
export const MODULE_BUILD_DIR: string = new URL("./.build/", import.meta.url).pathname.replace(
  /\/$/,
  "",
);

/** The per-user cache folder for libraries: `$XDG_CACHE_HOME` or `~/.cache`, `simclr-ts/native`. */
export function userNativeDir(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME") ?? ".";
  return `${xdg || `${home}/.cache`}/simclr-ts/native`;
}

/** Whether files can be created in `dir` (made if missing); probed, since root ignores modes. */
async function writable(dir: string): Promise<boolean> {
  try {
    await Deno.mkdir(dir, { recursive: true });
    const probe = `${dir}/.write-probe.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeFile(probe, new Uint8Array());
    await Deno.remove(probe);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where new libraries are built: `$SIMCLR_NATIVE_DIR` if set, else `moduleDir` if writable, else
 * {@linkcode userNativeDir}.
 */
export async function nativeCacheDir(moduleDir = MODULE_BUILD_DIR): Promise<string> {
  const override = Deno.env.get("SIMCLR_NATIVE_DIR");
  if (override) return override.replace(/\/$/, "");
  return await writable(moduleDir) ? moduleDir : userNativeDir();
}

/** What `<lib>.json` records about a built library. */
interface Manifest {
  /** Hash of source, flags and CPU: what a library must match when no compiler can be asked. */
  sourceKey: string;
  compilerVersion: string;
  sha256: string;
  bytes: number;
}

async function readManifest(lib: string): Promise<Manifest | undefined> {
  try {
    const m = JSON.parse(await Deno.readTextFile(`${lib}.json`));
    return typeof m?.sha256 === "string" && typeof m?.sourceKey === "string" ? m : undefined;
  } catch {
    return undefined;
  }
}

/** "ok", or why the library at `lib` must not be loaded. */
async function verify(lib: string): Promise<"ok" | "missing" | string> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(lib);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "missing";
    return `unreadable (${(e as Error).message})`;
  }
  const m = await readManifest(lib);
  if (!m) return "has no manifest recording its hash";
  if (bytes.length !== m.bytes) return `is ${bytes.length} bytes, its manifest says ${m.bytes}`;
  if (await sha256Hex(bytes) !== m.sha256) return "does not match the SHA-256 in its manifest";
  return "ok";
}

/** Folders searched for an existing library, in order, without duplicates. */
async function searchDirs(opts: BuildOptions): Promise<string[]> {
  if (opts.cacheDir) return [opts.cacheDir.replace(/\/$/, "")];
  // An explicit folder is the only one used: it is how a user keeps libraries apart.
  const override = Deno.env.get("SIMCLR_NATIVE_DIR");
  if (override) return [override.replace(/\/$/, "")];
  const dirs = [await nativeCacheDir(), MODULE_BUILD_DIR, userNativeDir()];
  return [...new Set(dirs)];
}

/**
 * A verified library built from this source, flags and CPU by any compiler, for machines without
 * one (a prebuilt `.build/`, or a user cache filled earlier).
 */
async function findPrebuilt(dirs: string[], sourceKey: string): Promise<string | undefined> {
  for (const dir of dirs) {
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(dir)) {
        if (e.isFile && /^libsimclr_native-[0-9a-f]+\.so$/.test(e.name)) names.push(e.name);
      }
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const lib = `${dir}/${name}`;
      if ((await readManifest(lib))?.sourceKey === sourceKey && await verify(lib) === "ok") {
        return lib;
      }
    }
  }
  return undefined;
}

/**
 * Returns the path of the compiled kernel library, compiling it first when the cache has no
 * valid library for this source, these flags, this compiler and this CPU. Without a compiler, a
 * library built earlier from the same source, flags and CPU is used. Throws an error naming the
 * missing compiler (and the apt package to install) or quoting the compiler's messages.
 */
export async function buildNativeLibrary(
  opts: BuildOptions = {},
): Promise<string> {
  const sourceDir = opts.sourceDir?.replace(/\/$/, "") ?? defaultSourceDir();
  const mainSource = `${sourceDir}/${MAIN_SOURCE}`;
  const log = opts.log ?? ((line: string) => console.error(line));
  const compiler = opts.compiler ?? Deno.env.get("CXX") ?? "g++";
  const march = opts.march ?? Deno.env.get("SIMCLR_NATIVE_MARCH") ?? "native";
  if (!/^[\w.-]+$/.test(march)) {
    throw new Error(`native backend: -march value "${march}" is not a CPU name`);
  }
  const flags = [...COMPILE_FLAGS, `-march=${march}`];
  const source = await kernelSourceHash(sourceDir);
  const sourceKey = await sha256Hex(
    [source, flags.join(" "), await cpuSignature()].join("\n--\n"),
  );
  const dirs = await searchDirs(opts);

  let version: Deno.CommandOutput | undefined;
  let compilerError: Error | undefined;
  try {
    version = await run(compiler, ["--version"]);
    if (!version.success) {
      compilerError = new Error(`native backend: "${compiler} --version" failed; ${INSTALL_HINT}`);
    }
  } catch (e) {
    compilerError = e as Error;
  }
  if (compilerError || !version) {
    const built = opts.force ? undefined : await findPrebuilt(dirs, sourceKey);
    if (built) return built;
    // The GPU-check pack ships portable libraries for machines without a compiler.
    const portableDir = opts.prebuiltDir ?? Deno.env.get("SIMCLR_NATIVE_PREBUILT");
    if (portableDir) return await prebuiltLibrary(portableDir);
    throw compilerError;
  }
  const compilerVersion = new TextDecoder().decode(version.stdout);
  const key = await sha256Hex([sourceKey, compilerVersion].join("\n--\n"));
  const name = `libsimclr_native-${key.slice(0, 16)}.so`;
  if (!opts.force) {
    for (const dir of dirs) {
      const lib = `${dir}/${name}`;
      const state = await verify(lib);
      if (state === "ok") return lib;
      if (state !== "missing") log(`native backend: ${lib} ${state}; rebuilding it`);
    }
  }
  const dir = dirs[0];
  if (dir !== MODULE_BUILD_DIR && !opts.cacheDir && !Deno.env.get("SIMCLR_NATIVE_DIR")) {
    log(`native backend: ${MODULE_BUILD_DIR} is not writable; building into ${dir}`);
  }
  const lib = `${dir}/${name}`;
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new Error(
      `native backend: cannot create the library folder ${dir} (${(e as Error).message}); ` +
        `set SIMCLR_NATIVE_DIR to a writable folder`,
    );
  }
  const tmp = `${lib}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const out = await run(compiler, [
    ...flags,
    "-o",
    tmp,
    mainSource,
  ]);
  if (!out.success) {
    await Deno.remove(tmp).catch(() => {});
    const msg = new TextDecoder().decode(out.stderr).trim();
    const hint = /omp\.h|fopenmp|lgomp/.test(msg) ? ` (OpenMP missing: ${INSTALL_HINT})` : "";
    throw new Error(
      `native backend: compiling ${mainSource} failed${hint}:\n${msg}`,
    );
  }
  const bytes = await Deno.readFile(tmp);
  const manifest: Manifest = {
    sourceKey,
    compilerVersion,
    sha256: await sha256Hex(bytes),
    bytes: bytes.length,
  };
  // The manifest goes first, so a library in place always has one; both renames are atomic.
  const manifestTmp = `${lib}.json.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.writeTextFile(manifestTmp, JSON.stringify(manifest, null, 2) + "\n");
  await Deno.rename(manifestTmp, `${lib}.json`);
  await Deno.rename(tmp, lib);
  return lib;
}

/**
 * Builds one library per {@linkcode PORTABLE_TARGETS} level into `outDir`, for machines without a
 * compiler: libstdc++ and libgcc are linked in statically, and the libraries look for
 * `libgomp.so.1` beside themselves first (rpath `$ORIGIN`), so the pack can carry it. Returns the
 * paths written.
 */
export async function buildPortableLibraries(
  outDir: string,
  compiler: string = Deno.env.get("CXX") ?? "g++",
): Promise<string[]> {
  const mainSource = `${defaultSourceDir()}/${MAIN_SOURCE}`;
  await Deno.mkdir(outDir, { recursive: true });
  const written: string[] = [];
  for (const { march } of PORTABLE_TARGETS) {
    const lib = `${outDir.replace(/\/$/, "")}/${portableLibraryName(march)}`;
    const out = await run(compiler, [
      ...COMPILE_FLAGS,
      `-march=${march}`,
      "-mtune=generic",
      "-static-libstdc++",
      "-static-libgcc",
      "-Wl,-rpath,$ORIGIN",
      "-o",
      lib,
      mainSource,
    ]);
    if (!out.success) {
      throw new Error(
        `native backend: compiling ${mainSource} for ${march} failed:\n${
          new TextDecoder().decode(out.stderr).trim()
        }`,
      );
    }
    written.push(lib);
  }
  return written;
}
