/**
 * A terminal progress bar for long work (epochs, downloads, evaluation passes).
 *
 * On an interactive terminal it redraws one line in place with `\r`; otherwise (CI logs, files,
 * pipes) it prints a plain line at most every 10 % of the work or every 5 seconds, so logs stay
 * short but a stalled job is still visible.
 *
 * @module
 */

/** Anything with a synchronous byte write, such as `Deno.stderr` or a test double. */
export interface ByteSink {
  /** Writes some prefix of `bytes` and returns how many bytes were written. */
  writeSync(bytes: Uint8Array): number;
}

/** Options of {@linkcode ProgressBar}. */
export interface ProgressBarOptions {
  /** Amount of work at completion; 0 or less means unknown (no bar, percentage or ETA). */
  total: number;
  /** Text at the start of every line, e.g. `"epoch 3/20"`. */
  label: string;
  /** Where to write; defaults to `Deno.stderr`. */
  stream?: ByteSink;
  /** Characters inside the brackets of the bar; default 20. */
  width?: number;
  /**
   * Redraw one line in place (`true`) or print plain lines (`false`). Defaults to
   * `Deno.stderr.isTerminal()` when `stream` is not given, and to `false` for a custom stream.
   */
  interactive?: boolean;
  /** How `done` and `total` are shown: plain counts or byte sizes (KiB/MiB/GiB). Default counts. */
  unit?: "count" | "bytes";
  /** Clock in milliseconds, for tests; defaults to `performance.now`. */
  now?: () => number;
}

/** Extra `name value` pairs shown after the percentage, e.g. `{ loss: 4.21, "img/s": 143 }`. */
export type ProgressFields = Record<string, string | number>;

/** Least time between two redraws of an interactive line, so a fast loop does not flood the tty. */
const INTERACTIVE_MIN_INTERVAL_MS = 100;
/** Longest time between two plain log lines while work goes on. */
const PLAIN_MAX_INTERVAL_MS = 5000;
/** Plain log lines are printed each time another 1/PLAIN_STEPS of the total is crossed. */
const PLAIN_STEPS = 10;

const encoder = new TextEncoder();

