import type * as tf from '@tensorflow/tfjs-core';
import { open } from 'node:fs/promises';
import { writeFileAtomic } from './files.js';
import { bytesToTensor, encodeSafetensors, headerLength, parseSafetensorsHeader } from './safetensors.js';
import type { SafetensorsHeader, WriteSafetensorsOptions } from './safetensors.js';

// The file side of safetensors (Node only): reading byte ranges from disk and atomic writes. The
// format itself (parse, encode, decode from bytes) is browser-safe in ./safetensors.ts.

export interface ReadSafetensorsOptions {
  /** Read only the tensors whose names pass this test (the rest are never read from disk). */
  filter?: (name: string) => boolean;
}

/** Reads the header of a safetensors file without reading its data. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const prefix = new Uint8Array(8);
    await fh.read(prefix, 0, Math.min(8, size), 0);
    const n = headerLength(prefix, size, path);
    const json = new Uint8Array(n);
    await fh.read(json, 0, n, 8);
    return parseSafetensorsHeader(json, size - 8 - n, path);
  } finally {
    await fh.close();
  }
}

/**
 * Reads a safetensors file into tensors with the stored shapes. Each tensor is read from its own
 * byte range, so a multi-GiB file never sits in memory whole and a filter skips what is not needed.
 */
export async function readSafetensors(path: string, options: ReadSafetensorsOptions = {}): Promise<Record<string, tf.Tensor>> {
  const header = await readSafetensorsHeader(path);
  const fh = await open(path, 'r');
  const out: Record<string, tf.Tensor> = {};
  try {
    for (const [name, entry] of Object.entries(header.entries)) {
      if (options.filter && !options.filter(name)) continue;
      const [b, e] = entry.dataOffsets;
      const buf = new Uint8Array(e - b);
      const { bytesRead } = await fh.read(buf, 0, e - b, header.dataStart + b);
      if (bytesRead !== e - b) throw new Error(`${path}: tensor "${name}" is truncated (read ${bytesRead} of ${e - b} bytes)`);
      out[name] = bytesToTensor(buf, entry, `${path}: ${name}`);
    }
  } catch (err) {
    Object.values(out).forEach((t) => t.dispose());
    throw err;
  } finally {
    await fh.close();
  }
  return out;
}

/**
 * Writes tensors to a safetensors file atomically (a temp file renamed over the target), so a
 * crash never leaves a truncated checkpoint. Metadata values must be strings.
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, tf.Tensor>,
  metadata?: Record<string, string>,
  options: WriteSafetensorsOptions = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata, options));
}
