// End to end on a tiny fixture with the reference backend: train → evaluate → report.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "@simclr/core";
import { writeCifarFixture } from "../data/cifar_fixture.ts";
import { fixtureTrainArgs, runScript as run } from "./run_script.ts";
import { checkWellFormedXml } from "../viz/xml.ts";

Deno.test("train → evaluate → report on a fixture writes results.json and report.html", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-e2e-" });
  await writeCifarFixture(dir, { trainPerBatch: 20, test: 40, rng: new Rng(3) });
  const out = join(dir, "run");
  const train = await run("./train.ts", fixtureTrainArgs(dir, out, { epochs: 2 }));
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
    "--self-label",
    "--finetune",
    "--finetune-epochs=2",
    "--finetune-batch=50",
  ]);
  assert.equal(cluster.code, 0, cluster.out);
  assert.match(cluster.out, /simclr SCAN \(k=5, 2 epochs\)\s+[\d.]+%/);
  assert.match(cluster.out, /simclr SCAN fine-tuned \(2\.0 ep\.\)\s+[\d.]+%/);
  assert.match(cluster.out, /simclr SCAN fine-tuned \+ self-label\s+[\d.]+%/);
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
  // The fine-tuned row beside the frozen one: 100 train images, 50 anchors a step, 2 epochs.
  const ft = scan.finetune;
  assert.equal(ft.steps, 4);
  assert.equal(ft.epochs, 2);
  assert.equal(ft.lr, 1e-4);
  assert.equal(ft.heads, 2);
  assert.equal(ft.contingency.flat().reduce((a: number, b: number) => a + b, 0), 20);
  assert.ok(ft.accuracy > 0 && ft.accuracy <= 1 && ft.nmi >= 0 && ft.nmi <= 1);
  assert.equal(ft.selfLabel.contingency.flat().reduce((a: number, b: number) => a + b, 0), 20);

  const report = await run("./report.ts", [`--run=${out}`]);
  assert.equal(report.code, 0, report.out);
  for (const svg of ["scan-contingency.svg", "neighbour-purity.svg", "scan-clusters.svg"]) {
    checkWellFormedXml(await Deno.readTextFile(join(out, svg)));
  }
  const html = await Deno.readTextFile(join(out, "report.html"));
  assert.match(html, /SimCLR, encoder fine-tuned \(2\.0 epochs\)/);
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
  const loneFinetune = await run("./evaluate.ts", ["--run=x", "--finetune"]);
  assert.equal(loneFinetune.code, 2);
  assert.match(loneFinetune.out, /--finetune is SCAN's second step; give --cluster/);
  const badLr = await run("./evaluate.ts", ["--run=x", "--cluster-only", "--finetune-lr=0"]);
  assert.equal(badLr.code, 2);
  assert.match(badLr.out, /--finetune-lr must be a number > 0; got "0"/);
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
  assert.match(wasm.hint ?? "", /native C\+\+ backend.*apt-get install g\+\+.*--backend auto/);
  const ref = await chooseBackend("ref", "auto");
  assert.equal(ref.hint, undefined);
});

Deno.test("evaluate after a checkpoint swap recomputes; report refuses files of different runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-stale-" });
  await writeCifarFixture(dir, { trainPerBatch: 20, test: 40, rng: new Rng(3) });
  const a = join(dir, "a"), b = join(dir, "b");
  for (const [out, seed] of [[a, 0], [b, 7]] as const) {
    const t = await run("./train.ts", [...fixtureTrainArgs(dir, out), `--seed=${seed}`]);
    assert.equal(t.code, 0, t.out);
  }
  const evalArgs = [
    `--run=${a}`,
    "--backend=ref",
    "--limit=60",
    "--tsne-points=0",
    "--baselines=none",
  ];
  const first = await run("./evaluate.ts", evalArgs);
  assert.equal(first.code, 0, first.out);
  const r1 = JSON.parse(await Deno.readTextFile(join(a, "results.json")));
  assert.match(r1.checkpointHash, /^[0-9a-f]{64}$/);
  assert.equal(r1.step, 4);
  const again = await run("./evaluate.ts", evalArgs);
  assert.match(again.out, /features: cached/);
  const reportOk = await run("./report.ts", [`--run=${a}`]);
  assert.equal(reportOk.code, 0, reportOk.out);

  // Same step, other weights: run B's checkpoint in run A's folder.
  await Deno.copyFile(join(b, "checkpoint.ckpt"), join(a, "checkpoint.ckpt"));
  const refused = await run("./report.ts", [`--run=${a}`]);
  assert.equal(refused.code, 1, refused.out);
  assert.match(refused.out, /results\.json was computed from weights [0-9a-f]{12} \(step 4\)/);
  assert.match(refused.out, /run\.json is of run .*, checkpoint\.ckpt of run/);
  assert.match(refused.out, /log\.jsonl has records of run/);

  const swapped = await run("./evaluate.ts", evalArgs);
  assert.equal(swapped.code, 0, swapped.out);
  assert.doesNotMatch(swapped.out, /features: cached/);
  assert.match(swapped.out, /features: recomputing, the cache .* is stale: checkpoint weights/);
  const r2 = JSON.parse(await Deno.readTextFile(join(a, "results.json")));
  assert.notEqual(r2.checkpointHash, r1.checkpointHash);
  // A different --limit is a different cache too.
  const limited = await run("./evaluate.ts", [
    ...evalArgs.slice(0, 2),
    "--limit=50",
    ...evalArgs.slice(3),
  ]);
  assert.match(limited.out, /stale: .*limit 60 ≠ 50/);

  // results.json of the wrong shape: the field is named.
  await Deno.writeTextFile(
    join(b, "results.json"),
    JSON.stringify({ classNames: [], variants: [{ name: "x" }] }),
  );
  const shape = await run("./report.ts", [`--run=${b}`]);
  assert.equal(shape.code, 1);
  assert.match(shape.out, /results\.json: field "variants\[0\]\.probe" is missing/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("evaluate refuses a checkpoint with non-finite values, and --engine without engines", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-inf-" });
  await writeCifarFixture(dir, { trainPerBatch: 20, test: 40, rng: new Rng(3) });
  const out = join(dir, "run");
  const t = await run("./train.ts", fixtureTrainArgs(dir, out, { limit: 32 }));
  assert.equal(t.code, 0, t.out);
  const path = join(out, "checkpoint.ckpt");
  const bytes = await Deno.readFile(path);
  const headerLength = new DataView(bytes.buffer).getUint32(8, true);
  // The last float of the file: an optimiser slot or a batch-norm statistic.
  new DataView(bytes.buffer).setFloat32(bytes.length - 4, Infinity, true);
  assert.ok(bytes.length - 4 >= Math.ceil((12 + headerLength) / 4) * 4);
  await Deno.writeFile(path, bytes);
  const e = await run("./evaluate.ts", [`--run=${out}`, "--backend=ref"]);
  assert.equal(e.code, 1, e.out);
  assert.match(e.out, /checkpoint\.ckpt: .* holds non-finite values/);
  const engine = await run("./evaluate.ts", [`--run=${out}`, "--backend=native", "--engine=wasm"]);
  assert.equal(engine.code, 2);
  assert.match(engine.out, /--engine is for --backend gpu; --backend native has no engines/);
  const hex = await run("./evaluate.ts", [`--run=${out}`, "--limit=0x10"]);
  assert.equal(hex.code, 2);
  assert.match(hex.out, /--limit must be an integer ≥ 0; got "0x10"/);
  await Deno.remove(dir, { recursive: true });
});
