/**
 * SimCLR pretraining: flags, the training loop and checkpoints (`deno task train`).
 *
 * @module
 */
export * from "./config.ts";
export * from "./checkpoint.ts";
export * from "./trainer.ts";
export * from "./init_from.ts";
