/**
 * `deno task train --init-from FILE.safetensors`: starting weights from a file in PyTorch's names
 * and layouts (what `deno task export` writes, or a torch `state_dict` saved as safetensors), for
 * fine-tuning and for the PyTorch cross-check of `verify --peer torch`.
 *
 * @module
 */
import { type Graph, loadTorchStateDict, readSafetensors, type SimclrModel } from "@simclr/core";

/**
 * Loads `path` into `model`: the encoder always (every tensor, with torch's shapes), the projector
 * when the file has one. The file's `model` metadata, when present, must match. Returns a line
 * for the log; errors name the file and the missing, unexpected or mismatched tensor.
 */
export async function initFromSafetensors(
  g: Graph,
  model: SimclrModel,
  path: string,
): Promise<string> {
  const file = await readSafetensors(path);
  const saved = file.metadata.model;
  if (saved && saved !== model.name) {
    throw new Error(
      `--init-from ${path}: the file holds model "${saved}", training uses "${model.name}"`,
    );
  }
  const { projector } = loadTorchStateDict(g, model, file, path);
  const step = file.metadata.step ? ` (exported at step ${file.metadata.step})` : "";
  return `initialised the encoder${
    projector ? " and projector" : " (projector: fresh)"
  } from ${path}${step}`;
}
