// The budget-fitted schedule: planning with a fake clock, and a budgeted run of the real trainer
// (reference backend, tiny fixture) whose clock advances one second per step.
import assert from "node:assert/strict";
import { join } from "node:path";
import { createRefBackend } from "@simclr/backend-ref";
import { learningRate, Rng } from "@simclr/core";
import { loadCifar10 } from "@simclr/data";
import { writeCifarFixture } from "../data/cifar_fixture.ts";
import { loadCheckpoint } from "./checkpoint.ts";
import { parseTrainArgs, type TrainConfig } from "./config.ts";
import {
  BudgetMeter,
  plannedLearningRate,
  planSchedule,
  remainingSeconds,
  type SchedulePlan,
} from "./schedule.ts";
import { RUN_FILES, runTraining } from "./trainer.ts";

Deno.test("remainingSeconds counts steps, epoch ends, due kNNs and the final monitors", () => {
  const p = { stepsPerEpoch: 10, knnEvery: 2, stepSeconds: 1, epochEndSeconds: 5, knnSeconds: 7 };
  // From step 3 to 35: 32 steps; epoch ends at 10, 20, 30 (kNN at 20); the final at 35 with kNN.
  assert.equal(remainingSeconds(3, 35, p), 32 + 3 * 5 + 7 + (5 + 7));
  // Ending on an epoch end counts it once, as the final one.
  assert.equal(remainingSeconds(10, 20, p), 10 + 5 + 7);
  assert.equal(remainingSeconds(10, 20, { ...p, knnEvery: 0 }), 10 + 5);
});

/**
 * Drives the meter the way the trainer does, with a fake clock: `stepCost(step)` seconds per step,
 * fixed epoch-end and kNN costs. Returns the plan, the wall seconds at the end and the last lr.
 */
function simulate(opts: {
  budgetSeconds: number;
  startup: number;
  stepCost: (step: number) => number;
  stepsPerEpoch: number;
  warmupSteps: number;
  knnEvery: number;
  epochEnd: number;
  knn: number;
}): {
  plan: SchedulePlan;
  end: number;
  lastLr: number;
  stoppedByBudget: boolean;
  maxLrJump: number;
  refits: number;
} {
  const meter = new BudgetMeter();
  let t = opts.startup, step = 0, total = Number.MAX_SAFE_INTEGER, warmup = opts.warmupSteps;
  let plan: SchedulePlan | undefined, lastLr = NaN, maxLrJump = 0, refits = 0;
  while (step < total) {
    const lr = plan ? plannedLearningRate(1, step, plan) : learningRate(1, step, total, warmup);
    if (step >= warmup + 1) maxLrJump = Math.max(maxLrJump, Math.abs(lr - lastLr));
    lastLr = lr;
    const dt = opts.stepCost(step);
    t += dt;
    step++;
    meter.observeStep(dt);
    if (t >= opts.budgetSeconds && step < total) {
      return { plan: plan!, end: t, lastLr, stoppedByBudget: true, maxLrJump, refits };
    }
    const epochEnd = step % opts.stepsPerEpoch === 0;
    const due = !plan && meter.due(step, warmup, t, opts.budgetSeconds);
    if (epochEnd || due || step === total) {
      const knnRuns = opts.knnEvery > 0 &&
        (due || step === total || (step / opts.stepsPerEpoch) % opts.knnEvery === 0);
      t += opts.epochEnd + (knnRuns ? opts.knn : 0);
      meter.observeEpochEnd(opts.epochEnd, knnRuns ? opts.knn : undefined);
    }
    if (due || (plan && meter.refitDue(step, opts.stepsPerEpoch, total))) {
      {
        const next = meter.plan({
          budgetSeconds: opts.budgetSeconds,
          elapsedSeconds: t,
          step,
          stepsPerEpoch: opts.stepsPerEpoch,
          warmupSteps: opts.warmupSteps,
          knnEvery: opts.knnEvery,
          previous: plan,
        });
        if (next.totalSteps !== plan?.totalSteps) {
          if (plan) refits++;
          plan = next;
          total = plan.totalSteps;
          warmup = plan.warmupSteps;
        }
      }
    }
  }
  return { plan: plan!, end: t, lastLr, stoppedByBudget: false, maxLrJump, refits };
}

