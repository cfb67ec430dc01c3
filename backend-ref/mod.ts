/**
 * The reference backend of simclr-ts: every `Backend` kernel as plain TypeScript loops with
 * float64 accumulation and float32 outputs, used as the numerical oracle for the other backends;
 * the conformance suite that compares a backend with it (`verifyKernels`, `verifyTrainingSteps`,
 * run by `deno task verify` and by every backend's tests). The finite-difference gradient helper
 * of the gradient tests (`numerical_gradient.ts`) is imported by path: it is not part of the API.
 *
 * @example
 * ```ts
 * import { createRefBackend } from "@simclr/backend-ref";
 * const ref = createRefBackend();
 * const a = ref.upload(new Float32Array([1, 2, 3, 4]), [2, 2]);
 * const c = ref.matMul(a, a, false, true); // a·aᵀ
 * console.log(await ref.read(c)); // [5, 11, 11, 25]
 * ```
 *
 * @module
 */
export { createRefBackend, RefBackend } from "./ref_backend.ts";
export * from "./conformance.ts";
