// The feature cache: a failed write only warns, a round trip reads back, a changed key recomputes.
import assert from "node:assert/strict";
import { join } from "node:path";
import { cachedFeatures } from "./feature_cache.ts";

Deno.test("a feature cache that cannot be written warns and the features are still returned", async () => {
  const dir = await Deno.makeTempDir({ prefix: "simclr-cache-" });
  await Deno.writeTextFile(join(dir, "file"), "x");
  const lines: string[] = [];
  const key = { weights: "w", data: "d", limit: 0, nTrain: 1, nTest: 1, dim: 2, step: 3 };
  const f = await cachedFeatures(
    join(dir, "file", "features.bin"), // below a regular file: cannot be created
    key,
    () => Promise.resolve({ train: new Float32Array([1, 2]), test: new Float32Array([3, 4]) }),
    (l) => lines.push(l),
  );
  assert.deepEqual([...f.train, ...f.test], [1, 2, 3, 4]);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^warning: features not cached, writing .*features\.bin failed/);
  // Round trip: written once, then read back, and a changed key recomputes naming the field.
  const path = join(dir, "features.bin");
  const compute = () =>
    Promise.resolve({ train: new Float32Array([1, 2]), test: new Float32Array([3, 4]) });
  await cachedFeatures(path, key, compute, (l) => lines.push(l));
  const cached = await cachedFeatures(
    path,
    key,
    () => Promise.reject(new Error("no")),
    (l) => lines.push(l),
  );
  assert.deepEqual([...cached.train, ...cached.test], [1, 2, 3, 4]);
  assert.match(lines.at(-1)!, /features: cached/);
  await cachedFeatures(path, { ...key, data: "other" }, compute, (l) => lines.push(l));
  assert.match(lines.at(-1)!, /stale: data d ≠ other/);
  await Deno.remove(dir, { recursive: true });
});