Deno.test("a planned run ends inside the budget (within 10%) with the learning rate near 0", () => {
  const cases = [
    // --limit 5000 --max-minutes 3 on a slow machine: 19 steps per epoch, 0.6 s a step.
    { budgetSeconds: 180, startup: 4, stepsPerEpoch: 19, warmupSteps: 19, knnEvery: 1 },
    // A 60-minute full run: 195 steps per epoch, kNN every 5 epochs.
    { budgetSeconds: 3600, startup: 6, stepsPerEpoch: 195, warmupSteps: 195, knnEvery: 5 },
  ];
  for (const c of cases) {
    // The first two steps are slow (compilation); the rest wander ±3% around 0.6 s.
    const stepCost = (s: number) => s < 2 ? 5 : 0.6 * (1 + 0.03 * Math.sin(s));
    const r = simulate({ ...c, stepCost, epochEnd: 1.5, knn: 6 });
    assert.ok(!r.stoppedByBudget, `cut by the budget at ${r.end} s`);
    assert.ok(r.end <= c.budgetSeconds && r.end >= 0.9 * c.budgetSeconds, `ended at ${r.end} s`);
    assert.ok(r.lastLr < 0.05, `last lr ${r.lastLr} of the base`);
    // The last plan's prediction is what the simulation then did, to within the noise.
    assert.ok(Math.abs(r.plan.predictedEndSeconds - r.end) < 0.02 * c.budgetSeconds);
    assert.equal(r.plan.warmupSteps, c.warmupSteps);
  }
});

Deno.test("a change of load mid-run is absorbed by refits, with a continuous learning rate", () => {
  // As measured here: 3 s a step while another job ran, then 1.2 s; and the reverse.
  const loads = [
    (s: number) => (s < 2 ? 8 : s < 20 ? 3 : 1.2),
    (s: number) => (s < 2 ? 8 : s < 20 ? 1.2 : 3),
  ];
  for (const stepCost of loads) {
    const r = simulate({
      budgetSeconds: 180,
      startup: 4,
      stepCost,
      stepsPerEpoch: 19,
      warmupSteps: 19,
      knnEvery: 1,
      epochEnd: 1.5,
      knn: 12,
    });
    assert.ok(r.refits >= 1, `no refit: ${JSON.stringify(r)}`);
    assert.ok(!r.stoppedByBudget, `cut by the budget at ${r.end} s`);
    assert.ok(r.end <= 180 && r.end >= 0.9 * 180, `ended at ${r.end} s`);
    assert.ok(r.lastLr < 0.05, `last lr ${r.lastLr}`);
    // Consecutive rates differ by less than a plain cosine over ~10 steps would at its steepest.
    assert.ok(r.maxLrJump < 0.16, `lr jumped by ${r.maxLrJump}`);
  }
});

Deno.test("plannedLearningRate equals core's learningRate for a first plan, and refits keep it continuous", () => {
  const plan = planSchedule({
    budgetSeconds: 100,
    elapsedSeconds: 10,
    step: 10,
    stepsPerEpoch: 10,
    warmupSteps: 10,
    knnEvery: 0,
    stepSeconds: 1,
    epochEndSeconds: 0,
    knnSeconds: 0,
    margin: 0,
  });
  assert.equal(plan.totalSteps, 100);
  for (let s = 0; s < plan.totalSteps; s++) {
    assert.ok(Math.abs(plannedLearningRate(1, s, plan) - learningRate(1, s, 100, 10)) < 1e-12);
  }
  // At step 40 the machine turns twice as slow: fewer steps remain, from the same lr.
  const refit = planSchedule({
    budgetSeconds: 100,
    elapsedSeconds: 40,
    step: 40,
    stepsPerEpoch: 10,
    warmupSteps: 10,
    knnEvery: 0,
    stepSeconds: 2,
    epochEndSeconds: 0,
    knnSeconds: 0,
    margin: 0,
    previous: plan,
  });
  assert.equal(refit.totalSteps, 70);
  assert.equal(refit.anchorStep, 40);
  assert.ok(Math.abs(refit.anchorProgress - 30 / 90) < 1e-12);
  assert.ok(Math.abs(plannedLearningRate(1, 40, refit) - plannedLearningRate(1, 40, plan)) < 1e-12);
  assert.ok(plannedLearningRate(1, 69, refit) < 0.01);
});

Deno.test("a warm-up longer than a quarter of the budget is planned early and capped", () => {
  const r = simulate({
    budgetSeconds: 100,
    startup: 0,
    stepCost: () => 1,
    stepsPerEpoch: 1000,
    warmupSteps: 1000,
    knnEvery: 0,
    epochEnd: 0.5,
    knn: 0,
  });
  assert.equal(r.plan.plannedAtStep, 25);
  assert.ok(r.plan.warmupSteps <= r.plan.totalSteps / 2);
  assert.ok(!r.stoppedByBudget && r.end <= 100 && r.end >= 90, `ended at ${r.end}`);
  assert.ok(r.lastLr < 0.05);
});

