/**
 * Test helper: runs one of this folder's command scripts in a fresh Deno process and returns its
 * exit code with stdout and stderr joined. Not part of the public `mod.ts`.
 *
 * @module
 */

/**
 * Runs `deno run -A cli/<script> ...args` with `env` added to the environment; `script` is
 * relative to this folder (`./train.ts`).
 */
export async function runScript(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  const path = new URL(script, import.meta.url).pathname;
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
  return { code: result.code, out };
}
