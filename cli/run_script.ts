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

/** Settings of {@linkcode fixtureTrainArgs}; each becomes the flag of the same name. */
export interface FixtureTrain {
  model?: string;
  /** Channel width; `simple` has none, so it is left out for that model. */
  width?: number;
  epochs?: number;
  batchSize?: number;
  limit?: number;
  /** `--knn-every`; left to the trainer's default when not given. */
  knnEvery?: number;
}

/**
 * The flags of a tiny training run on the reference backend, reading the fixture in `data` and
 * writing `out`: `small` of width 2, 1 epoch of batch 16 on 64 images unless `opts` says otherwise.
 * Tests append whatever they vary (`--seed`, `--resume`, head flags).
 */
export function fixtureTrainArgs(data: string, out: string, opts: FixtureTrain = {}): string[] {
  const model = opts.model ?? "small";
  return [
    "--backend=ref",
    `--model=${model}`,
    ...(model === "simple" ? [] : [`--width=${opts.width ?? 2}`]),
    `--epochs=${opts.epochs ?? 1}`,
    `--batch-size=${opts.batchSize ?? 16}`,
    `--limit=${opts.limit ?? 64}`,
    ...(opts.knnEvery === undefined ? [] : [`--knn-every=${opts.knnEvery}`]),
    `--data=${data}`,
    `--out=${out}`,
  ];
}
