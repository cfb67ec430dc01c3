import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Rng } from "@simclr/core";
import {
  CIFAR_CLASS_NAMES,
  CIFAR_IMAGE_BYTES,
  CIFAR_RECORD_BYTES,
  CifarError,
  ensureCifar10,
  loadCifar10,
  validateCifarDir,
} from "./mod.ts";
import { writeCifarFixture } from "./cifar_fixture.ts";
import { packTar } from "./tar.ts";

const SHARED = new URL("../../shared/data/cifar-10-batches-bin", import.meta.url).pathname;
const FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat(
  "test_batch.bin",
  "batches.meta.txt",
);

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cifar_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function rejectsWith(p: Promise<unknown>, file: string, pattern: RegExp): Promise<void> {
  return assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CifarError, `expected CifarError, got ${e}`);
    assert.ok(e.file.endsWith(file), `error names ${e.file}, expected ${file}`);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("fixture round trip: loadCifar10 returns exactly what writeCifarFixture wrote", async () => {
  await withTempDir(async (dir) => {
    const written = await writeCifarFixture(dir, { trainPerBatch: 3, test: 4, rng: new Rng(1) });
    const info = await validateCifarDir(dir, { strictCounts: false });
    assert.deepEqual(info.trainFileCounts, [3, 3, 3, 3, 3]);
    assert.equal(info.testCount, 4);
    const data = await loadCifar10(dir, { strictCounts: false });
    assert.equal(data.train.count, 15);
    assert.equal(data.test.count, 4);
    assert.deepEqual(data.train.images, written.train.images);
    assert.deepEqual(data.train.labels, written.train.labels);
    assert.deepEqual(data.test.images, written.test.images);
    assert.deepEqual(data.test.labels, written.test.labels);
    assert.deepEqual(data.classNames, [...CIFAR_CLASS_NAMES]);
    // Same seed, same fixture; another seed, other pixels.
    const again = await writeCifarFixture(join(dir, "b"), {
      trainPerBatch: 3,
      test: 4,
      rng: new Rng(1),
    });
    assert.deepEqual(again.train.images, written.train.images);
  });
});

Deno.test("planar R,G,B records become interleaved NHWC", async () => {
  await withTempDir(async (dir) => {
    await writeCifarFixture(dir, { trainPerBatch: 1, test: 1, rng: new Rng(2) });
    const record = new Uint8Array(CIFAR_RECORD_BYTES);
    record[0] = 7;
    for (let p = 0; p < 1024; p++) {
      record[1 + p] = p % 256; // R
      record[1 + 1024 + p] = (p >> 5) * 8; // G = 8 * row
      record[1 + 2048 + p] = 255 - (p & 31); // B = 255 - column
    }
    await Deno.writeFile(join(dir, "test_batch.bin"), record);
    const { test } = await loadCifar10(dir, { strictCounts: false });
    assert.equal(test.labels[0], 7);
    for (const [y, x] of [[0, 0], [0, 31], [5, 9], [31, 31]]) {
      const o = (y * 32 + x) * 3;
      assert.deepEqual([...test.images.subarray(o, o + 3)], [
        (y * 32 + x) % 256,
        y * 8,
        255 - x,
      ]);
    }
  });
});

Deno.test("limits read only the leading records, across train files", async () => {
  await withTempDir(async (dir) => {
    const written = await writeCifarFixture(dir, { trainPerBatch: 3, test: 4, rng: new Rng(3) });
    const part = await loadCifar10(dir, { strictCounts: false, trainLimit: 7, testLimit: 0 });
    assert.equal(part.train.count, 7);
    assert.deepEqual(part.train.images, written.train.images.subarray(0, 7 * CIFAR_IMAGE_BYTES));
    assert.deepEqual(part.train.labels, written.train.labels.subarray(0, 7));
    assert.equal(part.test.count, 0);
    const both = await loadCifar10(dir, { strictCounts: false, limit: 2 });
    assert.equal(both.train.count, 2);
    assert.deepEqual(both.test.labels, written.test.labels.subarray(0, 2));
    const more = await loadCifar10(dir, { strictCounts: false, limit: 1000 });
    assert.equal(more.train.count, 15);
    await assert.rejects(loadCifar10(dir, { strictCounts: false, limit: -1 }), /limit/);
  });
});

