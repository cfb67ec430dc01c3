/**
 * Reverse-mode autograd over any {@linkcode Backend}, small enough to read in one sitting.
 *
 * A {@linkcode Tensor} wraps a device tensor and remembers, when it needs a gradient, the tensors
 * it was made from and a function mapping its output gradient to theirs. {@linkcode Graph.backward}
 * walks that record in reverse topological order. Backward passes run with recording switched off,
 * so they build no graph of their own.
 *
 * Device memory is owned by scopes: every tensor made inside {@linkcode Graph.tidy} is disposed
 * when it ends, except what the callback returns or what is {@linkcode Graph.keep}-ed (parameters,
 * optimiser state). A training step therefore leaks nothing.
 *
 * @module
 */
import type { Backend, DeviceTensor, Shape } from "./backend.ts";
import { sizeOf } from "./backend.ts";

/** Maps the gradient of a tensor's output to the gradients of its inputs (null: no gradient). */
export type BackwardFn = (dy: Tensor) => (Tensor | null)[];

/** A device tensor with what autograd needs to know about how it was made. */
export class Tensor {
  /** The device memory; parameters get a new one on every optimiser step. */
  data: DeviceTensor;
  /** Whether gradients flow to or through this tensor. */
  readonly requiresGrad: boolean;
  /** The tensors this one was computed from (empty for leaves). */
  readonly inputs: readonly Tensor[];
  /** Gradient rule; absent for leaves and for tensors that need no gradient. */
  readonly backwardFn?: BackwardFn;

  constructor(
    readonly graph: Graph,
    data: DeviceTensor,
    requiresGrad: boolean,
    inputs: readonly Tensor[] = [],
    backwardFn?: BackwardFn,
  ) {
    this.data = data;
    this.requiresGrad = requiresGrad;
    this.inputs = inputs;
    this.backwardFn = backwardFn;
  }

  /** The shape of the device tensor. */
  get shape(): Shape {
    return this.data.shape;
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.data.shape);
  }

  /** Copies the values to the host. */
  read(): Promise<Float32Array> {
    return this.graph.backend.read(this.data);
  }

  /** Reads a one-element tensor as a number. */
  async item(): Promise<number> {
    const v = await this.read();
    if (v.length !== 1) throw new Error(`item() needs one element, got shape [${this.shape}]`);
    return v[0];
  }
}

/**
 * Owns a backend, the scope stack and the recording switch. All ops reach the backend through
 * {@linkcode Graph.make}, which registers the result with the innermost scope.
 */
export class Graph {
  #scopes: Set<Tensor>[] = [];
  #recording = true;

  constructor(readonly backend: Backend) {}

  /**
   * Wraps a kernel result. Records `inputs` and `backward` only when recording is on and some
   * input needs a gradient; otherwise the result is a constant.
   */
  make(data: DeviceTensor, inputs: readonly Tensor[], backward?: BackwardFn): Tensor {
    const needs = this.#recording && backward !== undefined && inputs.some((t) => t.requiresGrad);
    const t = needs
      ? new Tensor(this, data, true, inputs, backward)
      : new Tensor(this, data, false);
    this.#scopes.at(-1)?.add(t);
    return t;
  }

  /** A constant from host data (no gradient). */
  constant(values: Float32Array | number[], shape: Shape): Tensor {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    if (data.length !== sizeOf(shape)) {
      throw new Error(`constant: ${data.length} values do not fill shape [${shape}]`);
    }
    return this.make(this.backend.upload(data, shape), []);
  }

  /** A scalar constant. */
  scalar(v: number): Tensor {
    return this.constant([v], []);
  }

  /** A leaf that gradients are taken with respect to (a parameter or an input under test). */
  variable(values: Float32Array, shape: Shape): Tensor {
    const t = new Tensor(this, this.backend.upload(values, shape), true);
    this.#scopes.at(-1)?.add(t);
    return t;
  }

  /**
   * A kept leaf that needs a gradient, taking over `t`'s device memory: how an optimiser turns a
   * freshly computed (constant) parameter value into the next step's parameter.
   */
  keepAsVariable(t: Tensor): Tensor {
    this.keep(t);
    return new Tensor(this, t.data, true);
  }

