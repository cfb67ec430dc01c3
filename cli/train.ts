/**
 * `deno task train`: SimCLR pretraining on CIFAR-10. `--help` lists every flag.
 *
 * @module
 */
import type { ModelName } from "@simclr/core";
import { ensureCifar10, loadCifar10 } from "@simclr/data";
import { join } from "node:path";
import {
  acquireRunLock,
  FlagError,
  flagName,
  givenFlags,
  helpText,
  loadCheckpoint,
  parseTrainArgs,
  planResume,
  removeStaleTempFiles,
  RESUME_CHANGEABLE,
  RUN_FILES,
  type RunLock,
  RunLockedError,
  runTraining,
  type TrainConfig,
} from "@simclr/train";
import { chooseBackend, precisionRefusal } from "./backends.ts";

/**
 * Creates the run folder used when `--out` is not given, `runs/<model>-<time>`, with `-2`, `-3`…
 * appended when that exists, and returns its path.
 */
export async function createDefaultRunFolder(model: string, root = "runs"): Promise<string> {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  await Deno.mkdir(root, { recursive: true });
  // mkdir without `recursive` fails if the folder exists, so two runs started in the same second
  // (or on two machines sharing runs/) never get the same one.
  for (let n = 1;; n++) {
    const path = join(root, `${model}-${stamp}${n > 1 ? `-${n}` : ""}`);
    try {
      await Deno.mkdir(path);
      return path;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

/** The lock this process holds, so a second Ctrl-C can release it before quitting. */
let heldLock: RunLock | undefined;

function takeLock(dir: string): RunLock {
  const lock = acquireRunLock(dir);
  heldLock = lock;
  if (lock.tookOver) {
    console.error(
      `train: took over the lock of ${dir} left by pid ${lock.tookOver.pid} ` +
        `(started ${lock.tookOver.startedAt}), which is no longer running`,
    );
  }
  const removed = removeStaleTempFiles(dir);
  if (removed.length) {
    console.error(`train: removed ${removed.length} temporary file(s) left by killed saves`);
  }
  return lock;
}

async function main(): Promise<number> {
  let config: TrainConfig;
  let given: Set<keyof TrainConfig>;
  try {
    const parsed = parseTrainArgs(Deno.args);
    if (parsed === "help") {
      console.log(helpText());
      return 0;
    }
    config = parsed;
    given = givenFlags(Deno.args);
  } catch (e) {
    if (e instanceof FlagError) {
      console.error(`train: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (config.resume && !config.out) {
    console.error("train: --resume needs --out RUN_FOLDER (the run to continue)");
    return 2;
  }
  // The lock comes before anything else touches the folder (and before a slow backend start), so
  // a second trainer on the same --out stops at once.
  let lock: RunLock | undefined;
  try {
    if (config.out) lock = takeLock(config.out);
    return await trainLocked(config, given, (l) => (lock = l));
  } catch (e) {
    if (e instanceof RunLockedError) {
      console.error(`train: ${e.message}`);
      return 3;
    }
    throw e;
  } finally {
    lock?.release();
  }
}

async function trainLocked(
  config: TrainConfig,
  given: Set<keyof TrainConfig>,
  setLock: (lock: RunLock) => void,
): Promise<number> {
  let resumeFrom;
  if (config.resume) {
    resumeFrom = await loadCheckpoint<TrainConfig>(join(config.out, RUN_FILES.checkpoint));
    const saved = resumeFrom.meta.config;
    const plan = planResume(saved, config, given);
    if (plan.conflicts.length) {
      console.error(
        `train: --resume keeps the run's settings; these flags differ and cannot change ` +
          `mid-run:\n  ${plan.conflicts.join("\n  ")}\n` +
          `Drop them, or start a new run with another --out. Changeable on resume: ${
            RESUME_CHANGEABLE.map(flagName).join(", ")
          }.`,
      );
      return 2;
    }
    const doneEpochs = resumeFrom.meta.epoch;
    if (doneEpochs >= saved.epochs && !given.has("epochs")) {
      console.error(
        `train: ${config.out} is finished (epoch ${doneEpochs} of ${saved.epochs}); nothing ` +
          `to do. Pass --epochs N (> ${saved.epochs}) to extend it.`,
      );
      return 0;
    }
    if (plan.config.epochs < doneEpochs) {
      console.error(
        `train: --epochs ${plan.config.epochs} is fewer than the ${
          doneEpochs.toFixed(2)
        } epochs already trained in ${config.out}`,
      );
      return 2;
    }
    if (plan.config.maxSteps > 0 && plan.config.maxSteps <= resumeFrom.meta.step) {
      console.error(
        `train: --max-steps ${plan.config.maxSteps} is not past step ${resumeFrom.meta.step}, ` +
          `where ${config.out} stands; give a larger N (it counts the run's steps, not this ` +
          `session's)`,
      );
      return 2;
    }
    for (const c of plan.changes) console.error(`resume: ${c}`);
    config = plan.config;
  } else if (config.out) {
    try {
      await Deno.stat(join(config.out, RUN_FILES.checkpoint));
      console.error(
        `train: ${config.out} already holds a checkpoint; pass --resume to continue it or ` +
          `choose another --out`,
      );
      return 2;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  const { backend, engine, description: engineDescription, hint, selection } = await chooseBackend(
    config.backend,
    config.engine,
  );
  if (selection) console.error(selection);
  console.error(`engine: ${engineDescription}`);
  if (hint) console.error(hint);
  const refusal = await precisionRefusal(backend, config.precision ?? "fp32");
  if (refusal) {
    console.error(`train: ${refusal}`);
    return 2;
  }
  const model: ModelName = config.model === "default"
    ? (engine === "cuda" ? "resnet18" : "small")
    : config.model;
  if (!config.out) {
    config.out = await createDefaultRunFolder(model);
    setLock(takeLock(config.out));
  }
  console.error(`model: ${model}   run folder: ${config.out}`);

  // A smaller dataset (a test fixture) is accepted only when --limit asks for fewer images.
  const strictCounts = config.limit === 0;
  const dataDir = await ensureCifar10({
    data: config.data || undefined,
    validate: { strictCounts },
  });
  const data = await loadCifar10(dataDir, { strictCounts });
  if (data.train.count < config.limit) {
    console.error(
      `train: --limit ${config.limit} exceeds the ${data.train.count} images in ${dataDir}`,
    );
    return 2;
  }
  const stopSignal = { requested: false };
  const onInterrupt = () => {
    if (stopSignal.requested) {
      heldLock?.release();
      Deno.exit(130);
    }
    stopSignal.requested = true;
    console.error(
      "\ninterrupt: saving a checkpoint after this step (Ctrl-C or SIGTERM again to quit now)",
    );
  };
  // SIGTERM (kill PID, systemd, a job scheduler) gets the same clean stop as Ctrl-C.
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onInterrupt);
  try {
    const outcome = await runTraining({
      config: { ...config, model, data: dataDir },
      backend,
      engineDescription,
      data,
      resumeFrom,
      stopSignal,
      // performance.now() counts from process start: start-up is part of --max-minutes too.
      budgetStart: 0,
    });
    console.error(
      `${outcome.stopped}: step ${outcome.step}, epoch ${outcome.epoch.toFixed(2)}, ` +
        `${(outcome.trainSeconds / 60).toFixed(1)} min trained, last loss ${
          outcome.lastLoss.toFixed(4)
        }; run folder ${config.out}`,
    );
    if (outcome.stopped === "collapse") return 4;
    return outcome.stopped === "interrupt" ? 130 : 0;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onInterrupt);
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`train: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
