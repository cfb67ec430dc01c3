/**
 * `deno task train`: SimCLR pretraining on CIFAR-10. `--help` lists every flag.
 *
 * @module
 */
import type { ModelName } from "@simclr/core";
import { ensureCifar10, loadCifar10 } from "@simclr/data";
import { join } from "node:path";
import {
  FlagError,
  helpText,
  loadCheckpoint,
  parseTrainArgs,
  RUN_FILES,
  runTraining,
  type TrainConfig,
} from "@simclr/train";
import { chooseBackend, precisionRefusal } from "./backends.ts";

async function main(): Promise<number> {
  let config: TrainConfig;
  try {
    const parsed = parseTrainArgs(Deno.args);
    if (parsed === "help") {
      console.log(helpText());
      return 0;
    }
    config = parsed;
  } catch (e) {
    if (e instanceof FlagError) {
      console.error(`train: ${e.message}`);
      return 2;
    }
    throw e;
  }

  let resumeFrom;
  if (config.resume) {
    if (!config.out) {
      console.error("train: --resume needs --out RUN_FOLDER (the run to continue)");
      return 2;
    }
    resumeFrom = await loadCheckpoint<TrainConfig>(join(config.out, RUN_FILES.checkpoint));
    // The saved config fixes the trajectory; only session settings come from the flags.
    const session = {
      maxMinutes: config.maxMinutes,
      workers: config.workers,
      data: config.data || resumeFrom.meta.config.data,
      out: config.out,
      resume: true,
      engine: config.engine,
    };
    config = { ...resumeFrom.meta.config, ...session };
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

  const { backend, engine, description: engineDescription, hint } = await chooseBackend(
    config.backend,
    config.engine,
  );
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
    const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
    config.out = join("runs", `${model}-${stamp}`);
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
    if (stopSignal.requested) Deno.exit(130);
    stopSignal.requested = true;
    console.error("\ninterrupt: saving a checkpoint after this step (Ctrl-C again to quit now)");
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
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
    return outcome.stopped === "interrupt" ? 130 : 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
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
