import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../backend-node.js';
import { SeededRandom } from '../random.js';
import { heapLoopPool, setHeapLoopPool } from './heap-loops.js';
import { randomValues, relativeError, runOn } from './testing.js';

const filterGrad = (x: tf.Tensor, dy: tf.Tensor, filterShape: number[], strides: number, pad: 'same' | 'valid'): tf.Tensor =>
  tf.engine().runKernel<tf.Tensor>('Conv2DBackpropFilter', { x, dy }, { strides, pad, dataFormat: 'NHWC', filterShape });

const dwInputGrad = (dy: tf.Tensor, filter: tf.Tensor, inputShape: number[], strides: number, pad: 'same' | 'valid'): tf.Tensor =>
  tf.engine().runKernel<tf.Tensor>('DepthwiseConv2dNativeBackpropInput', { dy, filter }, { strides, pad, dilations: 1, inputShape });
const dwFilterGrad = (x: tf.Tensor, dy: tf.Tensor, filterShape: number[], strides: number, pad: 'same' | 'valid'): tf.Tensor =>
  tf.engine().runKernel<tf.Tensor>('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { strides, pad, dilations: 1, filterShape });

type Case = [name: string, shapes: number[][], f: (...xs: tf.Tensor[]) => tf.Tensor[]];

// Shapes large enough that every heap loop runs split over the threads (at least 2^16 floats).
const CASES: Case[] = [
  ['im2col (filter gradient, 3×3 same)', [[4, 32, 32, 16], [4, 32, 32, 24]], (x, dy) => [filterGrad(x, dy, [3, 3, 16, 24], 1, 'same')]],
  ['im2col (filter gradient, 3×3 stride 2 valid)', [[4, 33, 31, 16], [4, 16, 15, 8]], (x, dy) => [filterGrad(x, dy, [3, 3, 16, 8], 2, 'valid')]],
  ['col2im by image (input gradient, 3×3 stride 2, overlapping)', [[4, 16, 16, 8], [3, 3, 16, 8]], (dy, w) => [tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [4, 32, 32, 16], 2, 'same')]],
  ['col2im by image (2×2 stride 2, a copy)', [[4, 16, 16, 32], [2, 2, 64, 32]], (dy, w) => [tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [4, 32, 32, 64], 2, 'valid')]],
  ['col2im by channel (few positions, many channels)', [[4, 8, 8, 256], [3, 3, 256, 256]], (dy, w) => [tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [4, 8, 8, 256], 1, 'same')]],
  ['rotated filter (stride 1, many positions)', [[4, 16, 16, 128], [3, 3, 64, 128]], (dy, w) => [tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [4, 16, 16, 64], 1, 'same')]],
  ['depthwise input gradient (3×3 stride 2 same, multiplier 2)', [[4, 8, 8, 64], [3, 3, 32, 2]], (dy, w) => [dwInputGrad(dy, w, [4, 16, 16, 32], 2, 'same')]],
  ['depthwise input gradient (3×3 stride 1 valid, multiplier 2)', [[4, 14, 14, 64], [3, 3, 32, 2]], (dy, w) => [dwInputGrad(dy, w, [4, 16, 16, 32], 1, 'valid')]],
  ['depthwise filter gradient (3×3 stride 1 same, multiplier 2)', [[4, 16, 16, 32], [4, 16, 16, 64]], (x, dy) => [dwFilterGrad(x, dy, [3, 3, 32, 2], 1, 'same')]],
  ['depthwise filter gradient (3×3 stride 2 valid)', [[4, 17, 15, 48], [4, 8, 7, 48]], (x, dy) => [dwFilterGrad(x, dy, [3, 3, 48, 1], 2, 'valid')]],
  ['sum over leading axes (bias gradient)', [[64, 32, 256]], (x) => [tf.sum(x, [0, 1]), tf.sum(x, 1, true)]],
];

// Its own file: the threads must start before any tensor lives on wasm.
describe('heap loops split over wasm threads', () => {
  it('give the same bits as on one thread, match cpu, and actually run split', async () => {
    const report = await initBackend({ backend: 'wasm', threads: 2, quiet: true });
    expect(report.threads).toBe(2);
    const pool = heapLoopPool();
    expect(pool?.threads).toBe(2);
    const rng = new SeededRandom(11);
    for (const [name, shapes, f] of CASES) {
      const inputs = shapes.map((shape) => ({ values: randomValues(rng, shape), shape }));
      const jobs = pool!.jobs;
      const split = await runOn('wasm', inputs, f);
      expect(pool!.jobs, `${name}: split`).toBeGreaterThan(jobs);
      setHeapLoopPool(undefined);
      let single: Float32Array[];
      try {
        single = await runOn('wasm', inputs, f);
      } finally {
        setHeapLoopPool(pool);
      }
      const ref = await runOn('cpu', inputs, f);
      split.forEach((s, i) => {
        expect(Buffer.from(s.buffer).equals(Buffer.from(single[i]!.buffer)), `${name}: output ${i} bit-identical`).toBe(true);
        expect(relativeError(s, ref[i]!), `${name}: output ${i} vs cpu`).toBeLessThanOrEqual(1e-5);
      });
    }
    // The workers take part (ranges go to whichever thread is free first: on a busy machine the
    // caller may run a whole job alone, so give them a few large jobs).
    const [, shapes, f] = CASES[0]!;
    const inputs = shapes.map((shape) => ({ values: randomValues(rng, shape), shape }));
    for (let i = 0; i < 50 && pool!.workerIndices === 0; i++) await runOn('wasm', inputs, f);
    expect(pool!.workerIndices).toBeGreaterThan(0);
  });
});
