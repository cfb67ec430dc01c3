/**
 * The one conformance suite of simclr-ts, in the manner of llm.c's test: the reference backend and
 * a fast backend run the very same kernels and the very same training steps from the same weights
 * and inputs; every tensor is compared with a stated tolerance and reported OK / NOT OK.
 * `deno task verify` prints these rows, and every backend's tests assert them
 * ({@linkcode assertRowsOk}); backend tests that need extra shapes (a threaded path, an engine's
 * long sums) compare them through {@linkcode compareKernel}, against the same reference.
 *
 * @module
 */
import {
  type Backend,
  createModel,
  DEFAULT_OPTIMIZER,
  type DeviceTensor,
  Graph,
  type ModelName,
  Optimizer,
  Rng,
  type Shape,
  simclrLoss,
  sizeOf,
  type VerifyRow,
} from "@simclr/core";

/** One compared tensor (the type belongs to the verify document, core/records.ts). */
export type { VerifyRow } from "@simclr/core";

/** Time of each phase of a training step, milliseconds, per backend. */
export interface PhaseTimes {
  backend: string;
  model: string;
  forwardMs: number;
  backwardMs: number;
  updateMs: number;
}

/** Compares two host arrays. */
export function compare(
  group: string,
  name: string,
  shape: Shape,
  ref: Float32Array,
  other: Float32Array,
  tolerance: number,
): VerifyRow {
  if (ref.length !== other.length) {
    throw new Error(`${name}: ref has ${ref.length} values, other ${other.length}`);
  }
  let maxAbs = 0, diff2 = 0, ref2 = 0, finite = true;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ref[i] - other[i]);
    if (!Number.isFinite(other[i]) || !Number.isFinite(ref[i])) finite = false;
    if (d > maxAbs) maxAbs = d;
    diff2 += d * d;
    ref2 += ref[i] * ref[i];
  }
  const rel = ref2 > 0 ? Math.sqrt(diff2 / ref2) : Math.sqrt(diff2);
  return {
    group,
    name,
    shape: [...shape],
    maxAbsDiff: maxAbs,
    relDiff: rel,
    tolerance,
    ok: finite && rel <= tolerance,
  };
}

/** Tolerance of a single kernel: float32 on the fast side against float64 accumulation. */
export const KERNEL_TOLERANCE = 1e-5;
/**
 * Default tolerance of a whole training step's gradients and updated parameters. Errors compound
 * through the layers, and batch norm's backward subtracts nearly equal terms on small batches, so
 * deep networks need more: {@linkcode verifyTrainingSteps} takes a per-model override.
 */
export const STEP_TOLERANCE = 1e-3;
/**
 * Tolerance of the loss at the first step (same weights, same inputs). Later steps start from
 * weights that already differ: Adam's first step moves every weight by about lr·sign(g), so a
 * weight whose gradient is within float32 noise of zero may step the other way (by up to 2·lr);
 * those losses get 10× more.
 */
export const LOSS_TOLERANCE = 1e-4;

function random(rng: Rng, shape: Shape, lo = -1, hi = 1, levels?: number): Float32Array {
  const a = new Float32Array(sizeOf(shape));
  for (let i = 0; i < a.length; i++) {
    // With `levels`, values are whole numbers in [lo, lo + levels): most pool windows then tie.
    a[i] = levels ? lo + Math.min(levels - 1, Math.floor(rng.range(0, levels))) : rng.range(lo, hi);
  }
  return a;
}

/** One random input of {@linkcode compareKernel}. */
export interface KernelInput {
  /** Shape of the input. */
  readonly shape: Shape;
  /** Lowest value (default -1). */
  readonly lo?: number;
  /** Highest value (default 1). */
  readonly hi?: number;
  /** If set, values are the whole numbers lo, lo + 1, …, lo + levels − 1 (to make ties). */
  readonly levels?: number;
}

/**
 * Runs `kernel` on both backends with the same random inputs (drawn from `rng`) and compares
 * the outputs; every tensor is disposed again.
 */