  /** Takes `t` out of every scope so it outlives them; the caller disposes it. */
  keep<T extends Tensor>(t: T): T {
    for (const s of this.#scopes) s.delete(t);
    return t;
  }

  /** Frees a tensor's device memory now. */
  dispose(t: Tensor): void {
    for (const s of this.#scopes) s.delete(t);
    this.backend.dispose(t.data);
  }

  /**
   * Runs `fn` in a scope: tensors made inside are disposed at the end, except those in its result
   * (a tensor, or an array or object of tensors, one level deep), which move to the outer scope.
   */
  async tidy<T>(fn: () => T | Promise<T>): Promise<T> {
    const scope = new Set<Tensor>();
    this.#scopes.push(scope);
    let result: T;
    try {
      result = await fn();
    } finally {
      this.#scopes.pop();
    }
    const kept = new Set<Tensor>(collectTensors(result));
    const outer = this.#scopes.at(-1);
    for (const t of scope) {
      if (kept.has(t)) outer?.add(t);
      else this.backend.dispose(t.data);
    }
    return result;
  }

  /** Runs `fn` without recording a graph (evaluation, optimiser updates, backward passes). */
  noGrad<T>(fn: () => T): T {
    const was = this.#recording;
    this.#recording = false;
    try {
      return fn();
    } finally {
      this.#recording = was;
    }
  }

  /**
   * Runs the synchronous `fn` in a scope like {@linkcode Graph.tidy}; also returns which of the
   * kept tensors were made inside it.
   */
  #scopedSync<T>(fn: () => T): { result: T; made: Set<Tensor> } {
    const scope = new Set<Tensor>();
    this.#scopes.push(scope);
    let result: T;
    try {
      result = fn();
    } finally {
      this.#scopes.pop();
    }
    const made = new Set<Tensor>();
    const kept = new Set<Tensor>(collectTensors(result));
    const outer = this.#scopes.at(-1);
    for (const t of scope) {
      if (kept.has(t)) {
        outer?.add(t);
        made.add(t);
      } else this.backend.dispose(t.data);
    }
    return { result, made };
  }

  /**
   * Gradients of the scalar `loss` with respect to each of `wrt`, in order. Tensors in `wrt`
   * that `loss` does not depend on get null.
   *
   * Memory: each gradient rule runs in its own scope, so its temporaries are freed at once, and a
   * tensor's gradient is freed as soon as it has been passed to its inputs. Peak memory is then
   * the forward activations plus a few gradients, not every intermediate of the backward pass.
   */
  backward(loss: Tensor, wrt: readonly Tensor[]): (Tensor | null)[] {
    if (loss.size !== 1) throw new Error(`backward needs a scalar loss, got [${loss.shape}]`);
    const order = topologicalOrder(loss);
    const requested = new Set(wrt);
    return this.noGrad(() => {
      const grads = new Map<Tensor, Tensor>();
      // Gradient tensors made here; only these are ever freed early (never forward tensors).
      const owned = new Set<Tensor>();
      const seed = this.constant(new Float32Array([1]), loss.shape);
      owned.add(seed);
      grads.set(loss, seed);
      const release = (t: Tensor) => {
        if (!owned.has(t)) return;
        for (const v of grads.values()) if (v === t) return; // still some tensor's gradient
        owned.delete(t);
        this.dispose(t);
      };
      for (let i = order.length - 1; i >= 0; i--) {
        const t = order[i];
        const dy = grads.get(t);
        if (!dy || !t.backwardFn) continue;
        const { result: dxs, made } = this.#scopedSync(() => t.backwardFn!(dy));
        for (const dx of made) owned.add(dx);
        const done: Tensor[] = [];
        t.inputs.forEach((input, j) => {
          const dx = dxs[j];
          if (!dx || !input.requiresGrad) return;
          const prev = grads.get(input);
          if (prev) {
            const sum = this.make(this.backend.binary("add", prev.data, dx.data), []);
            owned.add(sum);
            grads.set(input, sum);
            done.push(prev);
          } else {
            grads.set(input, dx);
          }
        });
        if (!requested.has(t)) {
          grads.delete(t);
          done.push(dy);
        }
        for (const dx of dxs) if (dx) done.push(dx);
        for (const x of new Set(done)) release(x);
      }
      return wrt.map((w) => grads.get(w) ?? null);
    });
  }
}

/** Tensors needing a gradient that `root` depends on, inputs before the tensors made from them. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: deep networks would overflow a recursive one only in theory, but this is cheap.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, next] = top;
    if (next < t.inputs.length) {
      top[1]++;
      const input = t.inputs[next];
      if (input.requiresGrad && !seen.has(input)) {
        seen.add(input);
        stack.push([input, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

function collectTensors(value: unknown): Tensor[] {
  if (value instanceof Tensor) return [value];
  if (Array.isArray(value)) return value.filter((v): v is Tensor => v instanceof Tensor);
  if (value && typeof value === "object") {
    return Object.values(value).filter((v): v is Tensor => v instanceof Tensor);
  }
  return [];
}
