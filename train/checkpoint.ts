/**
 * Checkpoints: weights, batch-norm statistics, optimiser state, step, RNG position and the run's
 * config, in one binary file written atomically (temporary file, fsync, rename), so a process
 * killed at any moment leaves the previous checkpoint readable.
 *
 * Layout: `SIMCLRCK` (8 bytes), header length (uint32 LE), UTF-8 JSON header, zero padding to a
 * multiple of 4, then the float32 tensors back to back as the header's `tensors` list says.
 *
 * @module
 */
import {
  type Graph,
  type OptimizerState,
  sha256Hex,
  type SimclrModel,
  sizeOf,
  writeFileAtomic,
} from "@simclr/core";
import type { SchedulePlan } from "./schedule.ts";

const MAGIC = "SIMCLRCK";

/** Where a tensor lies in the file. */
interface TensorEntry {
  name: string;
  kind: "param" | "buffer" | "optim";
  shape: number[];
  /** Offset in float32 elements from the start of the data section. */
  offset: number;
}

/** Everything in a checkpoint but the tensors. */
export interface CheckpointMeta<C = unknown> {
  version: 1;
  /** The run's resolved config. */
  config: C;
  /** Optimiser steps taken (= batches trained). */
  step: number;
  /** Completed epochs (fractional when saved mid-epoch). */
  epoch: number;
  /** Seconds of training so far (summed over resumed sessions). */
  trainSeconds: number;
  /** Seed of the run; with `step` it fixes the data order and augmentations still to come. */
  seed: number;
  /** Why it was written: `epoch`, `plan`, `time-budget`, `interrupt`, `final`. */
  reason: string;
  /** ISO time of writing. */
  savedAt: string;
  /** Random id fixed when the run starts and kept across resumes; log and run.json carry it too. */
  runId?: string;
  /** The budget-fitted schedule, once planned (`--max-minutes`); a resume keeps it. */
  plan?: SchedulePlan;
}

/** A loaded checkpoint: metadata plus host tensors by name. */
export interface Checkpoint<C = unknown> {
  meta: CheckpointMeta<C>;
  params: Map<string, { shape: number[]; data: Float32Array }>;
  buffers: Map<string, { shape: number[]; data: Float32Array }>;
  optimizer: OptimizerState;
}

/** Raised for an unreadable or mismatched checkpoint; names the file and what is wrong. */
export class CheckpointError extends Error {
  constructor(readonly path: string, detail: string) {
    super(`${path}: ${detail}`);
    this.name = "CheckpointError";
  }
}

/** Raised instead of writing a checkpoint that holds NaN or ±Inf; names the tensors. */
export class NonFiniteCheckpointError extends CheckpointError {
  constructor(path: string, readonly tensors: string[]) {
    super(
      path,
      `not written: non-finite values (NaN or ±Inf) in ${tensors.slice(0, 5).join(", ")}` +
        (tensors.length > 5 ? ` and ${tensors.length - 5} more` : ""),
    );
    this.name = "NonFiniteCheckpointError";
  }
}

function isAllFinite(data: Float32Array): boolean {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return false;
  return true;
}

/**
 * Copies the model's parameters and buffers (any module's: SCAN fine-tuning adds its heads) and
 * the optimiser state to the host and writes the checkpoint atomically. Throws
 * {@linkcode NonFiniteCheckpointError} (and writes nothing) when any weight, batch-norm statistic
 * or optimiser slot is not finite, so the file on disk is always one worth resuming from.
 */
export async function saveCheckpoint<C>(
  path: string,
  model: Pick<SimclrModel, "params" | "buffers">,
  optimizerState: OptimizerState,
  meta: Omit<CheckpointMeta<C>, "version" | "savedAt">,
): Promise<void> {
  const entries: TensorEntry[] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  const add = (
    name: string,
    kind: TensorEntry["kind"],
    shape: readonly number[],
    data: Float32Array,
  ) => {
    entries.push({ name, kind, shape: [...shape], offset });
    chunks.push(data);
    offset += data.length;
  };
  for (const p of model.params()) add(p.name, "param", p.value.shape, await p.value.read());
  for (const b of model.buffers()) add(b.name, "buffer", b.value.shape, await b.value.read());
  for (const [name, s] of Object.entries(optimizerState.slots)) add(name, "optim", s.shape, s.data);
  const bad = entries.filter((_, i) => !isAllFinite(chunks[i])).map((e) => `${e.kind} "${e.name}"`);
  if (bad.length) throw new NonFiniteCheckpointError(path, bad);
  const header = new TextEncoder().encode(JSON.stringify({
    ...meta,
    version: 1,
    savedAt: new Date().toISOString(),
    optimizerStep: optimizerState.step,
    tensors: entries,
  }));
  const headerEnd = 12 + header.length;
  const dataStart = Math.ceil(headerEnd / 4) * 4;
  const bytes = new Uint8Array(dataStart + offset * 4);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(bytes.buffer).setUint32(8, header.length, true);
  bytes.set(header, 12);
  const floats = new Float32Array(bytes.buffer, dataStart, offset);
  let at = 0;
  for (const c of chunks) {
    floats.set(c, at);
    at += c.length;
  }
  await writeFileAtomic(path, bytes);
}

