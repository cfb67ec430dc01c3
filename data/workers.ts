/**
 * A pool of Web Workers that augments batches off the main thread, so data preparation never
 * starves the trainer. The dataset bytes are copied once into a SharedArrayBuffer that every
 * worker reads; each batch is split into contiguous slices, one a worker, and the views come back
 * as transferred buffers. Results equal {@linkcode makeViews} with the same seed for any worker
 * count, because every batch position has its own generator (see `augmentRange`).
 *
 * @module
 */

import {
  AUGMENT_IMAGE_SIZE,
  type AugmentConfig,
  resolveAugmentConfig,
  type ViewPair,
} from "./augment.ts";

const IMAGE_FLOATS = AUGMENT_IMAGE_SIZE * AUGMENT_IMAGE_SIZE * 3;

/** Messages from the pool to a worker (internal protocol, exported for the worker module). */
export type WorkerRequest =
  | { type: "init"; images: SharedArrayBuffer; config: AugmentConfig }
  | { type: "job"; id: number; indices: Int32Array; seed: number; start: number; end: number };

/** Messages from a worker to the pool (internal protocol, exported for the worker module). */
export type WorkerReply =
  | { type: "ready" }
  | { type: "done"; id: number; start: number; view1: Float32Array; view2: Float32Array }
  | { type: "error"; id: number; message: string };

/** Options of {@linkcode AugmentPool.create}. */
export interface AugmentPoolOptions {
  /** The dataset, NHWC uint8 (32×32×3 per image), e.g. `loadCifar10(...).train.images`. */
  images: Uint8Array;
  /** Number of workers; default one less than the logical CPU count, at least 1. */
  workers?: number;
  /** Augmentation settings; defaults as in {@linkcode DEFAULT_AUGMENT_CONFIG}. */
  config?: Partial<AugmentConfig>;
}

interface PendingBatch {
  view1: Float32Array;
  view2: Float32Array;
  partsLeft: number;
  resolve: (views: ViewPair) => void;
  reject: (error: Error) => void;
}

/** Default worker count: leave one core to the trainer. */
export function defaultWorkerCount(): number {
  return Math.max(1, (navigator.hardwareConcurrency ?? 2) - 1);
}

/** Worker pool producing SimCLR view pairs; see the module documentation. */
export class AugmentPool {
  readonly #workers: Worker[];
  readonly #imageCount: number;
  readonly #pending = new Map<number, PendingBatch>();
  #nextId = 0;
  #closed = false;
  #failure: Error | undefined;

  private constructor(workers: Worker[], imageCount: number) {
    this.#workers = workers;
    this.#imageCount = imageCount;
    for (const w of workers) {
      w.onmessage = (e: MessageEvent<WorkerReply>) => this.#onReply(e.data);
      w.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        this.#fail(new Error(`augment worker crashed: ${e.message}`));
      };
    }
  }

  /**
   * Copies `images` once into shared memory and starts the workers; resolves when all are ready.
   * Throws on a bad config or worker count, or if a worker fails to start.
   */
  static async create(opts: AugmentPoolOptions): Promise<AugmentPool> {
    const config = resolveAugmentConfig(opts.config ?? {});
    const count = opts.workers ?? defaultWorkerCount();
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`AugmentPool: workers must be a positive integer, got ${count}`);
    }
    if (opts.images.length % IMAGE_FLOATS !== 0) {
      throw new RangeError(
        `AugmentPool: images hold ${opts.images.length} bytes, not a multiple of ${IMAGE_FLOATS}`,
      );
    }
    const shared = new SharedArrayBuffer(opts.images.length);
    new Uint8Array(shared).set(opts.images);
    const workers: Worker[] = [];
    try {
      const ready: Promise<void>[] = [];
      for (let i = 0; i < count; i++) {
        const worker = new Worker(new URL("./augment_worker.ts", import.meta.url), {
          type: "module",
        });
        workers.push(worker);
        ready.push(
          new Promise<void>((resolve, reject) => {
            worker.onmessage = (e: MessageEvent<WorkerReply>) => {
              if (e.data.type === "ready") resolve();
              else if (e.data.type === "error") reject(new Error(e.data.message));
            };
            worker.onerror = (e: ErrorEvent) => {
              e.preventDefault();
              reject(new Error(`augment worker failed to start: ${e.message}`));
            };
          }),
        );
        const init: WorkerRequest = { type: "init", images: shared, config };
        worker.postMessage(init);
      }
      await Promise.all(ready);
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return new AugmentPool(workers, opts.images.length / IMAGE_FLOATS);
  }

  /** Number of workers. */
  get size(): number {
    return this.#workers.length;
  }

  /**
   * Starts augmenting the batch `indices` (positions into the dataset) and resolves with its two
   * normalised NHWC views, equal to `makeViews(images, indices, seed, config)`. Several batches
   * may be in flight at once; each worker handles its slices in order.
   */
  prefetch(indices: Int32Array, seed: number): Promise<ViewPair> {
    if (this.#closed) return Promise.reject(new Error("AugmentPool: prefetch after close()"));
    if (this.#failure) return Promise.reject(this.#failure);
    for (let p = 0; p < indices.length; p++) {
      const index = indices[p];
      if (!(index >= 0 && index < this.#imageCount)) {
        return Promise.reject(
          new RangeError(
            `AugmentPool: index ${index} at batch position ${p} is outside 0..${
              this.#imageCount - 1
            }`,
          ),
        );
      }
    }
    const n = indices.length;
    const view1 = new Float32Array(n * IMAGE_FLOATS);
    const view2 = new Float32Array(n * IMAGE_FLOATS);
    if (n === 0) return Promise.resolve({ view1, view2 });
    const parts = Math.min(this.#workers.length, n);
    const id = this.#nextId++;
    return new Promise<ViewPair>((resolve, reject) => {
      this.#pending.set(id, { view1, view2, partsLeft: parts, resolve, reject });
      for (let k = 0; k < parts; k++) {
        const job: WorkerRequest = {
          type: "job",
          id,
          indices,
          seed,
          start: Math.floor((k * n) / parts),
          end: Math.floor(((k + 1) * n) / parts),
        };
        this.#workers[k].postMessage(job);
      }
    });
  }

  /** Terminates the workers; batches still in flight are rejected. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#workers) w.terminate();
    const error = new Error("AugmentPool closed while a batch was in flight");
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }

  #onReply(msg: WorkerReply): void {
    if (msg.type === "ready") return;
    const batch = this.#pending.get(msg.id);
    if (!batch) return; // already rejected
    if (msg.type === "error") {
      this.#pending.delete(msg.id);
      batch.reject(new Error(`augment worker: ${msg.message}`));
      return;
    }
    batch.view1.set(msg.view1, msg.start * IMAGE_FLOATS);
    batch.view2.set(msg.view2, msg.start * IMAGE_FLOATS);
    if (--batch.partsLeft === 0) {
      this.#pending.delete(msg.id);
      batch.resolve({ view1: batch.view1, view2: batch.view2 });
    }
  }

  #fail(error: Error): void {
    this.#failure = error;
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }
}
