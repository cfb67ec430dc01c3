/**
 * A minimal ustar (POSIX tar) reader that streams regular files to disk, and a matching writer
 * used by tests to build archives. Enough for the CIFAR-10 archive: regular files, directories,
 * GNU long names and pax headers (skipped, or their `path` honoured); links and devices are
 * skipped. Entry names that are absolute or climb with `..` are refused.
 *
 * @module
 */

import { dirname, join } from "node:path";

const BLOCK = 512;

/** A malformed or unsafe tar archive. */
export class TarError extends Error {
  /** An error whose message says what was wrong, including the entry name where known. */
  constructor(message: string) {
    super(message);
    this.name = "TarError";
  }
}

/** One file of an archive written by {@linkcode packTar}. */
export interface TarFileEntry {
  /** Path inside the archive with `/` separators; at most 100 bytes (no prefix field is used). */
  name: string;
  /** File contents. */
  data: Uint8Array;
}

/** Reads exact byte counts from a stream of chunks. */
class ChunkReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #offset = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Up to `max` bytes (at least 1) without copying, or null at the end of the stream. */
  async readSome(max: number): Promise<Uint8Array | null> {
    while (this.#offset >= this.#chunk.length) {
      const { done, value } = await this.#reader.read();
      if (done) return null;
      this.#chunk = value;
      this.#offset = 0;
    }
    const n = Math.min(max, this.#chunk.length - this.#offset);
    const out = this.#chunk.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }

  /** Exactly `n` bytes, or null if the stream ends first (fewer than `n` bytes left). */
  async readExact(n: number): Promise<Uint8Array | null> {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const part = await this.readSome(n - filled);
      if (!part) return null;
      out.set(part, filled);
      filled += part.length;
    }
    return out;
  }

  /** Discards `n` bytes; false if the stream ends first. */
  async skip(n: number): Promise<boolean> {
    let left = n;
    while (left > 0) {
      const part = await this.readSome(left);
      if (!part) return false;
      left -= part.length;
    }
    return true;
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

const decoder = new TextDecoder();

/** A NUL-terminated string field. */
function cString(header: Uint8Array, start: number, length: number): string {
  const field = header.subarray(start, start + length);
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
}

/** An octal number field, or GNU base-256 when the top bit of the first byte is set. */
function numberField(header: Uint8Array, start: number, length: number): number {
  const field = header.subarray(start, start + length);
  if (field[0] & 0x80) {
    let value = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i];
    return value;
  }
  const text = cString(header, start, length).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError(`bad octal field "${text}" in tar header`);
  return parseInt(text, 8);
}

/** Checks the header checksum: sum of all bytes with the checksum field taken as spaces. */
function checksumOk(header: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
  return sum === numberField(header, 148, 8);
}

/** Rejects absolute names and `..` components so an archive cannot write outside `destDir`. */
function safeRelativePath(name: string): string {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (name.startsWith("/") || parts.some((p) => p === "..") || /^[A-Za-z]:/.test(name)) {
    throw new TarError(`unsafe path "${name}" in tar archive`);
  }
  return parts.join("/");
}

/** Parses pax extended header records (`"<len> key=value\n"`) into a map. */
function parsePax(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const text = decoder.decode(data);
  let pos = 0;
  while (pos < text.length) {
    const space = text.indexOf(" ", pos);
    if (space < 0) break;
    const len = parseInt(text.slice(pos, space), 10);
    if (!(len > 0)) break;
    const record = text.slice(space + 1, pos + len - 1);
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

/**
 * Extracts a tar stream into `destDir` (created if missing), streaming file contents to disk.
 * Returns the relative paths of the regular files written. Throws {@linkcode TarError} on a bad
 * header checksum, an unsafe path or a stream that ends inside an entry.
 */
export async function extractTar(
  stream: ReadableStream<Uint8Array>,
  destDir: string,
): Promise<string[]> {
  const reader = new ChunkReader(stream);
  const written: string[] = [];
  await Deno.mkdir(destDir, { recursive: true });
  let longName: string | undefined;
  let paxPath: string | undefined;
  try {
    while (true) {
      const header = await reader.readExact(BLOCK);
      if (!header) throw new TarError("tar archive ends without its end-of-archive blocks");
      if (header.every((b) => b === 0)) break; // end of archive (a second zero block follows)
      if (!checksumOk(header)) {
        throw new TarError(`bad tar header checksum near entry "${cString(header, 0, 100)}"`);
      }
      const size = numberField(header, 124, 12);
      const type = String.fromCharCode(header[156] || 0x30);
      const magic = cString(header, 257, 6);
      const prefix = magic.startsWith("ustar") ? cString(header, 345, 155) : "";
      let name = prefix ? `${prefix}/${cString(header, 0, 100)}` : cString(header, 0, 100);
      const padded = Math.ceil(size / BLOCK) * BLOCK;

      if (type === "L" || type === "x" || type === "g") {
        const data = await reader.readExact(padded);
        if (!data) throw new TarError(`tar archive truncated inside the header of "${name}"`);
        const body = data.subarray(0, size);
        if (type === "L") longName = cString(body, 0, body.length);
        if (type === "x") paxPath = parsePax(body).get("path");
        continue;
      }
      name = paxPath ?? longName ?? name;
      paxPath = longName = undefined;

      if (type === "0" || type === "7") {
        const rel = safeRelativePath(name);
        const target = join(destDir, rel);
        await Deno.mkdir(dirname(target), { recursive: true });
        const file = await Deno.open(target, { write: true, create: true, truncate: true });
        try {
          let left = size;
          while (left > 0) {
            const part = await reader.readSome(Math.min(left, 1 << 20));
            if (!part) throw new TarError(`tar archive truncated inside "${name}"`);
            let off = 0;
            while (off < part.length) off += await file.write(part.subarray(off));
            left -= part.length;
          }
        } finally {
          file.close();
        }
        if (!(await reader.skip(padded - size))) {
          throw new TarError(`tar archive truncated after "${name}"`);
        }
        written.push(rel);
      } else {
        if (type === "5") {
          await Deno.mkdir(join(destDir, safeRelativePath(name)), { recursive: true });
        }
        // Links, devices and unknown types carry no data we need; skip their contents if any.
        const skipBytes = type === "1" || type === "2" || type === "5" ? 0 : padded;
        if (!(await reader.skip(skipBytes))) {
          throw new TarError(`tar archive truncated in "${name}"`);
        }
      }
    }
  } finally {
    await reader.cancel();
  }
  return written;
}

function writeString(header: Uint8Array, start: number, length: number, value: string): void {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length > length) throw new TarError(`"${value}" does not fit a ${length}-byte field`);
  header.set(bytes, start);
}

function writeOctal(header: Uint8Array, start: number, length: number, value: number): void {
  writeString(header, start, length, value.toString(8).padStart(length - 1, "0") + "\0");
}

/**
 * Builds a ustar archive holding `entries` as regular files (mode 0644, mtime 0), ending with the
 * two zero blocks. Parent directories are implied by the names, as many archivers do.
 */
export function packTar(entries: TarFileEntry[]): Uint8Array {
  let total = 2 * BLOCK;
  for (const e of entries) total += BLOCK + Math.ceil(e.data.length / BLOCK) * BLOCK;
  const out = new Uint8Array(total);
  let pos = 0;
  for (const e of entries) {
    const header = out.subarray(pos, pos + BLOCK);
    writeString(header, 0, 100, e.name);
    writeOctal(header, 100, 8, 0o644);
    writeOctal(header, 108, 8, 0);
    writeOctal(header, 116, 8, 0);
    writeOctal(header, 124, 12, e.data.length);
    writeOctal(header, 136, 12, 0);
    header[156] = 0x30; // '0': regular file
    writeString(header, 257, 6, "ustar\0");
    writeString(header, 263, 2, "00");
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i];
    writeString(header, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    pos += BLOCK;
    out.set(e.data, pos);
    pos += Math.ceil(e.data.length / BLOCK) * BLOCK;
  }
  return out;
}
