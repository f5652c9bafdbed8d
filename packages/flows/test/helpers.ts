import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core's Node build registers no gradient functions: @aeflow/tensor (loaded below) registers
// tfjs-core's own. Users of @aeflow/flows alone get them from `@tensorflow/tfjs` (the README).
import { SeededRandom } from '@aeflow/tensor';
import { initBackend } from '@aeflow/tensor/node';
import { luDecompose } from '../src/linalg.js';

export type TestBackend = 'cpu' | 'wasm';
export const BACKENDS: TestBackend[] = ['cpu', 'wasm'];

export async function useBackend(name: TestBackend): Promise<void> {
  if (name === 'wasm') await initBackend({ backend: 'wasm', quiet: true });
  else {
    await tf.setBackend('cpu');
    await tf.ready();
  }
}

/**
 * Whether gradients of 3×3 conv filters can run on the current backend: the wasm backend as
 * shipped lacks Conv2DBackpropFilter (@aeflow/tensor supplies it once its wasm training
 * kernels are in).
 */
export function hasConvFilterGradient(): boolean {
  return tf.getKernel('Conv2DBackpropFilter', tf.getBackend()) !== undefined;
}

export const NO_FILTER_GRAD =
  'skipped: this wasm backend has no Conv2DBackpropFilter kernel yet (it comes with @aeflow/tensor\'s wasm training kernels); the same test runs on cpu';

/** Adds std·N(0,1) to every trainable variable, so no layer is the identity. */
export function perturb(vars: tf.Variable[], seed: number, std = 0.2): void {
  const r = new SeededRandom(seed);
  for (const v of vars) {
    tf.tidy(() => v.assign(tf.add(v, r.normalTensor(v.shape, std))));
  }
}

export function randomInput(shape: number[], seed: number, std = 1): tf.Tensor {
  return new SeededRandom(seed).normalTensor(shape, std);
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** The full Jacobian ∂f(x)/∂x of one sample (x: [1, ...], f keeps the shape) by autodiff, float64. */
export function jacobian(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): Float64Array {
  const d = x.size;
  const jac = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    const row = tf.tidy(() => {
      const onehot = tf.reshape(tf.cast(tf.oneHot(tf.tensor1d([i], 'int32'), d), 'float32'), x.shape);
      return tf.grad((input: tf.Tensor) => tf.sum(tf.mul(f(input), onehot)))(x);
    });
    const v = row.dataSync();
    for (let j = 0; j < d; j++) jac[i * d + j] = v[j]!;
    row.dispose();
  }
  return jac;
}

/** log |det J| in float64 through LU. */
export function logAbsDetOf(m: Float64Array, n: number): number {
  const { upper } = luDecompose(m, n);
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.log(Math.abs(upper[i * n + i]!));
  return s;
}
