/**
 * Worker side of {@linkcode AugmentPool}: holds the shared dataset bytes and augments slices of
 * batches with the same code as `makeViews`, sending the views back as transferred buffers.
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

import { type AugmentConfig, augmentRange, resolveAugmentConfig } from "./augment.ts";
import type { WorkerReply, WorkerRequest } from "./workers.ts";

let images: Uint8Array | undefined;
let config: AugmentConfig | undefined;

function reply(message: WorkerReply, transfer: Transferable[] = []): void {
  self.postMessage(message, transfer);
}

self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const msg = event.data;
  if (msg.type === "init") {
    try {
      images = new Uint8Array(msg.images);
      config = resolveAugmentConfig(msg.config);
      reply({ type: "ready" });
    } catch (e) {
      reply({ type: "error", id: -1, message: (e as Error).message });
    }
    return;
  }
  try {
    if (!images || !config) throw new Error("augment worker received a job before init");
    const floats = (msg.end - msg.start) * 3072;
    const view1 = new Float32Array(floats);
    const view2 = new Float32Array(floats);
    augmentRange(images, msg.indices, msg.seed, msg.start, msg.end, config, view1, view2);
    reply({ type: "done", id: msg.id, start: msg.start, view1, view2 }, [
      view1.buffer,
      view2.buffer,
    ]);
  } catch (e) {
    reply({ type: "error", id: msg.id, message: (e as Error).message });
  }
};
