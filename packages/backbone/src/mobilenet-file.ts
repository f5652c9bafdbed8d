import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ParamSpec, StateDict } from './state-dict.js';
import { decodeKerasWeights, parseKerasModel, type KerasModelSpec } from './mobilenet.js';

/** Parses a model.json (a path to it, or the folder holding it). */
export async function readKerasModel(path: string): Promise<KerasModelSpec> {
  let file = path;
  try {
    if ((await stat(path)).isDirectory()) file = join(path, 'model.json');
  } catch {
    throw new Error(`mobilenet_v1 weights: ${path} does not exist; pass the folder holding model.json and its weight shards`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`mobilenet_v1 weights: cannot read ${file} (${(err as Error).message})`);
  }
  return parseKerasModel(raw, file, dirname(file));
}

/**
 * Reads the weights in `specs` from the shard files of a TF.js model (only the groups holding one
 * of them). Returns the values and the files read (for the weights hash).
 */
export function readKerasWeights(spec: KerasModelSpec, specs: readonly ParamSpec[]): Promise<{ dict: StateDict; files: string[] }> {
  return decodeKerasWeights(spec, specs, {
    read: async (p) => {
      const bytes = await readFile(join(spec.folder, p));
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    name: (p) => join(spec.folder, p),
  });
}
