import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../backend-node.js';
import { SeededRandom } from '../random.js';
import { randomValues, relativeError, runOn } from './testing.js';

// Its own file: vitest runs each file in a fresh process, and threads must start before any
// tensor lives on wasm.
describe('wasm threads in Node (every core by default)', () => {
  it('starts one thread per core when neither the option nor AEFLOW_THREADS says, says so, and gradients still match cpu without leaks', async () => {
    // The test set-up pins AEFLOW_THREADS=1 for every other file; this one checks the default.
    const pinned = process.env.AEFLOW_THREADS;
    delete process.env.AEFLOW_THREADS;
    const cores = Math.min(64, availableParallelism());
    try {
      const report = await initBackend({ backend: 'wasm', quiet: true });
      expect(report.threads).toBe(cores);
      expect(report.summary).toContain(`backend wasm (${cores} thread${cores > 1 ? 's' : ''})`);
    } finally {
      if (pinned !== undefined) process.env.AEFLOW_THREADS = pinned;
    }
    const rng = new SeededRandom(7);
    const xShape = [2, 13, 11, 16];
    const x = { values: randomValues(rng, xShape), shape: xShape };
    const w3 = { values: randomValues(rng, [3, 3, 16, 24]), shape: [3, 3, 16, 24] };
    const w2 = { values: randomValues(rng, [2, 2, 8, 16]), shape: [2, 2, 8, 16] };
    const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
      const loss = (p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) => {
        const h = tf.relu(tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, 2, 'same'));
        const up = tf.conv2dTranspose(tf.slice(p, [0, 0, 0, 0], [2, 12, 10, 16]) as tf.Tensor4D, r as tf.Tensor4D, [2, 24, 20, 8], 2, 'valid');
        return tf.add(tf.sum(tf.square(h)), tf.sum(tf.square(up)));
      };
      return tf.grads(loss)([a, b, c]);
    };
    const ref = await runOn('cpu', [x, w3, w2], f);
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const got = await runOn('wasm', [x, w3, w2], f);
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < ref.length; i++) expect(relativeError(got[i]!, ref[i]!)).toBeLessThanOrEqual(1e-5);
  });
});
