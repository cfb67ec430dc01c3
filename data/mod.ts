/**
 * Data for simclr-ts: CIFAR-10 loading, validation and download (`cifar.ts`), a minimal tar
 * reader (`tar.ts`), seeded torchvision-style SimCLR augmentations (`augment.ts`) and a worker
 * pool that runs them off the main thread (`workers.ts`).
 *
 * @module
 */
export * from "./cifar.ts";
export * from "./tar.ts";
export * from "./augment.ts";
export { AugmentPool, type AugmentPoolOptions, defaultWorkerCount } from "./workers.ts";
