import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { SeededRandom } from '../random.js';

/** @internal Helpers shared by the kernel tests (not exported from the package). */

export type ConvPad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

/** max |a − b| / max |b|: the error relative to the reference's scale. */
export function relativeError(actual: Float32Array | Int32Array | Uint8Array, expected: Float32Array | Int32Array | Uint8Array): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let maxErr = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    maxErr = Math.max(maxErr, Math.abs(actual[i]! - expected[i]!));
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  }
  return maxRef === 0 ? maxErr : maxErr / maxRef;
}

/** Random values for a shape, the same for every backend. */
export function randomValues(rng: SeededRandom, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  return v;
}

/**
 * Runs `f` on the named backend with fresh tensors made from the same values, and returns its
 * outputs' values (tensors disposed).
 */
export async function runOn(
  backend: 'cpu' | 'wasm',
  inputs: { values: Float32Array; shape: number[] }[],
  f: (...xs: tf.Tensor[]) => tf.Tensor[],
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(() => f(...inputs.map((i) => tf.tensor(i.values, i.shape))));
  const values = await Promise.all(outs.map((o) => o.data() as Promise<Float32Array>));
  tf.dispose(outs);
  return values;
}
