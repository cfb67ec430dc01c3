/**
 * SHA-256 as lowercase hex, over one buffer or several in order: the one hash the checkpoint's
 * weights key, the feature cache's data identity and the native library manifest use.
 *
 * @module
 */

/** SHA-256 (hex) of `data`, or of the concatenation of `data`'s parts; a string is UTF-8. */
export async function sha256Hex(
  data: string | Uint8Array | readonly Uint8Array[],
): Promise<string> {
  let bytes: Uint8Array;
  if (typeof data === "string") bytes = new TextEncoder().encode(data);
  else if (data instanceof Uint8Array) bytes = data;
  else {
    bytes = new Uint8Array(data.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of data) {
      bytes.set(p, at);
      at += p.length;
    }
  }
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
