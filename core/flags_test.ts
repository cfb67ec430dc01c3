import assert from "node:assert/strict";
import { commandFlags, FlagError, flagHelp, parseFlags } from "./flags.ts";

const TABLE = {
  run: { type: "string", arg: "DIR", help: "run folder" },
  limit: { type: "int", default: 0, min: 0, help: "images" },
  scale: { type: "number", default: 0.08, min: 0, max: 1, exclusive: true, help: "crop" },
  probe: { type: "string", default: "logistic", choices: ["logistic", "svm"], help: "kind" },
  format: { type: "string", default: "safetensors", choices: ["safetensors"], help: "format" },
  models: {
    type: "list",
    default: ["simple", "small"],
    choices: ["simple", "small", "resnet18"],
    help: "models",
  },
  seeds: { type: "ints", default: [0], min: 0, help: "seeds" },
  even: {
    type: "int",
    default: 2,
    help: "an even count",
    validate: (n: number) => (n % 2 === 0 ? undefined : "an even integer"),
  },
  quick: { type: "boolean", help: "smaller" },
} as const;

const fails = (args: string[], pattern: RegExp) =>
  assert.throws(() => parseFlags(TABLE, args), (e: Error) => {
    assert.ok(e instanceof FlagError, String(e));
    assert.match(e.message, pattern);
    return true;
  });

Deno.test("parseFlags: defaults, typed values and the flags given", () => {
  const none = parseFlags(TABLE, []);
  assert.notEqual(none, "help");
  if (none === "help") return;
  assert.deepEqual(none.values, {
    run: undefined,
    limit: 0,
    scale: 0.08,
    probe: "logistic",
    format: "safetensors",
    models: ["simple", "small"],
    seeds: [0],
    even: 2,
    quick: false,
  });
  assert.equal(none.given.size, 0);
  const some = parseFlags(TABLE, [
    "--run=a",
    "--limit",
    " 7",
    "--scale=0.5",
    "--models=resnet18,simple",
    "--seeds=3,1",
    "--quick",
  ]);
  if (some === "help") throw new Error("help");
  assert.equal(some.values.run, "a");
  assert.equal(some.values.limit, 7);
  assert.equal(some.values.scale, 0.5);
  assert.deepEqual(some.values.models, ["resnet18", "simple"]);
  assert.deepEqual(some.values.seeds, [3, 1]);
  assert.equal(some.values.quick, true);
  assert.deepEqual([...some.given].sort(), ["limit", "models", "quick", "run", "scale", "seeds"]);
  assert.equal(parseFlags(TABLE, ["--limit=x", "--help"]), "help");
  assert.equal(parseFlags(TABLE, ["-h"]), "help");
});

Deno.test("parseFlags: errors name the flag, what was expected and what was given", () => {
  fails(["--limit=0x10"], /^--limit must be an integer ≥ 0; got "0x10"$/);
  fails(["--limit=1e0"], /--limit must be an integer ≥ 0; got "1e0"/);
  fails(["--limit=-1"], /--limit must be an integer ≥ 0; got "-1"/);
  fails(["--scale=1"], /--scale must be a number > 0 and < 1; got "1"/);
  fails(["--scale="], /--scale must be a number > 0 and < 1; got ""/);
  fails(["--probe=tree"], /--probe must be one of logistic, svm; got "tree"/);
  fails(["--format=onnx"], /--format must be safetensors; got "onnx"/);
  fails(["--models=small,vgg"], /--models must be one of simple, small, resnet18; got "vgg"/);
  fails(["--seeds=1,x"], /--seeds must be an integer ≥ 0; got "x"/);
  fails(["--even=3"], /--even must be an even integer; got "3"/);
  fails(["--bogus"], /Unknown option '--bogus'[^]*Run with --help/);
  fails(["--run"], /--run/);
  fails(["stray"], /positional/i);
});

Deno.test("flagHelp: one line per flag with its placeholder and default, then --help", () => {
  const help = flagHelp(TABLE, { usage: "usage: x [flags]", footer: "bye" });
  const lines = help.split("\n");
  assert.equal(lines[0], "usage: x [flags]");
  assert.equal(lines[1], "");
  assert.match(help, /\n {2}--run DIR +run folder\n/);
  assert.match(help, /\n {2}--limit N +images \(default: 0\)\n/);
  assert.match(help, /\n {2}--probe logistic\|svm +kind \(default: logistic\)\n/);
  assert.match(help, /\n {2}--models LIST +models \(default: simple,small\)\n/);
  assert.match(help, /\n {2}--quick +smaller\n/);
  assert.match(help, /\n {2}--help +this text\n\nbye$/);
  // Every help text starts in the same column.
  const flagLines = lines.filter((l) => l.startsWith("  --"));
  const columns = new Set(flagLines.map((l) => l.match(/^ {2}--\S+(?: \S+)? +/)![0].length));
  assert.equal(columns.size, 1, flagLines.join("\n"));
});

Deno.test("commandFlags: --help prints and returns 0; a bad flag or a failed check returns 2", () => {
  const logged: string[] = [], errors: string[] = [];
  const log = console.log, error = console.error;
  console.log = (s: string) => logged.push(s);
  console.error = (s: string) => errors.push(s);
  try {
    const opts = {
      usage: "usage: x",
      check: (v: { run?: string }) => {
        if (!v.run) throw new FlagError("--run DIR is required");
      },
    };
    assert.equal(commandFlags("x", TABLE, ["--help"], opts), 0);
    assert.match(logged[0], /^usage: x\n/);
    assert.equal(commandFlags("x", TABLE, ["--limit=a"], opts), 2);
    assert.match(errors[0], /^x: --limit must be an integer ≥ 0; got "a"/);
    assert.equal(commandFlags("x", TABLE, [], opts), 2);
    assert.equal(errors[1], "x: --run DIR is required");
    const ok = commandFlags("x", TABLE, ["--run=r"], opts);
    assert.ok(typeof ok === "object" && ok.values.run === "r");
  } finally {
    console.log = log;
    console.error = error;
  }
});