export async function compareKernel(
  ref: Backend,
  other: Backend,
  group: string,
  name: string,
  inputs: readonly KernelInput[],
  kernel: (b: Backend, xs: DeviceTensor[]) => DeviceTensor,
  rng: Rng,
  tolerance = KERNEL_TOLERANCE,
): Promise<VerifyRow> {
  const values = inputs.map((i) => random(rng, i.shape, i.lo, i.hi, i.levels));
  const outs: Float32Array[] = [];
  let shape: Shape = [];
  for (const b of [ref, other]) {
    const xs = values.map((v, k) => b.upload(v, inputs[k].shape));
    const y = kernel(b, xs);
    shape = y.shape;
    outs.push(await b.read(y));
    for (const x of [...xs, y]) b.dispose(x);
  }
  return compare(group, name, shape, outs[0], outs[1], tolerance);
}

/**
 * Throws unless `rows` is non-empty and every row is OK; the error holds the table of the NOT OK
 * rows. (An empty list is an error: a check that compared nothing must not pass.)
 */
export function assertRowsOk(rows: readonly VerifyRow[]): void {
  if (rows.length === 0) throw new Error("conformance: no rows were compared");
  const bad = rows.filter((r) => !r.ok);
  if (bad.length > 0) {
    throw new Error(
      `conformance: ${bad.length} of ${rows.length} comparisons NOT OK\n${formatTable(bad)}`,
    );
  }
}

/**
 * Runs every kernel, forward and gradient, on fresh random inputs of several shapes (odd sizes,
 * stride 1 and 2, padding) on both backends and compares the outputs.
 */