Deno.test("validateCifarDir names the file and the problem", async () => {
  await withTempDir(async (dir) => {
    await writeCifarFixture(dir, { trainPerBatch: 3, test: 4, rng: new Rng(4) });
    const opts = { strictCounts: false };

    await rejectsWith(
      validateCifarDir(dir),
      "data_batch_1.bin",
      /holds 3 records, expected 10,000/,
    );
    await rejectsWith(
      validateCifarDir(dir, { expectedCounts: { train: 15, test: 5 } }),
      "test_batch.bin",
      /holds 4 records, expected 5/,
    );
    await validateCifarDir(dir, { expectedCounts: { train: 15, test: 4 } });

    const b3 = join(dir, "data_batch_3.bin");
    const original = await Deno.readFile(b3);
    await Deno.writeFile(b3, new Uint8Array(123), { append: true });
    await rejectsWith(
      validateCifarDir(dir, opts),
      "data_batch_3.bin",
      /size 9,342 bytes is not a multiple of 3,073 \(truncated\?\)/,
    );
    await Deno.writeFile(b3, new Uint8Array(0));
    await rejectsWith(validateCifarDir(dir, opts), "data_batch_3.bin", /is empty/);
    const badLabel = original.slice();
    badLabel[2 * CIFAR_RECORD_BYTES] = 10;
    await Deno.writeFile(b3, badLabel);
    await rejectsWith(
      validateCifarDir(dir, opts),
      "data_batch_3.bin",
      /record 2 has label 10, expected 0–9/,
    );
    // loadCifar10 checks labels as it reads.
    await rejectsWith(loadCifar10(dir, opts), "data_batch_3.bin", /record 2 has label 10/);
    await Deno.writeFile(b3, original);

    await Deno.remove(join(dir, "data_batch_5.bin"));
    await rejectsWith(validateCifarDir(dir, opts), "data_batch_5.bin", /missing/);
    await writeCifarFixture(dir, { trainPerBatch: 3, test: 4, rng: new Rng(4) });

    await Deno.writeTextFile(
      join(dir, "batches.meta.txt"),
      CIFAR_CLASS_NAMES.slice(0, 9).join("\n"),
    );
    await rejectsWith(
      validateCifarDir(dir, opts),
      "batches.meta.txt",
      /has 9 class names, expected 10/,
    );
    await rejectsWith(validateCifarDir(join(dir, "nope"), opts), "nope", /does not exist/);
  });
});

