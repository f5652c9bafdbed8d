import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';

/** Hashes already computed in this process, keyed by path, size and modification time. */
const fileHashes = new Map<string, string>();

/** Hex SHA-256 of a file, streamed (a 276 MB checkpoint never sits in memory), computed once per process. */
export async function sha256File(path: string): Promise<string> {
  const s = await stat(path);
  const key = `${path}\0${s.size}\0${s.mtimeMs}`;
  const known = fileHashes.get(key);
  if (known) return known;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const hex = hash.digest('hex');
  fileHashes.set(key, hex);
  return hex;
}

/**
 * One hash for a set of files: the SHA-256 of the file itself when there is one; else the SHA-256
 * of the lines `<sha256>  <file name>` sorted by name (as `sha256sum` prints them), so the value
 * does not depend on the folder the files sit in.
 */
export async function sha256Files(paths: readonly string[]): Promise<string> {
  if (paths.length === 1) return sha256File(paths[0]!);
  const lines: string[] = [];
  for (const p of paths) lines.push(`${await sha256File(p)}  ${basename(p)}\n`);
  lines.sort((a, b) => a.slice(66).localeCompare(b.slice(66)));
  return createHash('sha256').update(lines.join('')).digest('hex');
}

/** SHA-256 of in-memory weights (for `weights: 'random'`), in the order given. */
export function sha256Arrays(entries: Iterable<[string, Float32Array]>): string {
  const hash = createHash('sha256');
  for (const [name, values] of entries) {
    hash.update(name);
    hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  return hash.digest('hex');
}
