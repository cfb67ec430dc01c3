import assert from "node:assert/strict";
import { inflateSync } from "node:zlib";
import { crc32, encodePng, pngDataUri, toBase64 } from "./png.ts";
import { rasterizeSvg } from "./raster.ts";

/** Splits a PNG file into its chunks, checking the signature and every CRC on the way. */
function readChunks(png: Uint8Array): { type: string; data: Uint8Array }[] {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks = [];
  let offset = 8;
  while (offset < png.length) {
    const length = view.getUint32(offset);
    const type = new TextDecoder().decode(png.subarray(offset + 4, offset + 8));
    const data = png.subarray(offset + 8, offset + 8 + length);
    const crc = view.getUint32(offset + 8 + length);
    assert.equal(crc, crc32(png.subarray(offset + 4, offset + 8 + length)), `CRC of ${type}`);
    chunks.push({ type, data });
    offset += 12 + length;
  }
  assert.equal(offset, png.length, "chunks end exactly at the end of the file");
  return chunks;
}

Deno.test("crc32 matches the standard check values", () => {
  // The CRC-32/ISO-HDLC check value of "123456789" is 0xCBF43926 by definition.
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  // Continuing a CRC over a split input equals the CRC of the whole input.
  const bytes = new TextEncoder().encode("The quick brown fox");
  assert.equal(crc32(bytes.subarray(7), crc32(bytes.subarray(0, 7))), crc32(bytes));
});

Deno.test("encodePng writes IHDR, IDAT and IEND whose scanlines inflate back to the pixels", () => {
  const width = 3, height = 2;
  const rgb = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 37) & 255);
  const chunks = readChunks(encodePng(rgb, width, height));
  assert.deepEqual(chunks.map((c) => c.type), ["IHDR", "IDAT", "IEND"]);
  const ihdr = new DataView(chunks[0].data.buffer, chunks[0].data.byteOffset, 13);
  assert.equal(ihdr.getUint32(0), width);
  assert.equal(ihdr.getUint32(4), height);
  assert.deepEqual([...chunks[0].data.subarray(8)], [8, 2, 0, 0, 0]);
  const raw = new Uint8Array(inflateSync(chunks[1].data));
  assert.equal(raw.length, height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    const row = raw.subarray(y * (1 + width * 3), (y + 1) * (1 + width * 3));
    assert.equal(row[0], 0, "filter type None");
    assert.deepEqual([...row.subarray(1)], [...rgb.subarray(y * width * 3, (y + 1) * width * 3)]);
  }
  assert.equal(chunks[2].data.length, 0);
});

Deno.test("encodePng RGBA uses colour type 6", () => {
  const rgba = new Uint8Array(4 * 4 * 4).fill(200);
  const chunks = readChunks(encodePng(rgba, 4, 4, 4));
  assert.equal(chunks[0].data[9], 6);
  assert.equal(new Uint8Array(inflateSync(chunks[1].data)).length, 4 * (1 + 16));
});

Deno.test("encodePng rejects a size that does not match the pixel count", () => {
  assert.throws(() => encodePng(new Uint8Array(10), 2, 2), /expected 2×2×3 = 12 bytes, got 10/);
  assert.throws(() => encodePng(new Uint8Array(0), 0, 2), /positive integers/);
});

Deno.test("toBase64 round-trips large inputs through atob", () => {
  const bytes = Uint8Array.from({ length: 100_003 }, (_, i) => (i * 7919) & 255);
  const decoded = Uint8Array.from(atob(toBase64(bytes)), (c) => c.charCodeAt(0));
  assert.deepEqual(decoded, bytes);
});

Deno.test("resvg decodes our PNG: a 2×2 image scaled ×10 shows the exact four colours", () => {
  const pixels = Uint8Array.from([255, 0, 0, 0, 0, 255, 0, 255, 0, 250, 250, 250]);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20">` +
    `<image width="20" height="20" preserveAspectRatio="none" image-rendering="optimizeSpeed" ` +
    `href="${pngDataUri(pixels, 2, 2)}"/></svg>`;
  const raster = rasterizeSvg(svg);
  const at = (
    x: number,
    y: number,
  ) => [...raster.rgba.subarray((y * 20 + x) * 4, (y * 20 + x) * 4 + 3)];
  // Pixels right next to the quadrant borders: exact colours prove nearest-neighbour decoding.
  assert.deepEqual(at(9, 9), [255, 0, 0]);
  assert.deepEqual(at(10, 9), [0, 0, 255]);
  assert.deepEqual(at(9, 10), [0, 255, 0]);
  assert.deepEqual(at(10, 10), [250, 250, 250]);
});
