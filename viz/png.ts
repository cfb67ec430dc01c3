/**
 * A minimal PNG encoder (8-bit RGB or RGBA, no interlacing) for embedding small images such as
 * CIFAR-10 augmentation views as data URIs. Compression is zlib deflate from `node:zlib`; the
 * chunk checksums are a table-driven CRC-32.
 *
 * @module
 */
import { deflateSync } from "node:zlib";

const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO-HDLC, as used by PNG and zlib) of `bytes`, continuing from `crc` when given. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Encodes row-major interleaved pixels as a PNG file.
 *
 * @param pixels `width × height × channels` bytes, row-major, channels interleaved.
 * @param width image width in pixels.
 * @param height image height in pixels.
 * @param channels 3 for RGB, 4 for RGBA.
 */
export function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 3 | 4 = 3,
): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(
      `encodePng: width and height must be positive integers, got ${width}×${height}`,
    );
  }
  if (channels !== 3 && channels !== 4) {
    throw new RangeError(`encodePng: channels must be 3 (RGB) or 4 (RGBA), got ${channels}`);
  }
  const rowBytes = width * channels;
  if (pixels.length !== rowBytes * height) {
    throw new RangeError(
      `encodePng: expected ${width}×${height}×${channels} = ${
        rowBytes * height
      } bytes, got ${pixels.length}`,
    );
  }
  // Each scanline is prefixed with its filter type; 0 ("None") keeps the encoder trivial and is
  // fine for 32×32 images.
  const raw = new Uint8Array((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (rowBytes + 1)] = 0;
    raw.set(pixels.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
  }
  const header = new Uint8Array(13);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  header[8] = 8; // bit depth
  header[9] = channels === 3 ? 2 : 6; // colour type: truecolour / truecolour with alpha
  header[10] = 0; // compression: deflate
  header[11] = 0; // filter method 0
  header[12] = 0; // no interlace
  const parts = [
    PNG_SIGNATURE,
    chunk("IHDR", header),
    chunk("IDAT", new Uint8Array(deflateSync(raw))),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Base64 of `bytes` (chunked so large inputs do not overflow the argument list). */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  const step = 0x8000;
  for (let i = 0; i < bytes.length; i += step) {
    binary += String.fromCharCode(...bytes.subarray(i, i + step));
  }
  return btoa(binary);
}

/** `data:image/png;base64,…` URI of the encoded pixels (see {@link encodePng}). */
export function pngDataUri(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 3 | 4 = 3,
): string {
  return `data:image/png;base64,${toBase64(encodePng(pixels, width, height, channels))}`;
}
