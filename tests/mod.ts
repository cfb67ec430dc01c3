/**
 * Cross-package tests, the verify harness and benchmarks.
 *
 * @module
 */
export {};