export async function verifyKernels(
  ref: Backend,
  other: Backend,
  seed = 1,
): Promise<VerifyRow[]> {
  const rng = new Rng(seed);
  const rows: VerifyRow[] = [];
  const run = async (
    name: string,
    inputs: KernelInput[],
    kernel: (b: Backend, xs: DeviceTensor[]) => DeviceTensor,
    tolerance = KERNEL_TOLERANCE,
  ) => rows.push(await compareKernel(ref, other, "kernels", name, inputs, kernel, rng, tolerance));

  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
    const [m, k, n] = [7, 13, 5];
    await run(
      `matMul${ta ? "ᵀ" : ""}${tb ? "·ᵀ" : ""} ${m}x${k}x${n}`,
      [{ shape: ta ? [k, m] : [m, k] }, { shape: tb ? [n, k] : [k, n] }],
      (b, [a, c]) => b.matMul(a, c, ta, tb),
    );
  }
  await run(
    "matMul 64x300x100",
    [{ shape: [64, 300] }, { shape: [300, 100] }],
    (b, [a, c]) => b.matMul(a, c, false, false),
  );

  const convCases: [number[], number[], number, number][] = [
    [[2, 7, 5, 3], [3, 3, 3, 4], 1, 1],
    [[2, 9, 9, 3], [3, 3, 3, 5], 2, 1],
    [[2, 8, 7, 4], [3, 3, 4, 6], 2, 1],
    [[1, 8, 8, 4], [1, 1, 4, 6], 2, 0],
    [[2, 6, 7, 2], [3, 3, 2, 3], 1, 0],
    [[2, 5, 6, 3], [5, 5, 3, 2], 1, 2],
    [[4, 16, 16, 32], [3, 3, 32, 64], 1, 1],
    // Odd sides with trailing rows/columns the forward pass skips ((h + 2·pad − k) % stride ≠ 0),
    // k − 1 − pad < 0 (k 1, pad 1), stride-2 phases without any filter tap (k 1), a non-square
    // filter and stride 3: the cases composed gradients (TF.js) get wrong first.
    [[2, 5, 7, 3], [3, 3, 3, 4], 2, 0],
    [[2, 6, 7, 3], [3, 3, 3, 2], 2, 1],
    [[2, 5, 7, 3], [1, 1, 3, 4], 2, 0],
    [[2, 5, 7, 3], [1, 1, 3, 4], 1, 1],
    [[2, 5, 7, 3], [1, 1, 3, 4], 2, 1],
    [[2, 5, 7, 2], [3, 1, 2, 3], 2, 1],
    [[2, 7, 8, 2], [3, 3, 2, 3], 3, 1],
  ];
  for (const [xs, ws, stride, pad] of convCases) {
    const geom = { stride, pad };
    const tag = `[${xs}]*[${ws}] s${stride} p${pad}`;
    const oh = Math.floor((xs[1] + 2 * pad - ws[0]) / stride) + 1;
    const ow = Math.floor((xs[2] + 2 * pad - ws[1]) / stride) + 1;
    const dyShape = [xs[0], oh, ow, ws[3]];
    await run(`conv2d ${tag}`, [{ shape: xs }, { shape: ws }], (b, [x, w]) => b.conv2d(x, w, geom));
    await run(
      `conv2dGradInput ${tag}`,
      [{ shape: dyShape }, { shape: ws }],
      (b, [dy, w]) => b.conv2dGradInput(dy, w, xs, geom),
    );
    await run(
      `conv2dGradFilter ${tag}`,
      [{ shape: xs }, { shape: dyShape }],
      (b, [x, dy]) => b.conv2dGradFilter(x, dy, ws, geom),
    );
  }

  // The last four draw x from {0, 1, 2}, so most windows tie: the gradient goes to the first
  // maximum in row-major window order on every backend.
  const pools = [
    [[2, 8, 8, 3], 2, 2, undefined],
    [[1, 7, 9, 2], 3, 2, undefined],
    [[2, 7, 5, 3], 2, 2, 3],
    [[2, 7, 5, 3], 3, 2, 3],
    [[2, 7, 5, 3], 3, 1, 3],
    [[2, 7, 5, 3], 3, 3, 3],
  ] as const;
  for (const [xs, size, stride, levels] of pools) {
    const geom = { size, stride };
    const tag = `[${xs}] ${size}/${stride}${levels ? " ties" : ""}`;
    const x = { shape: xs, lo: levels ? 0 : -1, levels };
    await run(`maxPool ${tag}`, [x], (b, [t]) => b.maxPool(t, geom));
    const y0 = Math.floor((xs[1] - size) / stride) + 1,
      y1 = Math.floor((xs[2] - size) / stride) + 1;
    await run(
      `maxPoolGrad ${tag}`,
      [{ shape: [xs[0], y0, y1, xs[3]] }, x],
      (b, [dy, x]) => b.maxPoolGrad(dy, x, geom),
    );
  }

  for (const op of ["neg", "exp", "relu", "step"] as const) {
    await run(`unary ${op}`, [{ shape: [3, 17] }], (b, [x]) => b.unary(op, x));
  }
  for (const op of ["log", "sqrt"] as const) {
    await run(`unary ${op}`, [{ shape: [3, 17], lo: 0.1, hi: 3 }], (b, [x]) => b.unary(op, x));
  }
  for (const op of ["add", "sub", "mul"] as const) {
    await run(
      `binary ${op} [2,1,5]⊕[3,1]`,
      [{ shape: [2, 1, 5] }, { shape: [3, 1] }],
      (b, [x, y]) => b.binary(op, x, y),
    );
  }
  await run(
    "binary div [4,6]⊘[6]",
    [{ shape: [4, 6] }, { shape: [6], lo: 0.5, hi: 2 }],
    (b, [x, y]) => b.binary("div", x, y),
  );
  for (const op of ["sum", "max"] as const) {
    await run(
      `reduce ${op} [3,4,5] axes 0,2`,
      [{ shape: [3, 4, 5] }],
      (b, [x]) => b.reduce(op, x, [0, 2], false),
    );
    await run(
      `reduce ${op} [3,4,5] axis 1 keep`,
      [{ shape: [3, 4, 5] }],
      (b, [x]) => b.reduce(op, x, [1], true),
    );
  }
  await run(
    "reduce sum [64,16,16,32] axes 0,1,2",
    [{ shape: [64, 16, 16, 32] }],
    (b, [x]) => b.reduce("sum", x, [0, 1, 2], false),
    1e-5,
  );
  await run(
    "broadcastTo [1,3]→[2,4,3]",
    [{ shape: [1, 3] }],
    (b, [x]) => b.broadcastTo(x, [2, 4, 3]),
  );
  await run("reshape [2,3,4]→[6,4]", [{ shape: [2, 3, 4] }], (b, [x]) => b.reshape(x, [6, 4]));
  await run(
    "concat axis 1",
    [{ shape: [2, 3] }, { shape: [2, 5] }],
    (b, [x, y]) => b.concat([x, y], 1),
  );
  await run("slice [5,6]", [{ shape: [5, 6] }], (b, [x]) => b.slice(x, [1, 2], [3, 3]));
  await run("pad [2,3]", [{ shape: [2, 3] }], (b, [x]) => b.pad(x, [[1, 0], [2, 1]]));
  rows.push(...await verifyBatchNorm(ref, other, rng));
  return rows;
}

