import assert from "node:assert/strict";
import { join } from "node:path";
import {
  parseResults,
  parseRunSummary,
  parseTrainLog,
  parseVerifyDocument,
  readResults,
  readRunSummary,
  readTrainLog,
  readVerifyDocument,
  RecordError,
  type ResultsDocument,
  type RunSummary,
  writeResults,
  writeRunSummary,
  writeVerifyDocument,
} from "./records.ts";

Deno.test("parseTrainLog splits steps and epochs, keeps kNN and run id, reads null as NaN", () => {
  const text = [
    JSON.stringify({ type: "plan", step: 0, totalSteps: 10 }),
    JSON.stringify({
      type: "step",
      step: 1,
      epoch: 0.5,
      loss: 5.5,
      lr: 0.1,
      imagesPerSec: 900,
      time: 0.3,
    }),
    JSON.stringify({
      type: "step",
      step: 2,
      epoch: 1,
      loss: null,
      lr: 0.2,
      imagesPerSec: 950,
      time: 0.6,
    }),
    "",
    JSON.stringify({
      type: "epoch",
      epoch: 1,
      step: 2,
      loss: 5.4,
      featureStd: 0.05,
      alignment: 0.8,
      uniformity: -2,
      knnAccuracy: 0.31,
      imagesPerSec: 920,
      time: 0.7,
      runId: "r1",
    }),
    // No `type`: an epoch record because it has featureStd.
    JSON.stringify({
      epoch: 2,
      step: 4,
      loss: 5.3,
      featureStd: 0.06,
      alignment: 0.7,
      uniformity: -2.5,
      imagesPerSec: 1,
      time: 1,
    }),
  ].join("\n");
  const log = parseTrainLog(text);
  assert.deepEqual(log.steps[0], {
    type: "step",
    step: 1,
    epoch: 0.5,
    loss: 5.5,
    lr: 0.1,
    imagesPerSec: 900,
    time: 0.3,
  });
  assert.ok(Number.isNaN(log.steps[1].loss));
  assert.equal(log.epochs.length, 2);
  assert.equal(log.epochs[0].knnAccuracy, 0.31);
  assert.equal(log.epochs[0].runId, "r1");
  assert.equal(log.epochs[1].knnAccuracy, undefined);
  assert.equal(log.epochs[1].uniformity, -2.5);
});

Deno.test("parseTrainLog names the file, line and field of bad input", () => {
  assert.throws(
    () => parseTrainLog("{nope", "runs/a/log.jsonl"),
    /runs\/a\/log\.jsonl line 1 is not valid JSON/,
  );
  assert.throws(
    () =>
      parseTrainLog(
        `\n{"type":"step","step":1,"epoch":0,"loss":"x","lr":1,"imagesPerSec":1,"time":1}`,
      ),
    /log\.jsonl line 2 \(step record\) needs a number in "loss", got "x"/,
  );
  assert.throws(
    () => parseTrainLog(`{"type":"epoch","epoch":1,"loss":1,"featureStd":1}`),
    /line 1 \(epoch record\) needs a number in "step", got nothing/,
  );
  assert.throws(() => parseTrainLog("[1]"), RecordError);
});

Deno.test("readTrainLog leaves out a last line cut by a kill; undefined without a log", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-records-" });
  const path = join(dir, "log.jsonl");
  const step = { type: "step", step: 1, epoch: 1, loss: 2, lr: 1, imagesPerSec: 3, time: 4 };
  await Deno.writeTextFile(path, JSON.stringify(step) + "\n" + `{"type":"step","st`);
  assert.equal((await readTrainLog(path))!.steps.length, 1);
  assert.equal(await readTrainLog(join(dir, "none.jsonl")), undefined);
  await Deno.remove(dir, { recursive: true });
});

/** A results document as cli/evaluate.ts writes it (two variants, one with SCAN and PCA). */
function results(): Omit<ResultsDocument, "version"> {
  const scores = {
    nmi: 0.4,
    ari: 0.3,
    accuracy: 0.5,
    contingency: [[3, 1], [0, 4]],
    matchedOrder: [0, 1],
  };
  const variant = (name: string) => ({
    name,
    dim: 8,
    probe: {
      kind: "logistic" as const,
      lambda: 1e-4,
      validation: [{ lambda: 1e-4, accuracy: 0.6 }],
      trainAccuracy: 0.7,
      testAccuracy: 0.6,
      perClassAccuracy: [0.5, 0.7],
      confusion: [[5, 5], [3, 7]],
    },
    knn: { accuracy: 0.55, k: 200, temperature: 0.1 },
    kmeans: { ...scores, inertia: 12.5 },
  });
  return {
    createdAt: "2026-11-30T00:00:00.000Z",
    checkpoint: "runs/a/checkpoint.ckpt",
    checkpointHash: "ab".repeat(32),
    runId: "r1",
    step: 4,
    epoch: 1,
    model: "small",
    featureDim: 8,
    engine: "ref",
    trainImages: 60,
    testImages: 12,
    seconds: 3.5,
    classNames: ["a", "b"],
    variants: [
      {
        ...variant("simclr"),
        pca: { explainedRatio: [0.3, 0.2], points: [0, 1, 2, 3], labels: [0, 1] },
        scan: {
          ...scores,
          k: 20,
          neighbourPurity: [0.9, 0.8],
          seeds: [{ seed: 0, ...scores }],
          topImages: [[1, 2], [3]],
          finetune: { ...scores, epochs: 2.5, selfLabel: scores },
        },
      },
      variant("raw-pixels"),
    ],
  };
}

