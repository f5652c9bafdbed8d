// The weights hashes of ./hash.ts (Node, streamed from files) computed with Web Crypto from bytes
// already in memory: the same SHA-256 values for the same bytes, so a run's recorded weightsHash
// does not depend on where the encoder was built.

function subtle(): SubtleCrypto {
  const s = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  if (!s) {
    throw new Error('@aeflow/backbone: Web Crypto (crypto.subtle) is not available here; the weights hash needs it (browsers offer it on https:// and localhost pages, Node from version 19)');
  }
  return s;
}

function hex(digest: ArrayBuffer): string {
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Hex SHA-256 of bytes. */
export async function sha256Bytes(bytes: Uint8Array): Promise<string> {
  return hex(await subtle().digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

/** `sha256Files`' rule for named in-memory files: the one file's hash, else the hash of the sorted `<sha256>  <name>` lines. */
export async function sha256NamedBytes(files: ReadonlyArray<{ name: string; bytes: Uint8Array }>): Promise<string> {
  if (files.length === 1) return sha256Bytes(files[0]!.bytes);
  const lines: string[] = [];
  for (const f of files) lines.push(`${await sha256Bytes(f.bytes)}  ${f.name}\n`);
  lines.sort((a, b) => a.slice(66).localeCompare(b.slice(66)));
  return sha256Bytes(new TextEncoder().encode(lines.join('')));
}

/** `sha256Arrays` (names and values in order) with Web Crypto: one digest over their concatenation. */
export async function sha256ArraysWeb(entries: Iterable<[string, Float32Array]>): Promise<string> {
  const parts: Uint8Array[] = [];
  const encoder = new TextEncoder();
  for (const [name, values] of entries) {
    parts.push(encoder.encode(name), new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  const all = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.byteLength;
  }
  return sha256Bytes(all);
}
