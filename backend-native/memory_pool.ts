/**
 * The native backend's tensors and memory pool: library blocks recycled by exact byte size, with
 * the counters behind {@linkcode NativeBackend.memoryStats}.
 *
 * A training step frees and reallocates the same shapes every step, and fresh pages from the OS
 * cost a page fault each, so freed blocks are kept for reuse up to a limit.
 *
 * @module
 */

import type { DeviceTensor, Shape } from "@simclr/core";
import type { NativeLib } from "./ffi.ts";
import type { NativeBackend } from "./native_backend.ts";

/** A block of library memory, with a JS view on it (valid until the block is freed). */
export interface Block {
  /** Start of the block in library memory. */
  readonly ptr: Deno.PointerObject;
  /** Size of the block in bytes (a multiple of 64). */
  readonly bytes: number;
  /** The whole block as floats. */
  readonly view: Float32Array;
}

/** Memory counters of a {@linkcode BlockPool}; see {@linkcode NativeBackend.memoryStats}. */
export interface MemoryStats {
  /** Blocks obtained from the system allocator so far. */
  systemAllocations: number;
  /** Bytes held now (live tensors plus cache). */
  systemBytes: number;
  /** Bytes of freed blocks held for reuse. */
  cachedBytes: number;
  /** Most bytes live tensors ever held at once. */
  peakLiveBytes: number;
}

/**
 * Freed blocks by byte size, reused before asking the library for memory. The cache may grow to
 * the peak of live bytes plus `cacheLimit`; a release beyond that empties it first.
 */
export class BlockPool {
  readonly #f: Pick<NativeLib, "nb_alloc" | "nb_free">;
  readonly #fail: (kernel: string, message: string) => never;
  /** Freed blocks by byte size, reused before asking the library for memory. */
  readonly #free = new Map<number, Block[]>();
  #cachedBytes = 0;
  #systemAllocations = 0;
  #systemBytes = 0;
  /** Most bytes ever held by live tensors at once. */
  #peakLiveBytes = 0;
  readonly #cacheLimit: number;
  #closed = false;

  /**
   * A pool over the library's `nb_alloc`/`nb_free`, keeping up to `cacheLimit` bytes beyond the
   * live peak; `fail` throws the backend's errors.
   */
  constructor(
    f: Pick<NativeLib, "nb_alloc" | "nb_free">,
    cacheLimit: number,
    fail: (kernel: string, message: string) => never,
  ) {
    this.#f = f;
    this.#cacheLimit = cacheLimit;
    this.#fail = fail;
  }

  /** Bytes of freed memory held for reuse. */
  get cachedBytes(): number {
    return this.#cachedBytes;
  }

  /** The memory counters now. */
  stats(): MemoryStats {
    return {
      systemAllocations: this.#systemAllocations,
      systemBytes: this.#systemBytes,
      cachedBytes: this.#cachedBytes,
      peakLiveBytes: this.#peakLiveBytes,
    };
  }

  /** A block of `bytes` bytes: a cached one of that size, else a fresh one from the library. */
  acquire(bytes: number): Block {
    let block = this.#free.get(bytes)?.pop();
    if (block) {
      this.#cachedBytes -= bytes;
    } else {
      if (this.#closed) this.#fail("alloc", "the backend was closed");
      const ptr = this.#f.nb_alloc(bytes / 4);
      if (ptr === null) {
        this.#fail("alloc", `out of memory allocating ${bytes} bytes`);
      }
      this.#systemAllocations++;
      this.#systemBytes += bytes;
      block = {
        ptr,
        bytes,
        view: new Float32Array(
          Deno.UnsafePointerView.getArrayBuffer(ptr, bytes),
        ),
      };
    }
    const liveBytes = this.#systemBytes - this.#cachedBytes;
    if (liveBytes > this.#peakLiveBytes) this.#peakLiveBytes = liveBytes;
    return block;
  }

  /** Takes back a block no longer used, to cache or free it; ignored once closed. */
  release(block: Block): void {
    if (this.#closed) return; // the library (and its free) is gone
    // Memory that live tensors held at once is evidently needed again by the next step of the
    // same shapes (plus some slack: at the peak, freed blocks of other sizes sit in the cache),
    // so the cache may grow to that peak plus the allowance. Beyond it (shapes keep changing),
    // the stale blocks go back to the system all at once.
    const limit = this.#peakLiveBytes + this.#cacheLimit;
    if (this.#cachedBytes + block.bytes > limit) {
      this.trim();
      if (block.bytes > limit) {
        this.#systemFree(block);
        return;
      }
    }
    const list = this.#free.get(block.bytes);
    if (list) list.push(block);
    else this.#free.set(block.bytes, [block]);
    this.#cachedBytes += block.bytes;
  }

  /** Returns every cached (freed) block to the system. Blocks in use are untouched. */
  trim(): void {
    for (const blocks of this.#free.values()) {
      for (const b of blocks) this.#systemFree(b);
    }
    this.#free.clear();
    this.#cachedBytes = 0;
  }

  /** Empties the cache before the library unloads; later releases are ignored. */
  close(): void {
    this.trim();
    this.#closed = true;
  }

  #systemFree(block: Block): void {
    this.#f.nb_free(block.ptr);
    this.#systemBytes -= block.bytes;
  }
}

/** A native tensor: its shape, element count and memory block. */
export class NativeTensor implements DeviceTensor {
  /** Set by `dispose`; a disposed tensor is refused by every kernel. */
  disposed = false;
  /** A tensor of `owner` with `size` elements of `shape` in `block`. */
  constructor(
    readonly owner: NativeBackend,
    readonly shape: Shape,
    readonly size: number,
    readonly block: Block,
  ) {}
  /** Start of the tensor's memory. */
  get ptr(): Deno.PointerObject {
    return this.block.ptr;
  }
}