/** Per-channel float64 mean and biased variance of `x` viewed as `[n, C]`, rounded to float32. */
function hostChannelStats(x: Float32Array, channels: number): [Float32Array, Float32Array] {
  const n = x.length / channels;
  const mean = new Float64Array(channels), variance = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) mean[i % channels] += x[i] / n;
  for (let i = 0; i < x.length; i++) variance[i % channels] += (x[i] - mean[i % channels]) ** 2 / n;
  return [Float32Array.from(mean), Float32Array.from(variance)];
}

/**
 * The fused batch-norm kernels on 4-D NHWC and 2-D shapes: every output of `batchNorm` (y, mean,
 * variance) and of `batchNormGrad` (dx, dGamma, dBeta). Inputs have a non-zero mean and a spread
 * away from 1 so that centring and scaling are both exercised; the gradient gets the float64
 * statistics of its x, uploaded to both backends, so it is compared in isolation.
 */
async function verifyBatchNorm(ref: Backend, other: Backend, rng: Rng): Promise<VerifyRow[]> {
  const rows: VerifyRow[] = [];
  const eps = 1e-5;
  for (const shape of [[2, 5, 7, 3], [8, 4, 4, 16], [6, 10]]) {
    const channels = shape[shape.length - 1];
    const x = random(rng, shape, -0.5, 2.5);
    const dy = random(rng, shape);
    const gamma = random(rng, [channels], 0.5, 1.5);
    const beta = random(rng, [channels]);
    const [mean, variance] = hostChannelStats(x, channels);
    const outs: Record<string, Float32Array>[] = [];
    for (const b of [ref, other]) {
      const tx = b.upload(x, shape), tdy = b.upload(dy, shape);
      const [tg, tb, tm, tv] = [gamma, beta, mean, variance].map((v) => b.upload(v, [channels]));
      const outputs = {
        ...b.batchNorm(tx, tg, tb, eps),
        ...b.batchNormGrad(tdy, tx, tm, tv, tg, eps),
      };
      const host: Record<string, Float32Array> = {};
      for (const [name, t] of Object.entries(outputs)) host[name] = await b.read(t);
      outs.push(host);
      for (const t of [tx, tdy, tg, tb, tm, tv, ...Object.values(outputs)]) b.dispose(t);
    }
    const names = {
      batchNorm: ["y", "mean", "variance"],
      batchNormGrad: ["dx", "dGamma", "dBeta"],
    };
    for (const [kernel, outputs] of Object.entries(names)) {
      for (const name of outputs) {
        const outShape = name === "y" || name === "dx" ? shape : [channels];
        const row = compare(
          "kernels",
          `${kernel} [${shape}] ${name}`,
          outShape,
          outs[0][name],
          outs[1][name],
          KERNEL_TOLERANCE,
        );
        rows.push(row);
      }
    }
  }
  return rows;
}

/** Options of {@linkcode verifyTrainingSteps}. */
export interface StepVerifyOptions {
  /** Images per view. */
  batch: number;
  /** Training steps whose losses are compared (the first also compares every tensor). */
  steps: number;
  /** Encoder width override (a narrow ResNet keeps the reference fast). */
  width?: number;
  /** Seed of weights and inputs. */
  seed?: number;
  /** Bound on gradients and updated parameters (default {@linkcode STEP_TOLERANCE}). */
  tolerance?: number;
}

/**
 * Indices of the elements whose first Adam step two backends can be compared on, given their
 * gradients `a` and `b` (δ = a − b). Adam's first step moves a weight by lr·g/(|g| + ε), about
 * lr·sign(g). Where the two gradients are closer to zero than to each other (e.g. a batch-norm
 * shift whose effect the next batch norm removes, so its true gradient is 0 and float32 leaves
 * noise of either sign), the direction is not defined by the data. Near ε the size is not either:
 * a gradient off by δ moves the step by about lr·ε·|δ|/g², which is kept below 1e-4·lr, a tenth
 * of the tightest update tolerance (a batch-norm shift with gradient -9.8e-8 against -1.2e-7
 * moved by 0.907·lr against 0.925·lr). Equal gradients are always kept.
 */
