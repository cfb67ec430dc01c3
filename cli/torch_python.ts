/**
 * Finding the Python that has PyTorch, for `export --check` and `verify --peer torch`. The
 * `python3` on PATH may be a pyenv or venv shim without torch, while Debian's `python3-torch`
 * installs into the system interpreter; so the choice is explicit: `$SIMCLR_PYTHON`, else
 * `/usr/bin/python3`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The interpreter used for the torch scripts: `$SIMCLR_PYTHON` or `/usr/bin/python3`. */
export function pythonPath(): string {
  return Deno.env.get("SIMCLR_PYTHON") || "/usr/bin/python3";
}

/** The folder of `load_torch.py`, `oracle_torch.py` and `peer_torch.py`. */
export const TORCH_SCRIPTS: string = fileURLToPath(new URL("../bench/", import.meta.url));

/** Torch's version when {@linkcode pythonPath} can import torch and numpy; else why not. */
export async function torchAvailable(): Promise<{ version: string } | { missing: string }> {
  const python = pythonPath();
  try {
    const r = await new Deno.Command(python, {
      args: ["-c", "import numpy, torch; print(torch.__version__)"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (r.success) return { version: new TextDecoder().decode(r.stdout).trim() };
    const err = new TextDecoder().decode(r.stderr).trim().split("\n").at(-1);
    return {
      missing: `${python} cannot import torch (${err}); install Debian's python3-torch ` +
        `(apt-get install python3-torch) or set SIMCLR_PYTHON to a Python that has torch`,
    };
  } catch (e) {
    return {
      missing: `${python} does not run (${(e as Error).message}); install python3-torch or set ` +
        `SIMCLR_PYTHON`,
    };
  }
}

/** Runs one of the torch scripts; throws with its stderr when it fails. Returns its stderr. */
export async function runTorchScript(script: string, args: string[]): Promise<string> {
  const r = await new Deno.Command(pythonPath(), {
    args: [TORCH_SCRIPTS + script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  if (!r.success) throw new Error(`${script} failed (exit ${r.code}):\n${err.trim()}`);
  return err;
}