Deno.test("results.json: written with its version, read back equal; no version is version 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-records-" });
  const path = join(dir, "results.json");
  await writeResults(path, results());
  const text = await Deno.readTextFile(path);
  assert.equal(JSON.parse(text).version, 1);
  assert.deepEqual(await readResults(path), { version: 1, ...results() });
  // A class without test images has NaN accuracy, which JSON writes as null: read back as NaN.
  const withNaN = { ...results(), version: 1 };
  withNaN.variants[1].probe.perClassAccuracy = [NaN, 0.7];
  const nan = parseResults(JSON.parse(JSON.stringify(withNaN)), path);
  assert.ok(Number.isNaN(nan.variants[1].probe.perClassAccuracy[0]));
  // Files from before the version field (same field names) load as version 1.
  const { version: _, ...old } = JSON.parse(text);
  assert.equal(parseResults(old, path).version, 1);
  assert.equal(await readResults(join(dir, "none.json")), undefined);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("results.json: the error names the file and the first bad field", () => {
  const bad = (mutate: (r: Record<string, unknown>) => void) => {
    const r = JSON.parse(JSON.stringify(results()));
    mutate(r);
    return () => parseResults(r, "runs/x/results.json");
  };
  assert.throws(
    bad((r) => (r.variants as { probe: unknown }[])[0].probe = {}),
    /runs\/x\/results\.json: field "variants\[0\]\.probe\.testAccuracy" is missing or malformed \(expected a number\)/,
  );
  assert.throws(
    bad((r) => (r.variants as { knn: { k?: number } }[])[1].knn.k = undefined),
    /field "variants\[1\]\.knn\.k" is missing/,
  );
  assert.throws(
    bad((r) => (r.variants as { scan: { topImages: unknown } }[])[0].scan.topImages = [1]),
    /field "variants\[0\]\.scan\.topImages" is missing or malformed \(expected a matrix\)/,
  );
  assert.throws(
    bad((r) =>
      delete (r.variants as { scan: { finetune: { epochs?: number } } }[])[0].scan.finetune
        .epochs
    ),
    /field "variants\[0\]\.scan\.finetune\.epochs" is missing or malformed \(expected a number\)/,
  );
  assert.throws(bad((r) => r.variants = []), /field "variants" .*a non-empty list/);
  assert.throws(bad((r) => delete r.checkpoint), /field "checkpoint" .*a string/);
  assert.throws(
    bad((r) => r.version = 2),
    /results\.json: version 2, but this simclr-ts reads version 1/,
  );
  // The hash and run id are optional (files from before they were recorded).
  assert.doesNotThrow(bad((r) => {
    delete r.checkpointHash;
    delete r.runId;
  }));
});

/** A run summary as the trainer writes it. */
function summary(): Omit<RunSummary, "version"> {
  return {
    config: {
      model: "small",
      epochs: 1,
      batchSize: 8,
      optimizer: "adam",
      lr: 0,
      temperature: 0.5,
      loss: "ntxent",
      seed: 0,
      data: "/data",
      cropScale: 0.08,
      width: 2,
    },
    engine: "ref",
    featureDim: 16,
    stepsPerEpoch: 2,
    totalSteps: 2,
    runId: "r1",
    stopped: "done",
    step: 2,
    epoch: 1,
    trainSeconds: 1.5,
    lastLoss: NaN,
    imagesPerSec: 10,
  };
}

Deno.test("run.json: round trip (NaN loss as null), versionless load, named bad fields", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-records-" });
  const path = join(dir, "run.json");
  await writeRunSummary(path, summary());
  const back = await readRunSummary(path);
  assert.equal(back!.version, 1);
  assert.ok(Number.isNaN(back!.lastLoss));
  assert.equal(back!.config.model, "small");
  const { version: _, ...old } = JSON.parse(await Deno.readTextFile(path));
  assert.equal(parseRunSummary(old).stopped, "done");
  assert.throws(
    () => parseRunSummary({ ...old, config: { ...old.config, model: 3 } }, path),
    /run\.json: field "config\.model" is missing or malformed \(expected a string\)/,
  );
  assert.throws(
    () => parseRunSummary({ ...old, stopped: "tired" }, path),
    /field "stopped" .*done \| time-budget \| max-steps/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test('verify document: round trip with NaN rows; a row without group reads as group ""', async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-records-" });
  const path = join(dir, "verify.json");
  const row = {
    group: "kernels",
    name: "matMul",
    shape: [2, 3],
    maxAbsDiff: 1e-7,
    relDiff: NaN,
    tolerance: 1e-5,
    ok: false,
  };
  await writeVerifyDocument(path, { engine: "wasm", backend: "gpu", rows: [row], times: [] });
  const back = await readVerifyDocument(path);
  assert.equal(back!.version, 1);
  assert.equal(back!.engine, "wasm");
  assert.ok(Number.isNaN(back!.rows[0].relDiff));
  assert.equal(back!.rows[0].maxAbsDiff, 1e-7);
  const { group: _, ...ungrouped } = row;
  assert.equal(parseVerifyDocument({ rows: [ungrouped] }).rows[0].group, "");
  assert.throws(
    () => parseVerifyDocument({ rows: [{ ...row, ok: "yes" }] }, path),
    /verify\.json: field "rows\[0\]\.ok" is missing or malformed \(expected true or false\)/,
  );
  await Deno.remove(dir, { recursive: true });
});
