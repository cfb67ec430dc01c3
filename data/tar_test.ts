import assert from "node:assert/strict";
import { join } from "node:path";
import { extractTar, packTar, TarError } from "./tar.ts";

function streamOf(bytes: Uint8Array, chunk = 700): ReadableStream<Uint8Array> {
  // Odd chunk size so headers and file data straddle chunk boundaries.
  let pos = 0;
  return new ReadableStream({
    pull(controller) {
      if (pos >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(pos, pos + chunk));
      pos += chunk;
    },
  });
}

function patterned(n: number, salt: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + salt) & 255;
  return out;
}

Deno.test("packTar -> extractTar round trip, sizes around the 512-byte block", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const entries = [0, 1, 511, 512, 513, 5000].map((n, i) => ({
      name: `top/sub${i % 2}/file_${n}.bin`,
      data: patterned(n, i),
    }));
    const written = await extractTar(streamOf(packTar(entries)), dir);
    assert.deepEqual(written, entries.map((e) => e.name));
    for (const e of entries) assert.deepEqual(await Deno.readFile(join(dir, e.name)), e.data);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("extractTar reads archives made by GNU tar (gnu long names and pax)", async (t) => {
  const hasTar = await new Deno.Command("tar", { args: ["--version"], stdout: "null" }).output()
    .then((o) => o.success, () => false);
  if (!hasTar) {
    console.warn("tar not installed: skipping the GNU tar compatibility check");
    return;
  }
  for (const format of ["gnu", "pax", "ustar"]) {
    await t.step(format, async () => {
      const src = await Deno.makeTempDir();
      const out = await Deno.makeTempDir();
      try {
        // ustar cannot store >100-byte names without a prefix split; keep that one shorter.
        const longName = format === "ustar" ? "d/" + "x".repeat(90) : "d/" + "y".repeat(150);
        const files: Record<string, Uint8Array> = {
          "a.txt": new TextEncoder().encode("hello\n"),
          [longName]: patterned(1234, 7),
          "d/empty": new Uint8Array(0),
        };
        await Deno.mkdir(join(src, "d"));
        for (const [name, data] of Object.entries(files)) {
          await Deno.writeFile(join(src, name), data);
        }
        const tar = await new Deno.Command("tar", {
          args: [`--format=${format}`, "-cf", "-", "-C", src, "."],
          stdout: "piped",
        }).output();
        assert.ok(tar.success);
        const written = await extractTar(streamOf(tar.stdout, 4096), out);
        assert.deepEqual(written.sort(), Object.keys(files).sort());
        for (const [name, data] of Object.entries(files)) {
          assert.deepEqual(await Deno.readFile(join(out, name)), data, name);
        }
      } finally {
        await Deno.remove(src, { recursive: true });
        await Deno.remove(out, { recursive: true });
      }
    });
  }
});

Deno.test("extractTar refuses unsafe paths, bad checksums and truncation", async () => {
  const parent = await Deno.makeTempDir();
  const dir = join(parent, "out");
  try {
    const evil = packTar([{ name: "../evil.txt", data: new Uint8Array([1]) }]);
    await assert.rejects(
      extractTar(streamOf(evil), dir),
      (e) => e instanceof TarError && /unsafe path "\.\.\/evil\.txt"/.test(e.message),
    );
    await assert.rejects(Deno.stat(join(parent, "evil.txt")), Deno.errors.NotFound);
    const absolute = packTar([{ name: "/etc/x", data: new Uint8Array([1]) }]);
    await assert.rejects(extractTar(streamOf(absolute), dir), /unsafe path/);

    const good = packTar([{ name: "f.bin", data: patterned(2000, 1) }]);
    const badSum = good.slice();
    badSum[10] ^= 1; // inside the name field
    await assert.rejects(extractTar(streamOf(badSum), dir), /checksum/);

    await assert.rejects(
      extractTar(streamOf(good.slice(0, 1500)), dir),
      /truncated inside "f\.bin"/,
    );
    await assert.rejects(extractTar(streamOf(good.slice(0, 2560)), dir), /end-of-archive/);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
