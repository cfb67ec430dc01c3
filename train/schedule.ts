/**
 * The budget-fitted schedule behind `--max-minutes`: the trainer measures its own wall time per
 * step and per epoch end (monitors, kNN, checkpoint) during the warm-up, then plans the total
 * number of steps so that warm-up plus cosine decay ends when the budget does, with the final kNN
 * monitor and checkpoint still inside it. Cutting a fixed-epoch cosine wherever the clock runs out
 * would stop with the learning rate still high and skip the low-rate steps that matter most.
 *
 * On a shared machine the throughput wanders (here it changed 2.5× within a 3-minute run when
 * another job started and stopped), so the plan is refitted every ten steps and at every epoch
 * end from the recent step time. A refit keeps the learning rate continuous: the cosine continues from the progress
 * it had reached, stretched or squeezed over the steps that now remain (`anchorStep`,
 * `anchorProgress`). A resumed run keeps the plan as saved and does not refit it, so that it
 * repeats the trajectory.
 *
 * Everything here is pure (numbers in, numbers out) so that the planning is unit-tested with a
 * fake clock; the trainer feeds it real measurements.
 *
 * @module
 */

/** The plan a budgeted run follows; logged, printed and kept in the checkpoint for `--resume`. */
export interface SchedulePlan {
  /** Steps of the whole run (warm-up plus cosine decay). */
  totalSteps: number;
  /** Linear warm-up steps. */
  warmupSteps: number;
  /** From this step on the cosine runs from `anchorProgress` to 1 at `totalSteps`. */
  anchorStep: number;
  /** Cosine progress (0..1) at `anchorStep`; 0 at the first plan, whose anchor is the warm-up end. */
  anchorProgress: number;
  /** Step at which the plan was made. */
  plannedAtStep: number;
  /** The budget, in seconds of wall time since the process (or session) started. */
  budgetSeconds: number;
  /** Wall seconds already spent when planning. */
  elapsedSeconds: number;
  /** Measured wall seconds per training step (data, step, log). */
  stepSeconds: number;
  /** Measured wall seconds of an epoch end without kNN (collapse monitors and checkpoint). */
  epochEndSeconds: number;
  /** Measured wall seconds of one kNN monitor. */
  knnSeconds: number;
  /** Fraction of the budget kept free against throughput noise. */
  margin: number;
  /** Predicted wall seconds at the end of the run (final kNN and checkpoint included). */
  predictedEndSeconds: number;
}

/** What {@linkcode planSchedule} needs. */
export interface PlanInput {
  budgetSeconds: number;
  elapsedSeconds: number;
  /** Steps done so far. */
  step: number;
  stepsPerEpoch: number;
  /** Warm-up steps asked for (`--warmup-epochs` × steps per epoch). */
  warmupSteps: number;
  /** kNN monitor every this many epochs (0 = never; then no final kNN either). */
  knnEvery: number;
  stepSeconds: number;
  epochEndSeconds: number;
  knnSeconds: number;
  /** Fraction of the budget kept free; default {@linkcode DEFAULT_MARGIN}. */
  margin?: number;
  /** The plan being refitted; absent at the first plan. */
  previous?: SchedulePlan;
}

/**
 * Fraction of the budget the plan leaves unused. Throughput on a shared machine wanders by a few
 * per cent over a run; 4% absorbs that while keeping the ±10% promise of `--max-minutes`.
 */
export const DEFAULT_MARGIN = 0.04;

/**
 * Predicted wall seconds to go from `step` to `total`: every step, every epoch end on the way
 * (collapse monitors and checkpoint, plus kNN when due), and the final monitors, kNN and
 * checkpoint, which the trainer runs at the last step whether or not it ends an epoch.
 */
