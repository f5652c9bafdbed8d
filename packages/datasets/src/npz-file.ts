import { readFile } from 'node:fs/promises';
import { parseNpz, type NpzContents } from './npy.js';

/**
 * Reads a `.npz` file; with `only`, decompresses just those arrays (names without `.npy`), so the
 * other splits of a MedMNIST file cost nothing.
 */
export async function readNpz(path: string, only?: readonly string[]): Promise<NpzContents> {
  return parseNpz(await readFile(path), path, only);
}
