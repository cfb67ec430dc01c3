/**
 * One flag parser for every command (`train`, `evaluate`, `report`, `export`, `pack`, `verify`,
 * `bench`): a command declares its flags in a table (type, default, help, range or choices, an
 * optional validator) and gets typed values, the set of flags given, the `--help` text, and errors
 * that name the flag and say what was expected (`--limit must be an integer ≥ 0; got "0x10"`).
 * Built on `node:util`'s `parseArgs` (strict: unknown flags and positionals are refused).
 *
 * @module
 */
import { parseArgs } from "node:util";

/** A bad flag: the message names it and what was expected. Commands exit 2 on it. */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

/** One flag of a command. */
export interface FlagSpec {
  /**
   * `string`, `boolean`, `int` (plain decimal digits only: `0x10` and `1e0` are refused),
   * `number`, `list` (comma-separated strings) or `ints` (comma-separated integers).
   */
  type: "string" | "boolean" | "int" | "number" | "list" | "ints";
  /** Value when the flag is not given (none: the value is undefined). */
  default?: string | number | boolean | readonly string[] | readonly number[];
  /** One line of `--help`. */
  help: string;
  /** Placeholder after the flag in `--help` (default: the choices, or `N`, `LIST`, `VALUE`). */
  arg?: string;
  /** The default as `--help` shows it, when the value itself is not what to show. */
  defaultText?: string;
  /** Allowed values (of every item, for `list`). */
  choices?: readonly string[];
  /** Smallest value (of every item, for `ints`); exclusive when `exclusive`. */
  min?: number;
  /** Largest value; exclusive when `exclusive`. */
  max?: number;
  /** `min` and `max` are exclusive bounds. */
  exclusive?: boolean;
  /** One-letter alias. */
  short?: string;
  /** Further check of the parsed value: returns what was expected when it fails. */
  validate?: (value: never) => string | undefined;
}

/** A command's flags: flag name (as typed, without `--`) → spec. */
export type FlagTable = Readonly<Record<string, FlagSpec>>;

type Choice<S> = S extends { choices: readonly (infer C)[] } ? C : string;

/** The parsed type of one flag. */
export type FlagValue<S extends FlagSpec> = S["type"] extends "boolean" ? boolean
  : S["type"] extends "int" | "number" ? number
  : S["type"] extends "ints" ? number[]
  : S["type"] extends "list" ? Choice<S>[]
  : Choice<S>;

/** Parsed values: flags with a default (and booleans) always have one, the others may not. */
export type FlagValues<T extends FlagTable> = {
  -readonly [K in keyof T]: T[K] extends { default: unknown } ? FlagValue<T[K]>
    : T[K]["type"] extends "boolean" ? boolean
    : FlagValue<T[K]> | undefined;
};

/** What {@linkcode parseFlags} returns. */
export interface ParsedFlags<T extends FlagTable> {
  values: FlagValues<T>;
  /** The flags given on the command line (defaults do not count). */
  given: Set<keyof T & string>;
}

/** `an integer ≥ 2`, `a number > 0 and < 1`, … */
function expected(spec: FlagSpec): string {
  const what = spec.type === "int" || spec.type === "ints" ? "an integer" : "a number";
  const parts: string[] = [];
  if (spec.min !== undefined) parts.push(`${spec.exclusive ? ">" : "≥"} ${spec.min}`);
  if (spec.max !== undefined) parts.push(`${spec.exclusive ? "<" : "≤"} ${spec.max}`);
  return parts.length ? `${what} ${parts.join(" and ")}` : what;
}

function choiceText(choices: readonly string[]): string {
  return choices.length === 1 ? choices[0] : `one of ${choices.join(", ")}`;
}

function parseNumber(flag: string, spec: FlagSpec, text: string): number {
  const v = Number(text);
  // Integers in plain decimal only: Number() would also take "0x2" and "1e0".
  const bad = !Number.isFinite(v) || text.trim() === "" ||
    ((spec.type === "int" || spec.type === "ints") && !/^\s*\d+\s*$/.test(text)) ||
    (spec.min !== undefined && (spec.exclusive ? v <= spec.min : v < spec.min)) ||
    (spec.max !== undefined && (spec.exclusive ? v >= spec.max : v > spec.max));
  if (bad) throw new FlagError(`--${flag} must be ${expected(spec)}; got "${text}"`);
  return v;
}

