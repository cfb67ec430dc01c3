/**
 * SimCLR pretraining: flags, the training loop and checkpoints (`deno task train`).
 *
 * @module
 */
export * from "./config.ts";
export * from "./checkpoint.ts";
export * from "./trainer.ts";
export * from "./lock.ts";
export * from "./resume.ts";
export * from "./schedule.ts";
export * from "./init_from.ts";
