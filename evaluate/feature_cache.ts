/**
 * The evaluation's feature cache: features of a checkpoint saved beside it, keyed by the weights
 * hash, the data identity, `--limit` and the shapes, so a stale cache is recomputed.
 *
 * @module
 */
import { sha256Hex, writeFileAtomic } from "@simclr/core";

/** What cached features belong to: a change in any field means they are stale. */
export interface FeatureKey {
  /** `weightsHash` (`@simclr/train`) of the checkpoint. */
  weights: string;
  /** SHA-256 of the images and labels encoded. */
  data: string;
  /** `--limit` of the evaluation. */
  limit: number;
  nTrain: number;
  nTest: number;
  dim: number;
  step: number;
}

const FEATURE_MAGIC = "SIMCLRF2";

/** SHA-256 (hex) of the encoded images and their labels: the data's identity. */
export async function dataIdentity(parts: Uint8Array[]): Promise<string> {
  return await sha256Hex(parts);
}

/**
 * Features cached as `SIMCLRF2`, a uint32 header length, the JSON {@linkcode FeatureKey}, zero
 * padding to 4 bytes, then float32 rows (train, then test). A cache for other weights, data,
 * `--limit` or shapes is recomputed, with the reason printed; failing to write it only warns.
 */
export async function cachedFeatures(
  path: string,
  key: FeatureKey,
  compute: () => Promise<{ train: Float32Array; test: Float32Array }>,
  log: (line: string) => void = console.error,
): Promise<{ train: Float32Array; test: Float32Array }> {
  const floats = key.dim * (key.nTrain + key.nTest);
  let reason = "";
  try {
    const bytes = await Deno.readFile(path);
    const magic = new TextDecoder().decode(bytes.subarray(0, 8));
    if (magic !== FEATURE_MAGIC) {
      reason = "it is in an older format without a weights hash";
    } else {
      const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
      const saved = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length)));
      const differ = (Object.keys(key) as (keyof FeatureKey)[]).filter((k) => saved[k] !== key[k]);
      const start = Math.ceil((12 + length) / 4) * 4;
      if (differ.length) {
        const name = (k: keyof FeatureKey) =>
          k === "weights" ? "checkpoint weights" : k === "data" ? "data" : k;
        const short = (v: unknown) => typeof v === "string" ? v.slice(0, 12) : String(v);
        reason = differ.map((k) => `${name(k)} ${short(saved[k])} ≠ ${short(key[k])}`).join(", ");
      } else if (bytes.length !== start + 4 * floats) {
        reason = `it is truncated (${bytes.length} bytes, expected ${start + 4 * floats})`;
      } else {
        const all = new Float32Array(bytes.slice(start).buffer);
        log(`features: cached ${path}`);
        return {
          train: all.slice(0, key.nTrain * key.dim),
          test: all.slice(key.nTrain * key.dim),
        };
      }
    }
  } catch (e) {
    const absent = e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory;
    if (!absent) reason = `it is unreadable (${(e as Error).message})`;
  }
  if (reason) log(`features: recomputing, the cache ${path} is stale: ${reason}`);
  const f = await compute();
  const header = new TextEncoder().encode(JSON.stringify(key));
  const start = Math.ceil((12 + header.length) / 4) * 4;
  const bytes = start + 4 * (f.train.length + f.test.length);
  if (bytes > 1 << 30) {
    log(`features: ${(bytes / 2 ** 30).toFixed(1)} GiB is too large to cache; not cached`);
    return f;
  }
  const out = new Uint8Array(bytes);
  out.set(new TextEncoder().encode(FEATURE_MAGIC), 0);
  new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, 12);
  new Float32Array(out.buffer, start, f.train.length).set(f.train);
  new Float32Array(out.buffer, start + 4 * f.train.length).set(f.test);
  try {
    await writeFileAtomic(path, out);
  } catch (e) {
    // The cache only saves time; the evaluation itself goes on.
    log(`warning: features not cached, writing ${path} failed: ${(e as Error).message}`);
  }
  return f;
}