/** Reads and checks a checkpoint file. */
export async function loadCheckpoint<C = unknown>(path: string): Promise<Checkpoint<C>> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new CheckpointError(path, "no such checkpoint");
    throw e;
  }
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new CheckpointError(path, `not a simclr-ts checkpoint (expected it to start ${MAGIC})`);
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (12 + headerLength > bytes.length) {
    throw new CheckpointError(path, `truncated: header of ${headerLength} bytes does not fit`);
  }
  // deno-lint-ignore no-explicit-any
  let header: any;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
  } catch {
    throw new CheckpointError(path, "header is not valid JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new CheckpointError(path, "header is not a JSON object");
  }
  if (header.version !== 1) {
    throw new CheckpointError(path, `unsupported version ${header.version} (expected 1)`);
  }
  checkHeader(path, header);
  const dataStart = Math.ceil((12 + headerLength) / 4) * 4;
  const entries = header.tensors as TensorEntry[];
  const total = entries.reduce((n, e) => Math.max(n, e.offset + sizeOf(e.shape)), 0);
  if (bytes.length < dataStart + total * 4) {
    throw new CheckpointError(
      path,
      `truncated: ${bytes.length} bytes, the header needs ${dataStart + total * 4}`,
    );
  }
  const aligned = bytes.slice(dataStart, dataStart + total * 4);
  const floats = new Float32Array(aligned.buffer, 0, total);
  const params = new Map(), buffers = new Map();
  const slots: OptimizerState["slots"] = {};
  for (const e of entries) {
    const data = floats.slice(e.offset, e.offset + sizeOf(e.shape));
    if (!isAllFinite(data)) {
      throw new CheckpointError(
        path,
        `${e.kind} "${e.name}" holds non-finite values (NaN or ±Inf); refusing a broken checkpoint`,
      );
    }
    if (e.kind === "param") params.set(e.name, { shape: e.shape, data });
    else if (e.kind === "buffer") buffers.set(e.name, { shape: e.shape, data });
    else slots[e.name] = { shape: e.shape, data };
  }
  const { tensors: _t, optimizerStep, ...meta } = header;
  return { meta, params, buffers, optimizer: { step: optimizerStep, slots } };
}

// deno-lint-ignore no-explicit-any
function checkHeader(path: string, header: any): void {
  const need = (field: string, ok: boolean, what: string) => {
    if (!ok) {
      throw new CheckpointError(
        path,
        `header field "${field}" is ${
          header[field] === undefined ? "missing" : "malformed"
        } (expected ${what})`,
      );
    }
  };
  need("tensors", Array.isArray(header.tensors), "a list of tensors");
  need("config", typeof header.config === "object" && header.config !== null, "an object");
  need("step", Number.isInteger(header.step) && header.step >= 0, "an integer ≥ 0");
  need("epoch", typeof header.epoch === "number", "a number");
  need("optimizerStep", Number.isInteger(header.optimizerStep), "an integer");
  header.tensors.forEach((e: TensorEntry, i: number) => {
    const ok = typeof e === "object" && e !== null && typeof e.name === "string" &&
      ["param", "buffer", "optim"].includes(e.kind) && Array.isArray(e.shape) &&
      e.shape.every((d) => Number.isInteger(d) && d >= 0) && Number.isInteger(e.offset) &&
      e.offset >= 0;
    if (!ok) {
      throw new CheckpointError(
        path,
        `header field "tensors[${i}]" is malformed (expected {name, kind, shape, offset})`,
      );
    }
  });
}

/**
 * SHA-256 (hex) of a checkpoint's weights and batch-norm statistics, in name order: what a
 * feature cache and `results.json` are keyed on. Optimiser state does not change features.
 */
export async function weightsHash(ckpt: Checkpoint): Promise<string> {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const [kind, map] of [["param", ckpt.params], ["buffer", ckpt.buffers]] as const) {
    for (const name of [...map.keys()].sort()) {
      const t = map.get(name)!;
      parts.push(enc.encode(`${kind}:${name}:${t.shape.join("x")};`));
      parts.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  }
  return await sha256Hex(parts);
}

/** Puts a checkpoint's weights and statistics into `model` (same architecture required). */
export function loadWeights(g: Graph, model: SimclrModel, ckpt: Checkpoint, path: string): void {
  const check = (name: string, want: readonly number[], got?: { shape: number[] }) => {
    if (!got) throw new CheckpointError(path, `has no tensor "${name}" (a different model?)`);
    if (got.shape.join() !== want.join()) {
      throw new CheckpointError(path, `"${name}" has shape [${got.shape}], model wants [${want}]`);
    }
  };
  for (const p of model.params()) {
    const saved = ckpt.params.get(p.name);
    check(p.name, p.value.shape, saved);
    g.dispose(p.value);
    p.value = g.keepAsVariable(g.constant(saved!.data, saved!.shape));
  }
  for (const b of model.buffers()) {
    const saved = ckpt.buffers.get(b.name);
    check(b.name, b.value.shape, saved);
    g.dispose(b.value);
    b.value = g.keep(g.constant(saved!.data, saved!.shape));
  }
}