export function remainingSeconds(
  step: number,
  total: number,
  p: Pick<
    PlanInput,
    "stepsPerEpoch" | "knnEvery" | "stepSeconds" | "epochEndSeconds" | "knnSeconds"
  >,
): number {
  let t = (total - step) * p.stepSeconds;
  const spe = p.stepsPerEpoch;
  // Epoch ends strictly between step and total (the final step is counted below).
  const firstEnd = Math.floor(step / spe) + 1;
  const lastEnd = Math.ceil(total / spe) - 1;
  if (lastEnd >= firstEnd) {
    const ends = lastEnd - firstEnd + 1;
    t += ends * p.epochEndSeconds;
    if (p.knnEvery > 0) {
      const knnEnds = Math.floor(lastEnd / p.knnEvery) - Math.floor((firstEnd - 1) / p.knnEvery);
      t += knnEnds * p.knnSeconds;
    }
  }
  t += p.epochEndSeconds + (p.knnEvery > 0 ? p.knnSeconds : 0);
  return t;
}

/**
 * The largest total step count whose predicted end lies within the budget less the margin, and
 * the warm-up capped at half of it (as without a budget). When not even one more step fits, the
 * run ends after the next step.
 */
export function planSchedule(input: PlanInput): SchedulePlan {
  for (const k of ["budgetSeconds", "stepSeconds", "stepsPerEpoch"] as const) {
    if (!(input[k] > 0) || !Number.isFinite(input[k])) {
      throw new RangeError(`planSchedule: ${k} must be a positive number; got ${input[k]}`);
    }
  }
  const margin = input.margin ?? DEFAULT_MARGIN;
  const limit = input.budgetSeconds * (1 - margin) - input.elapsedSeconds;
  const fits = (total: number) => remainingSeconds(input.step, total, input) <= limit;
  let lo = input.step + 1;
  if (fits(lo)) {
    // Exponential then binary search: remainingSeconds grows with total.
    let hi = lo + 1;
    while (fits(hi)) hi = input.step + 2 * (hi - input.step);
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (fits(mid)) lo = mid;
      else hi = mid;
    }
  }
  const totalSteps = lo;
  const prev = input.previous;
  // The warm-up is fixed at the first plan (capped at half the run, as without a budget); a
  // refit after the warm-up anchors the cosine where it stands, a refit during it keeps it.
  const warmupSteps = prev
    ? prev.warmupSteps
    : Math.min(input.warmupSteps, Math.floor(totalSteps / 2));
  let anchorStep = warmupSteps, anchorProgress = 0;
  if (prev && input.step > prev.warmupSteps) {
    anchorStep = input.step;
    anchorProgress = cosineProgress(input.step, prev);
  }
  return {
    totalSteps,
    warmupSteps,
    anchorStep,
    anchorProgress,
    plannedAtStep: input.step,
    budgetSeconds: input.budgetSeconds,
    elapsedSeconds: input.elapsedSeconds,
    stepSeconds: input.stepSeconds,
    epochEndSeconds: input.epochEndSeconds,
    knnSeconds: input.knnSeconds,
    margin,
    predictedEndSeconds: input.elapsedSeconds + remainingSeconds(input.step, totalSteps, input),
  };
}

/** Position (0..1) in the cosine decay at `step` under `plan`; 0 during the warm-up. */
export function cosineProgress(
  step: number,
  plan: Pick<SchedulePlan, "totalSteps" | "anchorStep" | "anchorProgress">,
): number {
  if (step <= plan.anchorStep) return plan.anchorProgress;
  const span = Math.max(1, plan.totalSteps - plan.anchorStep);
  return Math.min(
    1,
    plan.anchorProgress + (1 - plan.anchorProgress) * (step - plan.anchorStep) / span,
  );
}

/**
 * The learning rate of `step` under a plan: the linear warm-up, then half a cosine from `base`
 * to 0. With the first plan's anchor (warm-up end, progress 0) this is exactly core's
 * `learningRate(base, step, totalSteps, warmupSteps)`.
 */
export function plannedLearningRate(base: number, step: number, plan: SchedulePlan): number {
  if (plan.warmupSteps > 0 && step < plan.warmupSteps) {
    return (base * (step + 1)) / plan.warmupSteps;
  }
  return base * 0.5 * (1 + Math.cos(Math.PI * cosineProgress(step, plan)));
}

