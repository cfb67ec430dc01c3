import assert from "node:assert/strict";
import { sha256Hex } from "./hash.ts";

Deno.test("sha256Hex: the standard test vector, and parts hash as their concatenation", async () => {
  // FIPS 180-2 example "abc".
  const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  assert.equal(await sha256Hex("abc"), abc);
  assert.equal(await sha256Hex(new TextEncoder().encode("abc")), abc);
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.equal(await sha256Hex([enc("a"), enc(""), enc("bc")]), abc);
  assert.notEqual(await sha256Hex([enc("ab"), enc("d")]), abc);
});