Deno.test({
  name: "real CIFAR-10 copy: counts, first labels and pixel layout",
  ignore: !(await Deno.stat(SHARED).then(() => true, () => false)),
  async fn() {
    const info = await validateCifarDir(SHARED);
    assert.equal(info.trainCount, 50_000);
    assert.equal(info.testCount, 10_000);
    assert.deepEqual(info.classNames, [...CIFAR_CLASS_NAMES]);
    const data = await loadCifar10(SHARED, { limit: 10 });
    assert.deepEqual([...data.train.labels], [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]);
    assert.deepEqual([...data.test.labels], [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    // Pixel (y=10, x=20) of train image 4 against the raw planar bytes.
    const raw = await Deno.readFile(join(SHARED, "data_batch_1.bin"));
    const rec = 4 * CIFAR_RECORD_BYTES;
    const p = 10 * 32 + 20;
    const o = 4 * CIFAR_IMAGE_BYTES + p * 3;
    assert.deepEqual(
      [...data.train.images.subarray(o, o + 3)],
      [raw[rec + 1 + p], raw[rec + 1 + 1024 + p], raw[rec + 1 + 2048 + p]],
    );
  },
});

// ---------------------------------------------------------------------------------------------
// Download path, against archives built here (never the real archive or its checksum).

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A gzipped tarball of a fixture dataset laid out like the official archive, and its MD5. */
async function fixtureArchive(): Promise<{ archive: Uint8Array; md5: string; train: Uint8Array }> {
  const src = await Deno.makeTempDir({ prefix: "cifar_src_" });
  try {
    const written = await writeCifarFixture(src, { trainPerBatch: 2, test: 3, rng: new Rng(9) });
    const entries = [];
    for (const f of FILES) {
      entries.push({ name: `cifar-10-batches-bin/${f}`, data: await Deno.readFile(join(src, f)) });
    }
    entries.push({ name: "cifar-10-batches-bin/readme.html", data: new Uint8Array(700) });
    const archive = await gzip(packTar(entries));
    const md5 = createHash("md5").update(archive).digest("hex");
    return { archive, md5, train: written.train.images };
  } finally {
    await Deno.remove(src, { recursive: true });
  }
}

const fakeStream = { writeSync: (b: Uint8Array) => b.length };
const lenient = { strictCounts: false };

function serveBytes(archive: Uint8Array, calls: { n: number }): typeof fetch {
  return (() => {
    calls.n++;
    return Promise.resolve(
      new Response(archive.slice(), {
        headers: { "content-length": String(archive.length) },
      }),
    );
  }) as typeof fetch;
}

async function listing(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("ensureCifar10 downloads, checks MD5, extracts atomically and then reuses the cache", async () => {
  const { archive, md5, train } = await fixtureArchive();
  await withTempDir(async (cacheDir) => {
    const calls = { n: 0 };
    const opts = {
      cacheDir,
      md5,
      url: "http://fixture.invalid/cifar-10-binary.tar.gz",
      fetchFn: serveBytes(archive, calls),
      validate: lenient,
      progressStream: fakeStream,
    };
    const dir = await ensureCifar10(opts);
    assert.equal(dir, join(cacheDir, "cifar-10-batches-bin"));
    assert.deepEqual(await listing(cacheDir), ["cifar-10-batches-bin"], "no temporary leftovers");
    const data = await loadCifar10(dir, lenient);
    assert.deepEqual(data.train.images, train);
    assert.equal(await ensureCifar10(opts), dir);
    assert.equal(calls.n, 1, "the second call uses the cache");
    // --data wins and is validated, not downloaded into.
    assert.equal(await ensureCifar10({ ...opts, data: dir }), dir);
    await rejectsWith(ensureCifar10({ ...opts, data: join(cacheDir, "x") }), "x", /does not exist/);
    // A damaged cache is reported, not silently re-downloaded over.
    await Deno.remove(join(dir, "test_batch.bin"));
    await assert.rejects(ensureCifar10(opts), /cached copy is invalid.*delete the folder/);
  });
});

Deno.test("ensureCifar10 over real HTTP on 127.0.0.1", async () => {
  const { archive, md5 } = await fixtureArchive();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(archive.slice()),
  );
  try {
    await withTempDir(async (cacheDir) => {
      const lines: string[] = [];
      const stream = {
        writeSync: (b: Uint8Array) => (lines.push(new TextDecoder().decode(b)), b.length),
      };
      const dir = await ensureCifar10({
        cacheDir,
        md5,
        url: `http://127.0.0.1:${server.addr.port}/cifar-10-binary.tar.gz`,
        validate: lenient,
        progressStream: stream,
      });
      assert.equal((await loadCifar10(dir, lenient)).test.count, 3);
      assert.match(lines.join(""), /download cifar-10-binary\.tar\.gz .* in \d+:\d\d\n$/);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("ensureCifar10 keeps nothing on MD5 mismatch, broken stream, HTTP or network errors", async () => {
  const { archive, md5 } = await fixtureArchive();
  const base = {
    url: "http://fixture.invalid/c.tar.gz",
    validate: lenient,
    progressStream: fakeStream,
  };
  await withTempDir(async (cacheDir) => {
    const calls = { n: 0 };
    await assert.rejects(
      ensureCifar10({
        ...base,
        cacheDir,
        fetchFn: serveBytes(archive, calls),
        md5: "0".repeat(32),
      }),
      new RegExp(`MD5 of the downloaded archive is ${md5}, expected 0{32}`),
    );
    assert.deepEqual(await listing(cacheDir), []);

    const interrupted = (() => {
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (!sent) {
            sent = true;
            controller.enqueue(archive.slice(0, archive.length >> 1));
          } else controller.error(new Error("connection reset"));
        },
      });
      return Promise.resolve(new Response(body));
    }) as typeof fetch;
    await assert.rejects(
      ensureCifar10({ ...base, cacheDir, md5, fetchFn: interrupted }),
      (e: Error) => {
        assert.match(e.message, /connection lost after [\d,]+ bytes \(connection reset\)/);
        assert.match(e.message, /--data \.\.\/shared\/data\/cifar-10-batches-bin/);
        assert.ok(e.message.includes(join(cacheDir, "cifar-10-batches-bin")), e.message);
        return true;
      },
    );
    assert.deepEqual(await listing(cacheDir), []);

    // A server that closes early without an error: caught by the length check.
    const short = (() =>
      Promise.resolve(
        new Response(archive.slice(0, 100), {
          headers: { "content-length": String(archive.length) },
        }),
      )) as typeof fetch;
    await assert.rejects(
      ensureCifar10({ ...base, cacheDir, md5, fetchFn: short }),
      /received 100 of [\d,]+ bytes/,
    );
    assert.deepEqual(await listing(cacheDir), []);

    const offline = (() => Promise.reject(new TypeError("dns error: no route"))) as typeof fetch;
    await assert.rejects(
      ensureCifar10({ ...base, cacheDir, md5, fetchFn: offline }),
      /download failed: dns error: no route\. Without network access.*--data/,
    );
    const notFound = (() => Promise.resolve(new Response("no", { status: 404 }))) as typeof fetch;
    await assert.rejects(ensureCifar10({ ...base, cacheDir, md5, fetchFn: notFound }), /HTTP 404/);

    // Right checksum, but not a gzip tarball.
    const junk = new TextEncoder().encode("this is not a gzip file at all");
    const junkMd5 = createHash("md5").update(junk).digest("hex");
    await assert.rejects(
      ensureCifar10({ ...base, cacheDir, md5: junkMd5, fetchFn: serveBytes(junk, calls) }),
      /archive cannot be decompressed/,
    );
    assert.deepEqual(await listing(cacheDir), []);
  });
});
