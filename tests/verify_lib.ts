// Moved to backend-ref/conformance.ts; this re-export stays until the branches importing it merge.
export * from "../backend-ref/conformance.ts";
