/**
 * `deno task export --run DIR [--out FILE] [--projector] [--check]`: a run's encoder (and
 * optionally its projection head) as safetensors named and laid out as the torch modules of
 * `bench/load_torch.py` expect, so it loads with `load_state_dict(strict=True)`. With `--check`
 * it loads the file in PyTorch and compares the eval-mode features of the first 256 test images
 * with ours.
 *
 * @module
 */
import { join } from "node:path";
import {
  commandFlags,
  createModel,
  DEFAULT_WIDTHS,
  encodeImages,
  encodeSafetensors,
  featuresInTorchOrder,
  FlagError,
  Graph,
  headOf,
  type ModelName,
  modelOptions,
  readSafetensors,
  type SimclrModel,
  torchStateDict,
  writeFileAtomic,
} from "@simclr/core";
import { CIFAR10_MEAN, CIFAR10_STD, ensureCifar10, loadCifar10 } from "@simclr/data";
import { loadCheckpoint, loadWeights, RUN_FILES, type TrainConfig } from "@simclr/train";
import { BACKEND_NAMES, chooseBackend } from "./backends.ts";
import { runTorchScript, torchAvailable } from "./torch_python.ts";

/** The flags of `deno task export`. */
const EXPORT_FLAGS = {
  run: { type: "string", arg: "DIR", help: `run folder with ${RUN_FILES.checkpoint}` },
  format: {
    type: "string",
    default: "safetensors",
    choices: ["safetensors"],
    help: "file format (the only one)",
  },
  out: {
    type: "string",
    arg: "FILE",
    defaultText: "DIR/encoder.safetensors, DIR/encoder-projector.safetensors with --projector",
    help: "file to write",
  },
  projector: { type: "boolean", help: "include the projection head" },
  check: {
    type: "boolean",
    help: "load the file in PyTorch (strict) and compare its eval-mode features of the first " +
      "--count test images with ours, computed on --backend",
  },
  data: { type: "string", arg: "DIR", help: "CIFAR-10 folder for --check (default: the run's)" },
  backend: {
    type: "string",
    default: "native",
    choices: BACKEND_NAMES,
    help: "the backend --check computes our features on",
  },
  count: { type: "int", default: 256, min: 1, help: "test images --check compares" },
} as const;

/** Largest relative difference `--check` accepts between PyTorch's features and ours. */
export const EXPORT_FEATURE_TOLERANCE = 1e-4;

/** The metadata of an exported file: what `load_torch.py` needs to rebuild and feed the model. */
export function exportMetadata(
  model: SimclrModel,
  opts: { width: number; step: number; projector: boolean },
): Record<string, string> {
  // The head's shape rides along so that load_torch.py builds the same head (--proj-* flags).
  const head = opts.projector ? headOf(model) : undefined;
  return {
    format: "pt",
    producer: "simclr-ts",
    model: model.name,
    width: opts.width > 0 ? String(opts.width) : "",
    feature_dim: String(model.featureDim),
    projector: String(opts.projector),
    ...(head && {
      proj_hidden: String(head.hidden),
      proj_out: String(head.out),
      proj_layers: String(head.layers),
    }),
    step: String(opts.step),
    mean: JSON.stringify(CIFAR10_MEAN),
    std: JSON.stringify(CIFAR10_STD),
    input: "NCHW float32 RGB scaled to [0,1], then (x - mean[c]) / std[c] per channel",
  };
}

/** Writes `model` as safetensors to `path`, atomically. */
export async function writeTorchExport(
  path: string,
  model: SimclrModel,
  opts: { width: number; step: number; projector: boolean },
): Promise<void> {
  const tensors = await torchStateDict(model, { projector: opts.projector, step: opts.step });
  await writeFileAtomic(path, encodeSafetensors(tensors, exportMetadata(model, opts)));
}

/** ‖a − b‖ / ‖a‖ and max |a − b|. */
function relativeDiff(a: Float32Array, b: Float32Array): { rel: number; maxAbs: number } {
  let d2 = 0, a2 = 0, maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    d2 += d * d;
    a2 += a[i] * a[i];
    maxAbs = Math.max(maxAbs, Number.isNaN(d) ? Infinity : d);
  }
  return { rel: Math.sqrt(d2 / (a2 || 1)), maxAbs };
}

async function main(): Promise<number> {
  const parsed = commandFlags("export", EXPORT_FLAGS, Deno.args, {
    usage: "usage: deno task export --run DIR [--out FILE] [--projector] [--check] [flags]",
    check: (v) => {
      if (!v.run) throw new FlagError("--run DIR is required");
    },
  });
  if (typeof parsed === "number") return parsed;
  const flags = { ...parsed.values, run: parsed.values.run! };
  const count = flags.count;
  const ckptPath = join(flags.run, RUN_FILES.checkpoint);
  const ckpt = await loadCheckpoint<TrainConfig & { model: ModelName }>(ckptPath);
  const config = ckpt.meta.config;
  const out = flags.out ??
    join(flags.run, flags.projector ? "encoder-projector.safetensors" : "encoder.safetensors");
  // The weights only pass through the backend; --check also encodes images on it.
  const chosen = await chooseBackend(flags.check ? flags.backend : "ref", "auto");
  const g = new Graph(chosen.backend);
  const model = createModel(g, config.model, modelOptions(config, config.seed));
  loadWeights(g, model, ckpt, ckptPath);
  const width = config.width || DEFAULT_WIDTHS[config.model];
  await writeTorchExport(out, model, { width, step: ckpt.meta.step, projector: flags.projector });
  console.error(
    `wrote ${out}: ${config.model} ${flags.projector ? "encoder + projector" : "encoder"}, ` +
      `step ${ckpt.meta.step} (safetensors, PyTorch names and layouts)`,
  );
  if (!flags.check) return 0;

  const torch = await torchAvailable();
  if ("missing" in torch) {
    console.error(`export --check: ${torch.missing}`);
    return 1;
  }
  const dataDir = await ensureCifar10({
    data: flags.data ?? config.data,
    validate: { strictCounts: false },
  });
  const data = await loadCifar10(dataDir, { strictCounts: false });
  const n = Math.min(count, data.test.count);
  const featuresPath = await Deno.makeTempFile({ suffix: ".safetensors" });
  try {
    const log = await runTorchScript("load_torch.py", [
      out,
      "--cifar",
      join(dataDir, "test_batch.bin"),
      "--count",
      String(n),
      "--out",
      featuresPath,
    ]);
    console.error(log.trim());
    const theirs = (await readSafetensors(featuresPath)).tensors.get("features")!
      .data as Float32Array;
    const ours = featuresInTorchOrder(
      model,
      await encodeImages(model, data.test.images.subarray(0, n * 3072), {
        mean: CIFAR10_MEAN,
        std: CIFAR10_STD,
      }),
    );
    const { rel, maxAbs } = relativeDiff(ours, theirs);
    const ok = ours.length === theirs.length && rel <= EXPORT_FEATURE_TOLERANCE;
    console.log(
      `PyTorch ${torch.version} loaded ${out} with strict=True; eval-mode features of the first ` +
        `${n} test images (${chosen.backend.name} vs torch): max|Δ| ${maxAbs.toExponential(2)}, ` +
        `‖Δ‖/‖ours‖ ${rel.toExponential(2)} (tolerance ${EXPORT_FEATURE_TOLERANCE}): ` +
        (ok ? "OK" : "NOT OK"),
    );
    return ok ? 0 : 1;
  } finally {
    await Deno.remove(featuresPath).catch(() => {});
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`export: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
