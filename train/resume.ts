/**
 * `--resume` rules: the saved config fixes the run, and only a documented set of settings may
 * differ on the command line. Those are applied and reported; any other differing flag is refused
 * with the list of conflicts, so a resumed run never silently ignores what it was told.
 *
 * @module
 */
import { BACKENDS_WITHOUT_ENGINES, flagName, savedConfig, type TrainConfig } from "./config.ts";

/**
 * Settings a resumed run may change: the learning rate (e.g. lower it after a NaN stop), the
 * epochs (extends the cosine schedule, or a finished run), the time budget and step limit, where it runs
 * (backend, engine, worker threads), how often the kNN monitor runs, and where the data lies.
 */
export const RESUME_CHANGEABLE: readonly (keyof TrainConfig)[] = [
  "lr",
  "epochs",
  "maxMinutes",
  "maxSteps",
  "backend",
  "engine",
  "workers",
  "knnEvery",
  "data",
];

/** The outcome of merging flags into a saved config. */
export interface ResumePlan {
  config: TrainConfig;
  /** Human-readable changes applied, e.g. `--lr 0.001 → 0.0001`. */
  changes: string[];
  /** Flags that differ from the saved run and may not change; non-empty means refuse. */
  conflicts: string[];
}

const show = (v: unknown) => (v === "" ? '""' : String(v));

/**
 * Merges the flags the user `given` explicitly (values in `flags`) into the `saved` config.
 * Session-only settings (`out`, `resume`, `maxMinutes`, `maxSteps`, `workers`) always come from the flags.
 */
export function planResume(
  checkpointConfig: TrainConfig,
  flags: TrainConfig,
  given: ReadonlySet<keyof TrainConfig>,
): ResumePlan {
  // A checkpoint from before the head flags trained the default head: `--proj-layers 2` agrees.
  const saved = savedConfig(checkpointConfig);
  const config: TrainConfig = {
    ...saved,
    out: flags.out,
    resume: true,
    maxMinutes: flags.maxMinutes,
    maxSteps: flags.maxSteps,
    workers: flags.workers,
  };
  const changes: string[] = [], conflicts: string[] = [];
  for (const key of given) {
    if (key === "out" || key === "resume") continue;
    const was = saved[key], now = flags[key];
    // `--model default` on resume means "whatever the run used".
    if (key === "model" && now === "default") continue;
    if (was === now) continue;
    if (RESUME_CHANGEABLE.includes(key)) {
      (config as unknown as Record<string, unknown>)[key] = now;
      if (key !== "data" || was !== undefined) {
        changes.push(`${flagName(key)} ${show(was)} → ${show(now)}`);
      }
    } else {
      conflicts.push(`${flagName(key)}: run has ${show(was)}, flag says ${show(now)}`);
    }
  }
  if (!given.has("data")) config.data = flags.data || saved.data;
  if (given.has("engine") && BACKENDS_WITHOUT_ENGINES.includes(config.backend)) {
    conflicts.push(
      `--engine: the run's backend ${config.backend} has no engines (add --backend gpu to move it)`,
    );
  }
  return { config, changes, conflicts };
}