/**
 * Formats a duration as `m:ss`, or `h:mm:ss` from one hour on; `"?"` when not finite or negative.
 *
 * @example formatDuration(41) === "0:41"; formatDuration(3723) === "1:02:03"
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  if (h > 0) return `${h}:${String(m).padStart(2, "0")}:${ss}`;
  return `${m}:${ss}`;
}

/** Formats a byte count with a binary unit, e.g. `162.6 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Shows a field value briefly: integers as they are, other numbers with about 3 significant digits. */
function formatFieldValue(value: string | number): string {
  if (typeof value === "string") return value;
  if (!Number.isFinite(value) || Number.isInteger(value)) return String(value);
  const a = Math.abs(value);
  if (a >= 100) return value.toFixed(0);
  if (a >= 10) return value.toFixed(1);
  if (a >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

/**
 * A one-line progress bar with percentage, extra fields and an ETA estimated from the elapsed time
 * per unit of work done so far.
 *
 * ```ts
 * const bar = new ProgressBar({ total: 195, label: "epoch 3/20" });
 * for (let i = 1; i <= 195; i++) bar.update(i, { loss: 4.21, "img/s": 143 });
 * bar.finish();
 * // epoch 3/20 [##########..........] 120/195  61% loss 4.21 img/s 143 ETA 0:41
 * ```
 */
export class ProgressBar {
  readonly #total: number;
  readonly #label: string;
  readonly #stream: ByteSink;
  readonly #width: number;
  readonly #interactive: boolean;
  readonly #unit: "count" | "bytes";
  readonly #now: () => number;
  readonly #start: number;
  #lastDrawMs: number;
  /** Index of the next 10 % step that prints a plain line (integer, to avoid 3 * 0.1 > 0.3). */
  #nextPlainStep = 1;
  #finished = false;
  #done = 0;
  #fields: ProgressFields = {};

  /** Starts the clock; nothing is written until the first {@linkcode update}. */
  constructor(opts: ProgressBarOptions) {
    if (!Number.isFinite(opts.total)) {
      throw new RangeError(`ProgressBar: total must be a finite number, got ${opts.total}`);
    }
    const width = opts.width ?? 20;
    if (!Number.isInteger(width) || width < 1) {
      throw new RangeError(`ProgressBar: width must be a positive integer, got ${width}`);
    }
    this.#total = opts.total;
    this.#label = opts.label;
    this.#width = width;
    this.#unit = opts.unit ?? "count";
    this.#now = opts.now ?? (() => performance.now());
    if (opts.stream) {
      this.#stream = opts.stream;
      this.#interactive = opts.interactive ?? false;
    } else {
      this.#stream = Deno.stderr;
      this.#interactive = opts.interactive ?? Deno.stderr.isTerminal();
    }
    this.#start = this.#now();
    // Plain mode: the first line comes after one step or 5 s; interactive: at the first update.
    this.#lastDrawMs = this.#interactive ? -Infinity : this.#start;
  }

  /** Seconds since construction. */
  get elapsedSeconds(): number {
    return (this.#now() - this.#start) / 1000;
  }

  /**
   * Records that `done` units are complete and redraws when due: interactive at most every 100 ms,
   * plain when another 10 % of the total is crossed or 5 s have passed since the last line.
   * `fields` replace the previously shown fields when given.
   */
  update(done: number, fields?: ProgressFields): void {
    if (this.#finished) return;
    this.#done = done;
    if (fields) this.#fields = fields;
    const now = this.#now();
    if (this.#interactive) {
      if (now - this.#lastDrawMs < INTERACTIVE_MIN_INTERVAL_MS) return;
      this.#lastDrawMs = now;
      this.#write(`\r${this.render(now)}\x1b[K`);
      return;
    }
    const step = this.#total > 0 ? Math.floor((done * PLAIN_STEPS) / this.#total) : 0;
    const stepCrossed = this.#total > 0 && step >= this.#nextPlainStep;
    const stale = now - this.#lastDrawMs >= PLAIN_MAX_INTERVAL_MS;
    if (!stepCrossed && !stale) return;
    // Skip steps already passed so one big jump prints one line, not several.
    if (stepCrossed) this.#nextPlainStep = step + 1;
    // A line at 100 % would duplicate the one finish() prints.
    if (this.#total > 0 && done >= this.#total) return;
    this.#lastDrawMs = now;
    this.#write(`${this.render(now)}\n`);
  }

  /**
   * Marks the work complete (done = total, unless total is unknown) and prints the final line with
   * the elapsed time in place of the ETA, ending the line. Later calls do nothing.
   */
  finish(fields?: ProgressFields): void {
    if (this.#finished) return;
    if (fields) this.#fields = fields;
    if (this.#total > 0) this.#done = Math.max(this.#done, this.#total);
    const line = this.render(this.#now(), true);
    this.#finished = true;
    this.#write(this.#interactive ? `\r${line}\x1b[K\n` : `${line}\n`);
  }

  /** The current line without control characters; `final` shows elapsed time instead of the ETA. */
  render(nowMs: number = this.#now(), final = false): string {
    const parts = [this.#label];
    const done = this.#done;
    const total = this.#total;
    const show = (n: number) => this.#unit === "bytes" ? formatBytes(n) : String(n);
    if (total > 0) {
      const fraction = Math.min(1, Math.max(0, done / total));
      const filled = Math.floor(fraction * this.#width);
      parts.push(`[${"#".repeat(filled)}${".".repeat(this.#width - filled)}]`);
      parts.push(`${show(done)}/${show(total)}`);
      parts.push(`${String(Math.floor(fraction * 100)).padStart(3)}%`);
    } else {
      parts.push(show(done));
    }
    for (const [name, value] of Object.entries(this.#fields)) {
      parts.push(`${name} ${formatFieldValue(value)}`);
    }
    const elapsed = (nowMs - this.#start) / 1000;
    if (final) {
      parts.push(`in ${formatDuration(elapsed)}`);
    } else if (total > 0) {
      const eta = done > 0 ? elapsed / done * Math.max(0, total - done) : NaN;
      parts.push(`ETA ${formatDuration(eta)}`);
    } else {
      parts.push(formatDuration(elapsed));
    }
    return parts.join(" ");
  }

  #write(text: string): void {
    const bytes = encoder.encode(text);
    let offset = 0;
    while (offset < bytes.length) offset += this.#stream.writeSync(bytes.subarray(offset));
  }
}
