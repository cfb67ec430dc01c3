/**
 * `deno task bench`: median time and images/s of one SimCLR training step (two views per image,
 * NT-Xent, backward, Adam) per backend and model, plus the GFLOP/s of a 1024³ matMul. Prints a
 * table and writes JSON. `--peer` runs the same steps in PyTorch (Debian's python3-torch) on the
 * same machine in the same run and prints the ratio.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type Backend,
  createModel,
  DEFAULT_OPTIMIZER,
  Graph,
  type ModelName,
  Optimizer,
  Rng,
  trainStep,
  writeJsonAtomic,
} from "@simclr/core";

/** One measured configuration. */
export interface BenchRow {
  backend: string;
  model: string;
  batch: number;
  /** Median seconds of one training step. */
  stepSeconds: number;
  /** Images per second (one image = two views). */
  imagesPerSec: number;
}

const USAGE =
  `usage: deno task bench [--backends LIST] [--models LIST] [--steps N] [--peer] [--json FILE]
  --backends  comma list of: auto, native, wasm, webgpu, cuda, ref (default: auto, the backend
              train would pick here)
  --models    comma list of: simple, small, resnet18               (default: simple,small,resnet18)
  --steps     timed steps per configuration, after one warm-up     (default: 3)
  --batch     images per step for simple/small                     (default: 256; resnet18: 64)
  --matmul    size N of the N³ matMul measured per backend; 0 skips it (default: 1024)
  --peer      also run the same steps in PyTorch (python3-torch) and print the ratios
  --json      write the rows to FILE                                (default: runs/bench.json)`;

/** Creates a backend by its bench name, or explains why it is unavailable. */
async function createBackend(name: string): Promise<Backend> {
  if (name === "auto") {
    const chosen = await (await import("@simclr/cli")).chooseBackend("auto", "auto");
    if (chosen.selection) console.error(chosen.selection);
    return chosen.backend;
  }
  if (name === "ref") return (await import("@simclr/backend-ref")).createRefBackend();
  if (name === "native") {
    const mod = await import("@simclr/backend-native");
    return await mod.createNativeBackend();
  }
  const { createGpuBackend } = await import("@simclr/backend-gpu");
  return await createGpuBackend({ engine: name as "wasm" | "webgpu" | "cuda" });
}

/** Median of the step times of `steps` SimCLR steps after one warm-up step. */
export async function benchStep(
  backend: Backend,
  model: ModelName,
  batch: number,
  steps: number,
): Promise<BenchRow> {
  const g = new Graph(backend);
  const net = createModel(g, model, { seed: 0 });
  const opt = new Optimizer(g, net.params(), DEFAULT_OPTIMIZER);
  const rng = new Rng(1);
  const views = [0, 1].map(() => new Float32Array(batch * 3072).map(() => rng.normal()));
  const times: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const t0 = performance.now();
    await trainStep(
      net,
      opt,
      views[0],
      views[1],
      batch,
      { loss: "ntxent", temperature: 0.5 },
      1e-3,
    );
    if (s > 0) times.push((performance.now() - t0) / 1000);
  }
  opt.dispose();
  for (const p of net.params()) g.dispose(p.value);
  for (const b of net.buffers()) g.dispose(b.value);
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  return { backend: backend.name, model, batch, stepSeconds: median, imagesPerSec: batch / median };
}

/** GFLOP/s of an n×n by n×n matMul (median of 5 after a warm-up). */
export async function benchMatMul(backend: Backend, n = 1024): Promise<number> {
  const rng = new Rng(2);
  const a = backend.upload(new Float32Array(n * n).map(() => rng.uniform()), [n, n]);
  const b = backend.upload(new Float32Array(n * n).map(() => rng.uniform()), [n, n]);
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    const c = backend.matMul(a, b, false, false);
    await backend.read(c);
    if (i > 0) times.push((performance.now() - t0) / 1000);
    backend.dispose(c);
  }
  backend.dispose(a);
  backend.dispose(b);
  times.sort((x, y) => x - y);
  return (2 * n ** 3) / times[2] / 1e9;
}

