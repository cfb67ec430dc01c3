/**
 * The safetensors format, the weight-exchange format of PyTorch, JAX and Hugging Face: an 8-byte
 * little-endian header length, a UTF-8 JSON header mapping each tensor name to its dtype, shape
 * and byte range (plus an optional `__metadata__` map of strings), then the raw little-endian
 * data. Only the two dtypes our models need are handled: F32 (weights) and I64 (batch norm's
 * `num_batches_tracked`).
 *
 * @module
 */

/** A tensor read from or written to a safetensors file. */
export type SafeTensor =
  | { dtype: "F32"; shape: number[]; data: Float32Array }
  | { dtype: "I64"; shape: number[]; data: BigInt64Array };

/** A decoded file: the string metadata and the tensors by name, in file order. */
export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, SafeTensor>;
}

/** Raised for an unreadable safetensors file; the message names the file and what is wrong. */
export class SafetensorsError extends Error {
  constructor(readonly path: string, detail: string) {
    super(`${path}: ${detail}`);
    this.name = "SafetensorsError";
  }
}

const BYTES = { F32: 4, I64: 8 } as const;

/**
 * Encodes tensors and metadata. Data offsets are aligned to 8 bytes (the header is padded with
 * spaces, as the reference implementation does), so readers can view the data in place.
 */
export function encodeSafetensors(
  tensors: Iterable<[string, SafeTensor]>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const list = [...tensors];
  let offset = 0;
  for (const [name, t] of list) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) {
      throw new Error(
        `tensor "${name}": shape [${t.shape}] needs ${size} values, has ${t.data.length}`,
      );
    }
    const bytes = size * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const [, t] of list) {
    const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(raw, at);
    at += raw.length;
  }
  return out;
}

/** Decodes a safetensors file's bytes; `path` names it in errors. Little-endian hosts only. */
export function decodeSafetensors(bytes: Uint8Array, path: string): SafetensorsFile {
  if (bytes.length < 8) throw new SafetensorsError(path, `only ${bytes.length} bytes: truncated`);
  const headerLength = Number(
    new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true),
  );
  if (8 + headerLength > bytes.length) {
    throw new SafetensorsError(
      path,
      `header of ${headerLength} bytes does not fit in ${bytes.length} bytes (truncated, or not ` +
        `a safetensors file)`,
    );
  }
  // deno-lint-ignore no-explicit-any
  let header: Record<string, any>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw new SafetensorsError(path, "header is not valid JSON (not a safetensors file?)");
  }
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, SafeTensor>();
  for (const [name, e] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const dtype = e?.dtype;
    if (dtype !== "F32" && dtype !== "I64") {
      throw new SafetensorsError(path, `tensor "${name}" has dtype ${dtype}; expected F32 or I64`);
    }
    const shape = e.shape as number[];
    const [begin, end] = e.data_offsets as [number, number];
    const size = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== size * BYTES[dtype as "F32" | "I64"]) {
      throw new SafetensorsError(
        path,
        `tensor "${name}": byte range ${begin}–${end} does not match shape [${shape}] of ${dtype}`,
      );
    }
    if (dataStart + end > bytes.length) {
      throw new SafetensorsError(
        path,
        `tensor "${name}" ends at byte ${
          dataStart + end
        }, the file has ${bytes.length} (truncated)`,
      );
    }
    // Copy, so the tensor is aligned whatever the header length.
    const raw = bytes.slice(dataStart + begin, dataStart + end);
    tensors.set(
      name,
      dtype === "F32"
        ? { dtype, shape, data: new Float32Array(raw.buffer, 0, size) }
        : { dtype, shape, data: new BigInt64Array(raw.buffer, 0, size) },
    );
  }
  return { metadata: header.__metadata__ ?? {}, tensors };
}

/** Reads and decodes a safetensors file; a missing file is a {@linkcode SafetensorsError}. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new SafetensorsError(path, "no such file");
    throw e;
  }
  return decodeSafetensors(bytes, path);
}
