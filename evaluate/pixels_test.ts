// The raw-pixel baseline's normalisation, value by value.
import assert from "node:assert/strict";
import { pixelFeatures } from "./pixels.ts";

Deno.test("raw pixels are scaled to [0, 1] and normalised per channel (HWC order)", () => {
  const images = new Uint8Array(2 * 3072);
  images[0] = 255; // image 0, pixel 0, red
  images[4] = 51; // image 0, pixel 1, green
  images[3072 + 2] = 102; // image 1, pixel 0, blue
  const mean = [0.5, 0.25, 0.1];
  const std = [0.25, 0.5, 0.2];
  const f = pixelFeatures(images, 2, mean, std);
  assert.equal(f.length, 2 * 3072);
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-6, `${a} vs ${b}`);
  close(f[0], (1 - 0.5) / 0.25);
  close(f[4], (0.2 - 0.25) / 0.5);
  close(f[3072 + 2], (0.4 - 0.1) / 0.2);
  close(f[1], -0.25 / 0.5); // a zero green byte
  // Only n images are read, however long the array.
  assert.equal(pixelFeatures(images, 1, mean, std).length, 3072);
});
