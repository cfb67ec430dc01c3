/**
 * Backend-free core of simclr-ts: the tensor interface, autograd, layers, losses and optimisers.
 *
 * @module
 */
export * from "./backend.ts";
export * from "./random.ts";