/**
 * Collects the trainer's wall-time measurements and says when to plan. The first steps are left
 * out of the step time: they pay for compilation, allocation and cold caches.
 */
export class BudgetMeter {
  /** Steps at the start not counted in the step time. */
  static readonly SKIP_STEPS = 2;
  /** Steps measured before a plan is trusted. */
  static readonly MIN_STEPS = 3;
  /**
   * Plan at this fraction of the budget even if the warm-up has not ended (a long warm-up on a
   * slow machine would otherwise eat the budget unplanned).
   */
  static readonly LATEST_PLAN_FRACTION = 0.25;

  /** Refit the plan every this many steps (and at epoch ends). */
  static readonly REFIT_EVERY = 10;
  /** Steps in the moving window of the step time (recent enough to follow a change in load). */
  static readonly WINDOW = 8;

  #seen = 0;
  #recent: number[] = [];
  #stepCount = 0;
  #epochEnd?: number;
  #knn?: number;

  /** Records one training step's wall seconds. */
  observeStep(seconds: number): void {
    if (this.#seen++ >= BudgetMeter.SKIP_STEPS) {
      this.#recent.push(seconds);
      if (this.#recent.length > BudgetMeter.WINDOW) this.#recent.shift();
      this.#stepCount++;
    }
  }

  /** Records one epoch end: monitors plus checkpoint, and the kNN's share when it ran. */
  observeEpochEnd(seconds: number, knnSeconds?: number): void {
    this.#epochEnd = seconds;
    if (knnSeconds !== undefined) this.#knn = knnSeconds;
  }

  /** Mean seconds per step over the recent window (NaN before any). */
  get stepSeconds(): number {
    return this.#recent.reduce((a, b) => a + b, 0) / this.#recent.length;
  }

  /**
   * Whether the plan is due after `step`: enough steps measured, and the warm-up done or a
   * quarter of the budget spent.
   */
  due(step: number, warmupSteps: number, elapsedSeconds: number, budgetSeconds: number): boolean {
    if (this.#stepCount < BudgetMeter.MIN_STEPS) return false;
    return step >= warmupSteps ||
      elapsedSeconds >= BudgetMeter.LATEST_PLAN_FRACTION * budgetSeconds;
  }

  /** Whether to refit after `step` (the plan exists and the run is not over). */
  refitDue(step: number, stepsPerEpoch: number, totalSteps: number): boolean {
    return step < totalSteps &&
      (step % BudgetMeter.REFIT_EVERY === 0 || step % stepsPerEpoch === 0);
  }

  /** The plan (or refit, with `previous`) from what was measured; needs an epoch end timed. */
  plan(
    input: Omit<PlanInput, "stepSeconds" | "epochEndSeconds" | "knnSeconds">,
  ): SchedulePlan {
    if (this.#epochEnd === undefined) throw new Error("BudgetMeter: no epoch end timed yet");
    return planSchedule({
      ...input,
      stepSeconds: this.stepSeconds,
      epochEndSeconds: this.#epochEnd,
      knnSeconds: this.#knn ?? 0,
    });
  }
}

/** One line for the console and the log: what the plan is and what it predicts. */
export function describePlan(p: SchedulePlan, stepsPerEpoch: number, refit = false): string {
  const epochs = p.totalSteps / stepsPerEpoch;
  const what = refit
    ? `schedule refitted at step ${p.plannedAtStep} (cosine ${
      (100 * p.anchorProgress).toFixed(0)
    }% done)`
    : "schedule fitted";
  return `${what} to the ${(p.budgetSeconds / 60).toFixed(1)}-minute budget: ` +
    `${p.totalSteps} steps (${epochs.toFixed(2)} epochs, warm-up ${p.warmupSteps}) at ` +
    `${p.stepSeconds.toFixed(3)} s/step, epoch end ${p.epochEndSeconds.toFixed(1)} s, ` +
    `kNN ${p.knnSeconds.toFixed(1)} s; predicted end at ${
      (p.predictedEndSeconds / 60).toFixed(2)
    } ` +
    `min (${(100 * p.margin).toFixed(0)}% kept free)`;
}