/** Runs bench/peer_torch.py and returns its rows, or the reason it could not run. */
async function peerRows(
  models: string[],
  batch: number,
  steps: number,
): Promise<BenchRow[] | string> {
  const script = new URL("../bench/peer_torch.py", import.meta.url).pathname;
  let out;
  try {
    out = await new Deno.Command("/usr/bin/python3", {
      args: [
        script,
        "--models",
        models.join(","),
        "--batch",
        String(batch),
        "--steps",
        String(steps),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    return `could not start /usr/bin/python3: ${(e as Error).message}`;
  }
  if (!out.success) {
    return `PyTorch peer failed (install it with: apt-get install python3-torch):\n` +
      new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join("\n");
  }
  return JSON.parse(new TextDecoder().decode(out.stdout)) as BenchRow[];
}

async function main(): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: Deno.args,
      options: {
        backends: { type: "string", default: "auto" },
        models: { type: "string", default: "simple,small,resnet18" },
        steps: { type: "string", default: "3" },
        batch: { type: "string", default: "256" },
        peer: { type: "boolean", default: false },
        matmul: { type: "string", default: "1024" },
        json: { type: "string", default: "runs/bench.json" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const steps = Number(values.steps), batch = Number(values.batch);
  const matmulSize = Number(values.matmul);
  if (!Number.isInteger(matmulSize) || matmulSize < 0) {
    console.error(`bench: --matmul must be an integer ≥ 0, got "${values.matmul}"`);
    return 2;
  }
  if (!Number.isInteger(steps) || steps < 1) {
    console.error(`bench: --steps must be an integer ≥ 1, got "${values.steps}"`);
    return 2;
  }
  if (!Number.isInteger(batch) || batch < 2) {
    console.error(`bench: --batch must be an integer ≥ 2, got "${values.batch}"`);
    return 2;
  }
  const models = values.models!.split(",") as ModelName[];
  for (const m of models) {
    if (!["simple", "small", "resnet18"].includes(m)) {
      console.error(`bench: unknown model "${m}" in --models (simple, small, resnet18)`);
      return 2;
    }
  }
  const batchOf = (m: string) => (m === "resnet18" ? Math.min(64, batch) : batch);
  const rows: BenchRow[] = [];
  const matmul: { backend: string; gflops: number }[] = [];
  for (const name of values.backends!.split(",")) {
    let backend: Backend;
    try {
      backend = await createBackend(name);
    } catch (e) {
      console.error(`bench: skipping ${name}: ${(e as Error).message.split("\n")[0]}`);
      continue;
    }
    if (matmulSize > 0) {
      const gflops = await benchMatMul(backend, matmulSize);
      matmul.push({ backend: backend.name, gflops });
      console.error(`${backend.name}: matMul ${matmulSize}³ ${gflops.toFixed(1)} GFLOP/s`);
    }
    for (const m of models) {
      let row: BenchRow;
      try {
        row = await benchStep(backend, m, batchOf(m), steps);
      } catch (e) {
        // e.g. the wasm engine's 4 GiB cap with ResNet-18; it is unusable afterwards.
        console.error(`bench: ${backend.name} ${m} failed: ${(e as Error).message.split("\n")[0]}`);
        break;
      }
      rows.push(row);
      console.error(
        `${backend.name} ${m} batch ${row.batch}: ${row.stepSeconds.toFixed(2)} s/step, ` +
          `${row.imagesPerSec.toFixed(1)} img/s`,
      );
    }
  }
  let peer: BenchRow[] = [];
  if (values.peer) {
    const r = await peerRows(models, batch, steps);
    if (typeof r === "string") console.error(`bench: ${r}`);
    else peer = r;
  }
  const header = ["backend", "model", "batch", "s/step", "img/s", "× PyTorch"];
  const body = [...rows, ...peer].map((r) => {
    const p = peer.find((q) => q.model === r.model);
    return [
      r.backend,
      r.model,
      String(r.batch),
      r.stepSeconds.toFixed(3),
      r.imagesPerSec.toFixed(1),
      p ? (r.imagesPerSec / p.imagesPerSec).toFixed(2) : "",
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padStart(widths[i])).join("  ");
  console.log(line(header));
  for (const b of body) console.log(line(b));
  for (const m of matmul) {
    console.log(`matMul ${matmulSize}³ on ${m.backend}: ${m.gflops.toFixed(1)} GFLOP/s`);
  }
  await writeJsonAtomic(values.json!, {
    machine: { cores: navigator.hardwareConcurrency, date: new Date().toISOString() },
    rows,
    peer,
    matmul,
  });
  console.log(`wrote ${values.json}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
