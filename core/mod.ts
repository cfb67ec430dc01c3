/**
 * Backend-free core of simclr-ts: the tensor interface every backend implements and the argument
 * rules every backend applies to it (`shapes.ts`, so all refuse bad input alike), reverse-mode
 * autograd with memory scopes, layers and models, the contrastive losses, optimisers, the shared
 * SimCLR training step, a seeded RNG, a progress bar, and the run folder's typed records
 * (`records.ts`: log, `run.json`, `results.json`, the verify document).
 *
 * @module
 */
export * from "./backend.ts";
export * from "./shapes.ts";
export * from "./random.ts";
export * from "./autograd.ts";
export * as F from "./ops.ts";
export * from "./nn.ts";
export * from "./models.ts";
export * from "./loss.ts";
export * from "./optim.ts";
export * from "./simclr.ts";
export * from "./monitors.ts";
export * from "./progress.ts";
export * from "./atomic.ts";
export * from "./records.ts";
export * from "./flags.ts";
export * from "./hash.ts";
export * from "./encode.ts";
export * from "./safetensors.ts";
export * from "./torch_layout.ts";
