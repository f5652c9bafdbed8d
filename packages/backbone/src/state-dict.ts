import type * as tf from '@tensorflow/tfjs-core';
import { SeededRandom } from '@aeflow/tensor';

/** A tensor the network needs: its name in the state dict and the shape it must have. */
export interface ParamSpec {
  key: string;
  shape: number[];
  /** How to draw it for `weights: 'random'`. */
  init: 'he-conv' | 'bn-gamma' | 'bn-beta' | 'bn-mean' | 'bn-var';
}

/** Raw float32 values by state-dict name (PyTorch or Keras layout, whatever the source holds). */
export type StateDict = Map<string, Float32Array>;

const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/**
 * Checks every name and shape in `specs` against a checkpoint's header entries, so a wrong file
 * fails before any data is read, naming the key, the source and both shapes.
 */
export function checkStateDictHeader(
  entries: Readonly<Record<string, { shape: readonly number[] }>>,
  specs: readonly ParamSpec[],
  archLabel: string,
  source: string,
): void {
  const problems: string[] = [];
  for (const spec of specs) {
    const entry = entries[spec.key];
    if (!entry) problems.push(`"${spec.key}" is missing (${archLabel} needs shape ${fmt(spec.shape)})`);
    else if (entry.shape.length !== spec.shape.length || entry.shape.some((d, i) => d !== spec.shape[i])) {
      problems.push(`"${spec.key}" has shape ${fmt(entry.shape)} but ${archLabel} needs ${fmt(spec.shape)}`);
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).join('; ');
    const more = problems.length > 5 ? `; and ${problems.length - 5} more` : '';
    throw new Error(`${source}: weights do not fit ${archLabel}: ${shown}${more}. Check the arch (block type, blocks per stage, widthPerGroup) matches the checkpoint.`);
  }
}

/** The values of the tensors in `specs` as a state dict; disposes every tensor given. */
export async function stateDictFromTensors(tensors: Record<string, tf.Tensor>, specs: readonly ParamSpec[]): Promise<StateDict> {
  const out: StateDict = new Map();
  try {
    for (const spec of specs) {
      const t = tensors[spec.key]!;
      out.set(spec.key, (await t.data()) as Float32Array);
    }
  } finally {
    Object.values(tensors).forEach((t) => t.dispose());
  }
  return out;
}

/**
 * Deterministic stand-in weights for benchmarks and tests without a checkpoint: He-normal
 * convolutions (fan-out, as torchvision initialises ResNets) and BatchNorm layers that are close to
 * the identity but not exactly it (γ ∈ [0.5, 1), β and the running mean ~ N(0, 0.1²),
 * running variance ∈ [0.5, 1.5)), so folding and the BatchNorm arithmetic are exercised.
 */
export function randomStateDict(specs: readonly ParamSpec[], seed: number, fanOut: (spec: ParamSpec) => number): StateDict {
  const rng = new SeededRandom(seed);
  const out: StateDict = new Map();
  for (const spec of specs) {
    const n = spec.shape.reduce((a, d) => a * d, 1);
    const v = new Float32Array(n);
    switch (spec.init) {
      case 'he-conv': {
        const std = Math.sqrt(2 / fanOut(spec));
        for (let i = 0; i < n; i++) v[i] = std * rng.normal();
        break;
      }
      case 'bn-gamma':
        for (let i = 0; i < n; i++) v[i] = 0.5 + 0.5 * rng.uniform();
        break;
      case 'bn-beta':
      case 'bn-mean':
        for (let i = 0; i < n; i++) v[i] = 0.1 * rng.normal();
        break;
      case 'bn-var':
        for (let i = 0; i < n; i++) v[i] = 0.5 + rng.uniform();
        break;
    }
    out.set(spec.key, v);
  }
  return out;
}

/** PyTorch OIHW → TensorFlow HWIO, once at load. */
export function oihwToHwio(src: Float32Array, shape: readonly number[]): { data: Float32Array; shape: [number, number, number, number] } {
  const [o, i, h, w] = shape as [number, number, number, number];
  const data = new Float32Array(src.length);
  for (let oo = 0; oo < o; oo++) {
    for (let ii = 0; ii < i; ii++) {
      for (let hh = 0; hh < h; hh++) {
        for (let ww = 0; ww < w; ww++) {
          data[((hh * w + ww) * i + ii) * o + oo] = src[((oo * i + ii) * h + hh) * w + ww]!;
        }
      }
    }
  }
  return { data, shape: [h, w, i, o] };
}