export function resolvedSteps(
  a: Float32Array,
  b: Float32Array,
  epsilon = DEFAULT_OPTIMIZER.epsilon,
): number[] {
  const keep: number[] = [];
  for (let j = 0; j < a.length; j++) {
    const m = Math.abs(a[j]), d = Math.abs(a[j] - b[j]);
    if (a[j] === b[j] || (m > 2 * d && epsilon * d <= 1e-4 * m * m)) keep.push(j);
  }
  return keep;
}

/**
 * Runs `steps` full SimCLR training steps (two views, forward, NT-Xent, backward, Adam update) of
 * `model` on both backends from identical weights and inputs. Compares the loss of every step and,
 * after the first, every parameter's gradient and updated value. Returns rows and phase times.
 */
export async function verifyTrainingSteps(
  ref: Backend,
  other: Backend,
  model: ModelName,
  opts: StepVerifyOptions,
): Promise<{ rows: VerifyRow[]; times: PhaseTimes[] }> {
  const seed = opts.seed ?? 7;
  const rng = new Rng(seed + 1000);
  const shape = [opts.batch, 32, 32, 3];
  const inputs = Array.from({ length: opts.steps }, () => [random(rng, shape), random(rng, shape)]);
  const results: {
    losses: number[];
    grads: { name: string; shape: number[]; data: Float32Array }[];
    updated: Float32Array[];
    times: PhaseTimes;
  }[] = [];
  for (const backend of [ref, other]) {
    const g = new Graph(backend);
    const net = createModel(g, model, { seed, width: opts.width });
    const params = net.params();
    const opt = new Optimizer(g, params, DEFAULT_OPTIMIZER);
    const losses: number[] = [];
    let grads: { name: string; shape: number[]; data: Float32Array }[] = [];
    let updated: Float32Array[] = [];
    const times: PhaseTimes = {
      backend: backend.name,
      model,
      forwardMs: 0,
      backwardMs: 0,
      updateMs: 0,
    };
    for (let s = 0; s < opts.steps; s++) {
      await g.tidy(async () => {
        const v1 = g.constant(inputs[s][0], shape), v2 = g.constant(inputs[s][1], shape);
        // Phases are timed separately, each ending on a read so asynchronous engines finish.
        let t0 = performance.now();
        const loss = simclrLoss(net, v1, v2, { loss: "ntxent", temperature: 0.5 });
        losses.push(await loss.item());
        times.forwardMs += performance.now() - t0;
        t0 = performance.now();
        const gradTensors = g.backward(loss, params.map((p) => p.value));
        const gradData = await Promise.all(gradTensors.map((t) => t!.read()));
        times.backwardMs += performance.now() - t0;
        if (s === 0) {
          grads = params.map((p, i) => ({
            name: p.name,
            shape: [...p.value.shape],
            data: gradData[i],
          }));
        }
        t0 = performance.now();
        await opt.update(gradTensors, 1e-3);
        const newValues = await Promise.all(params.map((p) => p.value.read()));
        times.updateMs += performance.now() - t0;
        if (s === 0) updated = newValues;
      });
    }
    results.push({ losses, grads, updated, times });
    opt.dispose();
    net.dispose();
  }
  const [r, o] = results;
  const tolerance = opts.tolerance ?? STEP_TOLERANCE;
  const rows: VerifyRow[] = [];
  r.losses.forEach((l, s) =>
    rows.push(
      compare(
        model,
        `loss step ${s + 1}`,
        [],
        new Float32Array([l]),
        new Float32Array([o.losses[s]]),
        s === 0 ? LOSS_TOLERANCE : 10 * LOSS_TOLERANCE,
      ),
    )
  );
  r.grads.forEach((gr, i) =>
    rows.push(
      compare(model, `grad ${gr.name}`, gr.shape, gr.data, o.grads[i].data, tolerance),
    )
  );
  r.updated.forEach((u, i) => {
    const gr = r.grads[i].data;
    const keep = resolvedSteps(gr, o.grads[i].data);
    const skipped = gr.length - keep.length;
    const pick = (a: Float32Array) => Float32Array.from(keep, (j) => a[j]);
    rows.push(
      compare(
        model,
        `updated ${r.grads[i].name}` + (skipped ? ` (${skipped} unresolved skipped)` : ""),
        r.grads[i].shape,
        pick(u),
        pick(o.updated[i]),
        tolerance,
      ),
    );
  });
  return { rows, times: [r.times, o.times] };
}

