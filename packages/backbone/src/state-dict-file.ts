import { readSafetensors, readSafetensorsHeader } from '@aeflow/tensor/node';
import { checkStateDictHeader, stateDictFromTensors, type ParamSpec, type StateDict } from './state-dict.js';

/**
 * Reads just the tensors in `specs` from a safetensors file, after checking every name and shape
 * against the header (so a wrong file fails before any data is read, naming the key, the file and
 * both shapes). Tensors not listed (`layer4.*`, `fc.*`, …) are never read.
 */
export async function readStateDict(path: string, specs: readonly ParamSpec[], archLabel: string): Promise<StateDict> {
  const header = await readSafetensorsHeader(path);
  checkStateDictHeader(header.entries, specs, archLabel, path);
  const wanted = new Set(specs.map((s) => s.key));
  return stateDictFromTensors(await readSafetensors(path, { filter: (name) => wanted.has(name) }), specs);
}
