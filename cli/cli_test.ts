// End to end on a tiny fixture with the reference backend: train → evaluate → report.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "@simclr/core";
import { writeCifarFixture } from "@simclr/data";
import { checkWellFormedXml } from "@simclr/viz";

async function run(script: string, args: string[]): Promise<{ code: number; out: string }> {
  const path = new URL(script, import.meta.url).pathname;
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
  return { code: result.code, out };
}

Deno.test("train → evaluate → report on a fixture writes results.json and report.html", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-e2e-" });
  await writeCifarFixture(dir, { trainPerBatch: 20, test: 40, rng: new Rng(3) });
  const out = join(dir, "run");
  const train = await run("./train.ts", [
    "--backend=ref",
    "--model=small",
    "--width=2",
    "--epochs=2",
    "--batch-size=16",
    "--limit=64",
    `--data=${dir}`,
    `--out=${out}`,
  ]);
  assert.equal(train.code, 0, train.out);
  assert.match(train.out, /epoch 2: loss [\d.]+ .* kNN [\d.]+%/);

  const evaluate = await run("./evaluate.ts", [
    `--run=${out}`,
    "--backend=ref",
    "--limit=100",
    "--tsne-points=20",
  ]);
  assert.equal(evaluate.code, 0, evaluate.out);
  const results = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
  assert.equal(results.version, 1);
  assert.deepEqual(results.variants.map((v: { name: string }) => v.name), [
    "simclr",
    "raw-pixels",
    "random-encoder",
  ]);
  for (const v of results.variants) {
    assert.ok(v.probe.testAccuracy >= 0 && v.probe.testAccuracy <= 1);
    assert.equal(v.probe.confusion.length, 10);
    const total = v.probe.confusion.flat().reduce((a: number, b: number) => a + b, 0);
    assert.equal(total, 20, "confusion counts every test image once");
    assert.equal(v.kmeans.contingency.flat().reduce((a: number, b: number) => a + b, 0), 20);
  }
  // Class-balanced: at most 2 per class of the 10, as many as the fixture's classes allow.
  const tsneCount = results.variants[0].tsne.labels.length;
  assert.ok(tsneCount > 5 && tsneCount <= 20, `${tsneCount} t-SNE points`);
  assert.equal(results.variants[0].tsne.points.length, 2 * tsneCount);
  assert.equal(results.variants[0].pca.points.length, 40);

  // deno task cluster: SCAN added to the simclr entry; what evaluate measured stays.
  const cluster = await run("./evaluate.ts", [
    "--cluster-only",
    `--run=${out}`,
    "--backend=ref",
    "--limit=100",
    "--baselines=none",
    "--cluster-k=5",
    "--heads=2",
    "--head-epochs=2",
    "--views=1",
    "--seeds=0,1",
  ]);
  assert.equal(cluster.code, 0, cluster.out);
  assert.match(cluster.out, /simclr SCAN \(k=5, 2 epochs\)\s+[\d.]+%/);
  const clustered = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
  assert.deepEqual(clustered.variants.map((v: { name: string }) => v.name), [
    "simclr",
    "raw-pixels",
    "random-encoder",
  ]);
  assert.deepEqual(clustered.variants[0].probe, results.variants[0].probe);
  const scan = clustered.variants[0].scan;
  assert.equal(scan.contingency.flat().reduce((a: number, b: number) => a + b, 0), 20);
  assert.deepEqual(scan.seeds.map((s: { seed: number }) => s.seed), [0, 1]);
  assert.equal(scan.neighbourPurity.length, 50);
  assert.equal(scan.topImages.flat().length, 20);
  assert.equal(clustered.variants[1].scan, undefined);

  const report = await run("./report.ts", [`--run=${out}`]);
  assert.equal(report.code, 0, report.out);
  for (const svg of ["scan-contingency.svg", "neighbour-purity.svg", "scan-clusters.svg"]) {
    checkWellFormedXml(await Deno.readTextFile(join(out, svg)));
  }
  const html = await Deno.readTextFile(join(out, "report.html"));
  checkWellFormedXml(await Deno.readTextFile(join(out, "tsne-simclr.svg")));
  assert.match(html, /SimCLR/);
  assert.match(html, /<svg/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("evaluate and report refuse bad input with the flag or file named", async () => {
  const none = await run("./evaluate.ts", []);
  assert.equal(none.code, 2);
  assert.match(none.out, /exactly one of --run DIR or --checkpoint FILE/);
  const badProbe = await run("./evaluate.ts", ["--run=x", "--probe=tree"]);
  assert.equal(badProbe.code, 2);
  assert.match(badProbe.out, /--probe must be one of logistic, svm; got "tree"/);
  const badHeads = await run("./evaluate.ts", ["--run=x", "--cluster-only", "--heads=0"]);
  assert.equal(badHeads.code, 2);
  assert.match(badHeads.out, /--heads must be an integer ≥ 1; got "0"/);
  const badWeight = await run("./evaluate.ts", ["--run=x", "--entropy-weight=-1"]);
  assert.equal(badWeight.code, 2);
  assert.match(badWeight.out, /--entropy-weight must be a number ≥ 0; got "-1"/);
  const missing = await run("./evaluate.ts", ["--checkpoint=/nonexistent/c.ckpt"]);
  assert.equal(missing.code, 1);
  assert.match(missing.out, /\/nonexistent\/c\.ckpt: no such checkpoint/);
  const dir = await Deno.makeTempDir();
  const empty = await run("./report.ts", [`--run=${dir}`]);
  assert.equal(empty.code, 1);
  assert.match(empty.out, /no run\.json, results\.json or log\.jsonl/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the wasm engine comes with a hint naming the faster native backend; ref does not", async () => {
  const { chooseBackend, CPU_ENGINE_HINT } = await import("./backends.ts");
  const wasm = await chooseBackend("gpu", "wasm");
  assert.equal(wasm.engine, "wasm");
  assert.equal(wasm.hint, CPU_ENGINE_HINT);
  assert.match(wasm.hint ?? "", /--backend native/);
  const ref = await chooseBackend("ref", "auto");
  assert.equal(ref.hint, undefined);
});