/**
 * Calls every kernel with one kind of bad argument each (wrong shapes, ranks, geometry, ops,
 * disposed and foreign tensors) and returns the error messages with the leading
 * `<backend> backend ` removed, or `no error: <call>` where a call did not throw. Every backend
 * applies `core/shapes.ts`, so every backend must return exactly the reference's list.
 */
export function argumentErrors(b: Backend): string[] {
  const t = (shape: number[]) => b.upload(new Float32Array(sizeOf(shape)), shape);
  const x = t([1, 4, 4, 2]), w = t([3, 3, 2, 5]), w3 = t([3, 3, 3, 5]);
  const m = t([2, 3]), m33 = t([3, 3]), v = t([2]), v3 = t([3]);
  const gone = t([3]);
  b.dispose(gone);
  const foreign: DeviceTensor = { shape: [2, 3] };
  const calls: [string, () => unknown][] = [
    ["upload", () => b.upload(new Float32Array(5), [2, 3])],
    ["matMul", () => b.matMul(m, m, false, false)],
    ["matMul rank", () => b.matMul(v, m, false, false)],
    ["conv2d channels", () => b.conv2d(x, w3, { stride: 1, pad: 1 })],
    ["conv2d stride", () => b.conv2d(x, w, { stride: 0, pad: 1 })],
    ["conv2d rank", () => b.conv2d(m, w, { stride: 1, pad: 1 })],
    ["conv2dGradInput dy", () => b.conv2dGradInput(x, w, x.shape, { stride: 2, pad: 1 })],
    ["conv2dGradFilter dy", () => b.conv2dGradFilter(x, x, w.shape, { stride: 1, pad: 0 })],
    ["maxPool window", () => b.maxPool(x, { size: 5, stride: 1 })],
    ["maxPoolGrad dy", () => b.maxPoolGrad(x, x, { size: 2, stride: 2 })],
    ["unary op", () => b.unary("tanh" as never, m)],
    ["binary op", () => b.binary("pow" as never, m, m)],
    ["binary broadcast", () => b.binary("add", m, v)],
    ["reduce op", () => b.reduce("min" as never, m, [0], false)],
    ["reduce axes order", () => b.reduce("sum", m, [1, 0], false)],
    ["reduce axis range", () => b.reduce("max", m, [2], false)],
    ["broadcastTo", () => b.broadcastTo(v, [3])],
    ["reshape", () => b.reshape(m, [4, 2])],
    ["concat", () => b.concat([m, m33], 1)],
    ["slice", () => b.slice(m, [1, 1], [2, 1])],
    ["pad", () => b.pad(m, [[1, 1]])],
    ["batchNorm gamma", () => b.batchNorm(m, v, v3, 1e-5)],
    ["disposed", () => b.unary("neg", gone)],
    ["foreign", () => b.unary("neg", foreign)],
    ["dispose foreign", () => b.dispose(foreign)],
  ];
  const messages: string[] = [];
  for (const [name, call] of calls) {
    try {
      const out = call();
      messages.push(`no error: ${name}`);
      if (out && typeof out === "object" && "shape" in out) b.dispose(out as DeviceTensor);
    } catch (e) {
      messages.push((e as Error).message.replaceAll(`${b.name} backend`, "<backend>"));
    }
  }
  b.dispose(gone); // a second dispose is ignored
  for (const o of [x, w, w3, m, m33, v, v3]) b.dispose(o);
  return messages;
}

/** Formats rows as an aligned table, one row a tensor. */
export function formatTable(rows: VerifyRow[]): string {
  const header = ["group", "tensor", "shape", "max|Δ|", "‖Δ‖/‖ref‖", "tol", "result"];
  const body = rows.map((r) => [
    r.group,
    r.name,
    `[${r.shape.join(",")}]`,
    r.maxAbsDiff.toExponential(2),
    r.relDiff.toExponential(2),
    r.tolerance.toExponential(0),
    r.ok ? "OK" : "NOT OK",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}