Deno.test("planSchedule: when nothing more fits, the run ends after the next step; bad input is named", () => {
  const plan = planSchedule({
    budgetSeconds: 60,
    elapsedSeconds: 70,
    step: 40,
    stepsPerEpoch: 10,
    warmupSteps: 10,
    knnEvery: 1,
    stepSeconds: 1,
    epochEndSeconds: 1,
    knnSeconds: 1,
  });
  assert.equal(plan.totalSteps, 41);
  assert.throws(
    () => planSchedule({ ...plan, stepsPerEpoch: 10, knnEvery: 0, step: 0, stepSeconds: NaN }),
    /stepSeconds must be a positive number; got NaN/,
  );
});

function budgetConfig(
  out: string,
  data: string,
  minutes: number,
): TrainConfig & { model: "small" } {
  const parsed = parseTrainArgs([
    "--backend=ref",
    "--model=small",
    "--width=2",
    "--batch-size=8",
    "--knn-every=0",
    "--limit=32",
    `--max-minutes=${minutes}`,
    `--out=${out}`,
    `--data=${data}`,
  ]);
  if (parsed === "help") throw new Error("unexpected help");
  return { ...parsed, model: "small" };
}

Deno.test("trainer: --max-minutes plans the steps, logs the plan, ends at lr≈0, and --resume keeps it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-budget-" });
  await writeCifarFixture(dir, { trainPerBatch: 8, test: 16, rng: new Rng(1) });
  const data = await loadCifar10(dir, { strictCounts: false });
  // A fake clock: each step costs exactly one second, everything else nothing.
  const fake = () => {
    const state = { ms: 0 };
    return { clock: () => state.ms, onStep: () => (state.ms += 1000), state };
  };
  const straightOut = join(dir, "straight");
  const f1 = fake();
  const straight = await runTraining({
    config: budgetConfig(straightOut, dir, 0.5),
    backend: createRefBackend(),
    engineDescription: "ref",
    data,
    quiet: true,
    clock: f1.clock,
    onStep: f1.onStep,
  });
  // 4 steps per epoch, warm-up 4; planned after step 5 (two skipped, three measured) with
  // 30 s × 0.96 − 5 s = 23.8 s left: 23 more steps.
  assert.equal(straight.stopped, "done");
  assert.equal(straight.step, 28);
  const records = (await Deno.readTextFile(join(straightOut, RUN_FILES.log))).trim().split("\n")
    .map((l) => JSON.parse(l));
  const plans = records.filter((r) => r.type === "plan");
  assert.equal(plans.length, 1);
  assert.equal(plans[0].totalSteps, 28);
  assert.equal(plans[0].plannedAtStep, 5);
  const steps = records.filter((r) => r.type === "step");
  assert.equal(steps.length, 28);
  const base = 1e-3; // adam's default rate
  assert.ok(steps.at(-1).lr < 0.05 * base, `last lr ${steps.at(-1).lr}`);
  // The warm-up ramps over its 4 steps before the plan exists, then the cosine decays.
  assert.deepEqual(steps.slice(0, 4).map((r) => r.lr / base), [0.25, 0.5, 0.75, 1]);
  const final = await loadCheckpoint(join(straightOut, RUN_FILES.checkpoint));
  assert.equal(final.meta.reason, "final");
  assert.equal((final.meta.plan as SchedulePlan).totalSteps, 28);

  // Stopped after the plan and resumed with another budget: the plan and trajectory are kept.
  const resumedOut = join(dir, "resumed");
  const f2 = fake(), stopSignal = { requested: false };
  await runTraining({
    config: budgetConfig(resumedOut, dir, 0.5),
    backend: createRefBackend(),
    engineDescription: "ref",
    data,
    quiet: true,
    stopSignal,
    clock: f2.clock,
    onStep: (s) => {
      f2.onStep();
      stopSignal.requested = s === 9;
    },
  });
  const saved = await loadCheckpoint(join(resumedOut, RUN_FILES.checkpoint));
  assert.equal(saved.meta.step, 9);
  const f3 = fake();
  const second = await runTraining({
    config: budgetConfig(resumedOut, dir, 10),
    backend: createRefBackend(),
    engineDescription: "ref",
    data,
    quiet: true,
    resumeFrom: saved as never,
    clock: f3.clock,
    onStep: f3.onStep,
  });
  assert.equal(second.step, 28);
  const resumedSteps = (await Deno.readTextFile(join(resumedOut, RUN_FILES.log))).trim()
    .split("\n").map((l) => JSON.parse(l)).filter((r) => r.type === "step");
  assert.deepEqual(resumedSteps.map((r) => r.lr), steps.map((r) => r.lr));
  assert.deepEqual(resumedSteps.map((r) => r.loss), steps.map((r) => r.loss));
  await Deno.remove(dir, { recursive: true });
});