function parseValue(flag: string, spec: FlagSpec, raw: string | boolean): unknown {
  if (spec.type === "boolean") return raw;
  const text = String(raw);
  const choose = (item: string) => {
    if (spec.choices && !spec.choices.includes(item)) {
      throw new FlagError(`--${flag} must be ${choiceText(spec.choices)}; got "${item}"`);
    }
    return item;
  };
  switch (spec.type) {
    case "int":
    case "number":
      return parseNumber(flag, spec, text);
    case "ints":
      return text.split(",").map((item) => parseNumber(flag, spec, item));
    case "list":
      return text.split(",").map(choose);
    default:
      return choose(text);
  }
}

function options(table: FlagTable) {
  const out: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const [flag, spec] of Object.entries(table)) {
    out[flag] = { type: spec.type === "boolean" ? "boolean" : "string" };
    if (spec.short) out[flag].short = spec.short;
  }
  return out;
}

/**
 * Parses `args` against `table`; `"help"` when `--help` (or `-h`) is given. Throws
 * {@linkcode FlagError} for an unknown flag, a missing value, a value out of range or not among
 * the choices, or one its validator refuses.
 */
export function parseFlags<const T extends FlagTable>(
  table: T,
  args: readonly string[],
): ParsedFlags<T> | "help" {
  let raw: Record<string, string | boolean | undefined>;
  try {
    raw = parseArgs({
      args: [...args],
      options: options(table),
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new FlagError(`${(e as Error).message}\nRun with --help for the list of flags.`);
  }
  if (raw.help) return "help";
  const values: Record<string, unknown> = {};
  const given = new Set<keyof T & string>();
  for (const [flag, spec] of Object.entries(table)) {
    const r = raw[flag];
    if (r === undefined) {
      values[flag] = Array.isArray(spec.default)
        ? [...spec.default]
        : spec.default ?? (spec.type === "boolean" ? false : undefined);
      continue;
    }
    given.add(flag as keyof T & string);
    const value = parseValue(flag, spec, r);
    const problem = spec.validate?.(value as never);
    if (problem !== undefined) {
      throw new FlagError(`--${flag} must be ${problem}; got "${r}"`);
    }
    values[flag] = value;
  }
  return { values: values as FlagValues<T>, given };
}

/** How a flag is written in `--help`: `--batch-size N`, `--loss ntxent|cosine`, `--resume`. */
function synopsis(flag: string, spec: FlagSpec): string {
  if (spec.type === "boolean") return `--${flag}`;
  const arg = spec.arg ??
    (spec.choices && spec.type !== "list"
      ? spec.choices.join("|")
      : spec.type === "list" || spec.type === "ints"
      ? "LIST"
      : spec.type === "string"
      ? "VALUE"
      : "N");
  return `--${flag} ${arg}`;
}

/** Options of {@linkcode flagHelp}. */
export interface HelpOptions {
  /** First line, e.g. `usage: deno task train [flags]`. */
  usage: string;
  /** Lines after the flags. */
  footer?: string;
  /** Column of the help texts (default: the longest synopsis plus two). */
  column?: number;
}

/** The `--help` text: the usage line, then one line per flag with its default, then `--help`. */
export function flagHelp(table: FlagTable, opts: HelpOptions): string {
  const rows = Object.entries(table).map(([flag, spec]) => {
    const shown = spec.defaultText ??
      (spec.default === undefined || spec.default === "" || spec.type === "boolean"
        ? undefined
        : String(spec.default));
    return [synopsis(flag, spec), spec.help + (shown === undefined ? "" : ` (default: ${shown})`)];
  });
  rows.push(["--help", "this text"]);
  const column = opts.column ?? Math.max(...rows.map(([s]) => s.length)) + 1;
  return [
    opts.usage,
    "",
    ...rows.map(([s, help]) => `  ${s.padEnd(column)} ${help}`),
    ...(opts.footer ? ["", opts.footer] : []),
  ].join("\n");
}

/** Options of {@linkcode commandFlags}. */
export interface CommandFlagOptions<T extends FlagTable> extends HelpOptions {
  /** Checks across flags, after parsing; throws {@linkcode FlagError} to refuse. */
  check?: (values: FlagValues<T>, given: Set<keyof T & string>) => void;
}

/**
 * A command's flags from `args`, or its exit code: `--help` prints the help text to stdout (0);
 * a bad flag prints `COMMAND: message` to stderr (2).
 */
export function commandFlags<const T extends FlagTable>(
  command: string,
  table: T,
  args: readonly string[],
  opts: CommandFlagOptions<T>,
): ParsedFlags<T> | number {
  try {
    const parsed = parseFlags(table, args);
    if (parsed === "help") {
      console.log(flagHelp(table, opts));
      return 0;
    }
    opts.check?.(parsed.values, parsed.given);
    return parsed;
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    console.error(`${command}: ${e.message}`);
    return 2;
  }
}
