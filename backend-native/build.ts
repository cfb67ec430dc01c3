/**
 * Compiles `csrc/kernels.cpp` into a shared library with the machine's C++ compiler, once per
 * source/flags/compiler/CPU combination, into a git-ignored cache folder (`.build/` next to this
 * file). Concurrent builds (parallel test processes) are safe: each compiles to its own temporary
 * file and renames it into place.
 *
 * @module
 */

/** Options of {@linkcode buildNativeLibrary}. */
export interface BuildOptions {
  /** The C++ compiler; default `$CXX` or `g++`. */
  compiler?: string;
  /** Folder of compiled libraries; default `.build/` beside this module. */
  cacheDir?: string;
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

const SOURCE = new URL("./csrc/kernels.cpp", import.meta.url);

/** How to get a compiler on Debian, for error messages. */
const INSTALL_HINT = "install it with `apt-get install -y g++` (Debian package g++, which " +
  "brings libgomp for OpenMP) or point $CXX at another C++ compiler";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

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

/** The compiler's `--version`, or null when it is not installed. */
async function compilerVersion(compiler: string): Promise<Deno.CommandOutput | null> {
  try {
    return await run(compiler, ["--version"]);
  } catch (e) {
    if (/not found/.test((e as Error).message)) return null;
    throw e;
  }
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

/**
 * Returns the path of the compiled kernel library, compiling it first when the cache has no
 * library for this source, these flags, this compiler and this CPU. Throws an error naming the
 * missing compiler (and the apt package to install) or quoting the compiler's messages.
 */
export async function buildNativeLibrary(
  opts: BuildOptions = {},
): Promise<string> {
  if (SOURCE.protocol !== "file:") {
    throw new Error(
      `native backend: kernel source ${SOURCE.href} is not a local file`,
    );
  }
  const compiler = opts.compiler ?? Deno.env.get("CXX") ?? "g++";
  const version = await compilerVersion(compiler);
  if (version === null) {
    const prebuilt = opts.prebuiltDir ?? Deno.env.get("SIMCLR_NATIVE_PREBUILT");
    if (prebuilt) return await prebuiltLibrary(prebuilt);
    throw new Error(`native backend: C++ compiler "${compiler}" not found; ${INSTALL_HINT}`);
  }
  if (!version.success) {
    throw new Error(
      `native backend: "${compiler} --version" failed; ${INSTALL_HINT}`,
    );
  }
  const march = opts.march ?? Deno.env.get("SIMCLR_NATIVE_MARCH") ?? "native";
  if (!/^[\w.-]+$/.test(march)) {
    throw new Error(`native backend: -march value "${march}" is not a CPU name`);
  }
  const flags = [...COMPILE_FLAGS, `-march=${march}`];
  const source = await Deno.readTextFile(SOURCE);
  const key = await sha256Hex(
    [
      source,
      flags.join(" "),
      new TextDecoder().decode(version.stdout),
      await cpuSignature(),
    ]
      .join("\n--\n"),
  );
  const dir = opts.cacheDir ?? new URL("./.build/", import.meta.url).pathname;
  const lib = `${dir.replace(/\/$/, "")}/libsimclr_native-${key.slice(0, 16)}.so`;
  if (!opts.force) {
    try {
      await Deno.stat(lib);
      return lib;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${lib}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const out = await run(compiler, [
    ...flags,
    "-o",
    tmp,
    SOURCE.pathname,
  ]);
  if (!out.success) {
    await Deno.remove(tmp).catch(() => {});
    const msg = new TextDecoder().decode(out.stderr).trim();
    const hint = /omp\.h|fopenmp|lgomp/.test(msg) ? ` (OpenMP missing: ${INSTALL_HINT})` : "";
    throw new Error(
      `native backend: compiling ${SOURCE.pathname} failed${hint}:\n${msg}`,
    );
  }
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
      SOURCE.pathname,
    ]);
    if (!out.success) {
      throw new Error(
        `native backend: compiling ${SOURCE.pathname} for ${march} failed:\n${
          new TextDecoder().decode(out.stderr).trim()
        }`,
      );
    }
    written.push(lib);
  }
  return written;
}
