/**
 * The command-line programs' shared pieces: choosing a backend by name.
 *
 * @module
 */
export * from "./backends.ts";
export * from "./torch_python.ts";
export * from "./export.ts";
