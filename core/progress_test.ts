import assert from "node:assert/strict";
import { formatBytes, formatDuration, ProgressBar } from "./progress.ts";

/** A stream that records what is written, optionally accepting only a few bytes per call. */
class FakeStream {
  chunks: Uint8Array[] = [];
  constructor(readonly maxPerWrite = Infinity) {}
  writeSync(b: Uint8Array): number {
    const n = Math.min(b.length, this.maxPerWrite);
    this.chunks.push(b.slice(0, n));
    return n;
  }
  get text(): string {
    const all = new Uint8Array(this.chunks.reduce((s, c) => s + c.length, 0));
    let o = 0;
    for (const c of this.chunks) {
      all.set(c, o);
      o += c.length;
    }
    return new TextDecoder().decode(all);
  }
}

Deno.test("formatDuration: m:ss below an hour, h:mm:ss above, ? when unknown", () => {
  assert.equal(formatDuration(0), "0:00");
  assert.equal(formatDuration(41), "0:41");
  assert.equal(formatDuration(41.6), "0:42");
  assert.equal(formatDuration(600), "10:00");
  assert.equal(formatDuration(3723), "1:02:03");
  assert.equal(formatDuration(NaN), "?");
  assert.equal(formatDuration(Infinity), "?");
  assert.equal(formatDuration(-1), "?");
});

Deno.test("formatBytes: binary units with one decimal", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(170498071), "162.6 MiB");
});

Deno.test("ProgressBar: line layout with bar, counts, percent, fields and ETA", () => {
  let t = 0;
  const stream = new FakeStream();
  const bar = new ProgressBar({
    total: 195,
    label: "epoch 3/20",
    stream,
    width: 10,
    interactive: true,
    now: () => t,
  });
  t = 10_000; // 120 done in 10 s -> 75 left take 6.25 s
  bar.update(120, { loss: 4.2134, "img/s": 143 });
  assert.equal(
    stream.text,
    "\repoch 3/20 [######....] 120/195  61% loss 4.21 img/s 143 ETA 0:06\x1b[K",
  );
});

Deno.test("ProgressBar: interactive redraws are throttled and finish ends the line", () => {
  let t = 0;
  const stream = new FakeStream(7); // partial writes must still deliver every byte
  const bar = new ProgressBar({ total: 10, label: "x", stream, interactive: true, now: () => t });
  for (let i = 1; i <= 10; i++) {
    t += 30; // 30 ms apart -> at most one redraw per 100 ms
    bar.update(i);
  }
  const redraws = stream.text.split("\r").length - 1;
  assert.ok(redraws >= 2 && redraws <= 4, `expected 2..4 redraws, got ${redraws}`);
  bar.finish({ acc: 0.5 });
  assert.ok(
    stream.text.endsWith("\rx [####################] 10/10 100% acc 0.500 in 0:00\x1b[K\n"),
  );
  const before = stream.text;
  bar.finish();
  bar.update(3);
  assert.equal(stream.text, before, "nothing is written after finish");
});

Deno.test("ProgressBar: plain mode prints about every 10% and at least every 5 s", () => {
  let t = 0;
  const stream = new FakeStream();
  const bar = new ProgressBar({ total: 1000, label: "eval", stream, now: () => t });
  for (let i = 1; i <= 1000; i++) {
    t += 1; // 1 s total: only the 10 % steps trigger lines
    bar.update(i);
  }
  bar.finish();
  const lines = stream.text.trimEnd().split("\n");
  // 10%..90% (9 lines; 100% is left to finish) + the final line.
  assert.equal(lines.length, 10, stream.text);
  assert.ok(lines[0].startsWith("eval [##"), lines[0]);
  assert.ok(lines[0].includes(" 100/1000  10% ETA "), lines[0]);
  assert.match(lines[9], / 1000\/1000 100% in 0:01$/);
  assert.ok(!stream.text.includes("\r"));

  // Slow work with tiny steps: the 5 s rule alone prints.
  t = 0;
  const slow = new FakeStream();
  const slowBar = new ProgressBar({ total: 1e6, label: "slow", stream: slow, now: () => t });
  for (let i = 1; i <= 30; i++) {
    t += 1000;
    slowBar.update(i);
  }
  const slowLines = slow.text.trimEnd().split("\n");
  // Every 5 s from the start: t = 5, 10, 15, 20, 25, 30.
  assert.equal(slowLines.length, 6, slow.text);
  assert.ok(slowLines[0].startsWith("slow [....................] 5/1000000   0% ETA "));
});

Deno.test("ProgressBar: a big jump prints one line; unknown total shows count and elapsed", () => {
  let t = 0;
  const stream = new FakeStream();
  const bar = new ProgressBar({ total: 100, label: "j", stream, now: () => t });
  t = 10;
  bar.update(55);
  t = 20;
  bar.update(58); // still within the 50 % step already printed
  assert.equal(stream.text.trimEnd().split("\n").length, 1);

  const s2 = new FakeStream();
  const unknown = new ProgressBar({
    total: 0,
    label: "dl",
    stream: s2,
    unit: "bytes",
    now: () => t,
  });
  t = 65_000;
  unknown.update(3 * 1024 * 1024);
  assert.equal(s2.text, "dl 3.0 MiB 1:05\n");
});

Deno.test("ProgressBar: bad options are rejected", () => {
  assert.throws(() => new ProgressBar({ total: NaN, label: "a" }), /total/);
  assert.throws(() => new ProgressBar({ total: 1, label: "a", width: 0 }), /width/);
});
