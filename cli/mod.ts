/**
 * The command-line programs' shared pieces: choosing a backend by name, or the fastest one here.
 *
 * @module
 */
export * from "./backends.ts";
export * from "./auto.ts";
export * from "./torch_python.ts";
export * from "./export.ts";
