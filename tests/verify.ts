/**
 * `deno task verify [--engine E] [--json FILE]`: the reference backend against the TF.js backend,
 * kernel by kernel and over full SimCLR training steps. `--peer torch` instead checks the native
 * and reference backends against PyTorch (`verify_torch.ts`). Exits non-zero on any NOT OK.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { createRefBackend } from "@simclr/backend-ref";
import { chooseBackend, torchAvailable } from "@simclr/cli";
import { formatTable, verifyKernels, type VerifyRow, verifyTrainingSteps } from "./verify_lib.ts";
import { PEER_MODELS, type PeerBreak, verifyAgainstTorch } from "./verify_torch.ts";
import { commandFlags, writeVerifyDocument } from "@simclr/core";

/** The flags of `deno task verify`. */
const VERIFY_FLAGS = {
  backend: {
    type: "string",
    default: "auto",
    choices: ["auto", "gpu", "native"],
    help: "the backend checked against the reference (auto: the one train would pick)",
  },
  engine: {
    type: "string",
    default: "auto",
    choices: ["auto", "cuda", "webgpu", "wasm"],
    help: "TF.js engine for --backend gpu; an engine other than auto implies --backend gpu",
  },
  json: {
    type: "string",
    arg: "FILE",
    help: "also write the rows and phase times as JSON to FILE",
  },
  quick: { type: "boolean", help: "smaller batches (for tests)" },
  models: {
    type: "list",
    default: ["simple", "small", "resnet18"],
    choices: ["simple", "small", "resnet18"],
    help: "comma list of the models whose training steps are compared",
  },
  peer: {
    type: "string",
    choices: ["torch"],
    help: "instead: PyTorch as an outside oracle for the native and ref backends (three SimCLR " +
      "steps of simple, small and a narrow resnet18); needs python3-torch ($SIMCLR_PYTHON, default " +
      "/usr/bin/python3), skipped with a message without it",
  },
  "peer-break": {
    type: "string",
    default: "none",
    choices: ["none", "bn-var"],
    help: "break one convention on the PyTorch side on purpose (the check must fail)",
  },
} as const;

/** Why `path` cannot take the JSON output (undefined when it can), checked by writing beside it. */
export async function jsonTargetProblem(path: string): Promise<string | undefined> {
  const stat = await Deno.stat(path).catch(() => undefined);
  if (stat?.isDirectory) return "is a folder, expected a file name";
  const dir = dirname(path);
  const probe = join(dir, `.verify-probe.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`);
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(probe, new Uint8Array());
    await Deno.remove(probe);
  } catch (e) {
    return `cannot write in ${dir} (${(e as Error).message})`;
  }
  return undefined;
}

async function main() {
  const parsed = commandFlags("verify", VERIFY_FLAGS, Deno.args, {
    usage: "usage: deno task verify [--backend B] [--engine E] [--json FILE] [--quick] [flags]",
  });
  if (typeof parsed === "number") Deno.exit(parsed);
  const args = parsed.values;
  const asked: string[] = args.models;
  if (args.json) {
    // A run takes minutes: find out now, not after it, that the result cannot be written.
    const problem = await jsonTargetProblem(args.json);
    if (problem) {
      console.error(`verify: --json ${args.json}: ${problem}`);
      Deno.exit(2);
    }
  }
  if (args.peer !== undefined) {
    Deno.exit(await verifyPeer(args["peer-break"], args.json));
  }
  const chosen = await chooseBackend(args.backend, args.engine);
  const gpu = chosen.backend;
  if (chosen.selection) console.log(chosen.selection);
  console.log(`engine: ${chosen.description}`);
  const ref = createRefBackend();
  const rows: VerifyRow[] = [];
  rows.push(...await verifyKernels(ref, gpu));
  const batch = args.quick ? 2 : 4;
  const times = [];
  // ResNet-18 has 17 batch-norm layers between the loss and its stem: float32 error grows to
  // ~1e-3 relative there (measured 1.2–3.4e-3 on wasm), hence its wider bound.
  const models = [["simple", undefined, 1e-3], ["small", 8, 1e-3], ["resnet18", 8, 1e-2]] as const;
  for (const [model, width, tolerance] of models.filter(([name]) => asked.includes(name))) {
    const r = await verifyTrainingSteps(ref, gpu, model, { batch, steps: 3, width, tolerance });
    rows.push(...r.rows);
    times.push(...r.times);
  }
  console.log(formatTable(rows));
  console.log("\nphase times over 3 steps (ms):");
  for (const t of times) {
    console.log(
      `  ${t.model.padEnd(9)} ${t.backend.padEnd(12)} forward ${
        t.forwardMs.toFixed(0).padStart(7)
      }` +
        `  backward ${t.backwardMs.toFixed(0).padStart(7)}  update ${
          t.updateMs.toFixed(0).padStart(6)
        }`,
    );
  }
  const bad = rows.filter((r) => !r.ok);
  console.log(
    bad.length === 0
      ? `\nall ${rows.length} tensors OK`
      : `\n${bad.length} of ${rows.length} tensors NOT OK`,
  );
  if (args.json) {
    await writeVerifyDocument(args.json, { engine: chosen.engine, backend: gpu.name, rows, times });
    console.log(`wrote ${args.json}`);
  }
  Deno.exit(bad.length === 0 ? 0 : 1);
}

/** `--peer torch`: the native and ref backends against PyTorch; returns the exit code. */
async function verifyPeer(broken: PeerBreak | "none", json?: string): Promise<number> {
  const torch = await torchAvailable();
  if ("missing" in torch) {
    console.log(`verify --peer torch: skipped: ${torch.missing}`);
    return 0;
  }
  const t0 = performance.now();
  const native = (await chooseBackend("native", "auto")).backend;
  const backends = [native, createRefBackend()];
  console.log(
    `peer: PyTorch ${torch.version} against ${backends.map((b) => b.name).join(" and ")}` +
      (broken !== "none" ? ` (PyTorch side broken on purpose: ${broken})` : ""),
  );
  const rows: VerifyRow[] = [];
  const times = [];
  for (const { model, width, tolerance, featureTolerance } of PEER_MODELS) {
    const r = await verifyAgainstTorch(backends, model, {
      batch: 8,
      steps: 3,
      width,
      tolerance,
      featureTolerance,
      broken,
    });
    rows.push(...r.rows);
    times.push({ model, torchSeconds: r.torchSeconds, oursSeconds: r.oursSeconds });
  }
  console.log(formatTable(rows));
  console.log("\nseconds per model (3 steps; torch includes starting Python):");
  for (const t of times) {
    console.log(
      `  ${t.model.padEnd(9)} torch ${t.torchSeconds.toFixed(1)}  ` +
        backends.map((b, i) => `${b.name} ${t.oursSeconds[i].toFixed(1)}`).join("  "),
    );
  }
  const bad = rows.filter((r) => !r.ok);
  console.log(
    (bad.length === 0
      ? `\nall ${rows.length} tensors OK`
      : `\n${bad.length} of ${rows.length} tensors NOT OK`) +
      ` against PyTorch in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  if (json) {
    await writeVerifyDocument(json, { peer: `pytorch-${torch.version}`, broken, rows, times });
    console.log(`wrote ${json}`);
  }
  return bad.length === 0 ? 0 : 1;
}

if (import.meta.main) await main();
