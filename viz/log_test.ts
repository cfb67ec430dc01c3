import assert from "node:assert/strict";
import { trainingLogFromJsonl } from "./log.ts";

Deno.test("trainingLogFromJsonl splits steps and epochs, keeps kNN, reads null as NaN", () => {
  const text = [
    JSON.stringify({ type: "start", config: {} }),
    JSON.stringify({
      type: "step",
      step: 1,
      epoch: 0,
      loss: 5.5,
      lr: 0.1,
      imagesPerSec: 900,
      time: 0.3,
    }),
    JSON.stringify({
      type: "step",
      step: 2,
      epoch: 0,
      loss: null,
      lr: 0.2,
      imagesPerSec: 950,
      time: 0.6,
    }),
    "",
    JSON.stringify({
      type: "epoch",
      epoch: 0,
      step: 2,
      loss: 5.4,
      featureStd: 0.05,
      alignment: 0.8,
      uniformity: -2,
      knnAccuracy: 0.31,
      imagesPerSec: 920,
      time: 0.7,
    }),
    JSON.stringify({ epoch: 1, loss: 5.3, featureStd: 0.06, alignment: 0.7, uniformity: -2.5 }),
  ].join("\n");
  const log = trainingLogFromJsonl(text, 128);
  assert.equal(log.featureDim, 128);
  assert.deepEqual(log.steps[0], {
    step: 1,
    epoch: 0,
    loss: 5.5,
    lr: 0.1,
    imagesPerSec: 900,
    time: 0.3,
  });
  assert.ok(Number.isNaN(log.steps[1].loss));
  assert.equal(log.epochs.length, 2);
  assert.equal(log.epochs[0].knnAccuracy, 0.31);
  assert.equal(log.epochs[1].knnAccuracy, undefined);
  assert.equal(log.epochs[1].uniformity, -2.5);
});

Deno.test("trainingLogFromJsonl names the file, line and field of bad input", () => {
  assert.throws(
    () => trainingLogFromJsonl("{nope", 8, "runs/a/log.jsonl"),
    /runs\/a\/log\.jsonl line 1 is not valid JSON/,
  );
  assert.throws(
    () =>
      trainingLogFromJsonl(
        `\n{"type":"step","step":1,"epoch":0,"loss":"x","lr":1,"imagesPerSec":1,"time":1}`,
        8,
      ),
    /line 2 \(step record\) needs a number in "loss", got "x"/,
  );
  assert.throws(() => trainingLogFromJsonl("[1]", 8), /line 1 must be a JSON object/);
  assert.throws(() => trainingLogFromJsonl("", 0), /featureDim must be a positive integer/);
});
