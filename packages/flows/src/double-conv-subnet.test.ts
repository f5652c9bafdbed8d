/**
 * FastFlow's subnet: for every kernel size, 'same' padding must equal FastFlow's explicit
 * ZeroPad2d (k//2 − (1 + k) % 2 zeros before, k//2 after), values and gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, randomInput, useBackend } from '../test/helpers.js';
import { DoubleConvSubnet } from './double-conv-subnet.js';
import { seededRandom } from './random.js';

beforeAll(async () => {
  await useBackend('cpu');
});

/** FastFlow's nn.Sequential(ZeroPad2d, Conv2d, ReLU, ZeroPad2d, Conv2d) on NHWC, from PyTorch-layout weights. */
function fastflowReference(x: tf.Tensor4D, w: Record<string, tf.Tensor>, k: number): tf.Tensor {
  const before = Math.floor(k / 2) - ((1 + k) % 2);
  const after = Math.floor(k / 2);
  const pad = (t: tf.Tensor4D): tf.Tensor4D => tf.pad(t, [[0, 0], [before, after], [before, after], [0, 0]]);
  const conv = (t: tf.Tensor4D, key: string): tf.Tensor4D =>
    tf.add(tf.conv2d(pad(t), tf.transpose(w[`${key}.weight`]!, [2, 3, 1, 0]) as tf.Tensor4D, 1, 'valid'), w[`${key}.bias`]!);
  return conv(tf.relu(conv(x, '1')), '4');
}

describe('DoubleConvSubnet', () => {
  it.each([1, 2, 3, 4])('kernel %i matches FastFlow\'s explicit zero padding, values and input gradients', (k) => {
    const subnet = new DoubleConvSubnet(3, 4, seededRandom(k), { hiddenChannels: 5, kernelSize: k, zeroInitLast: false });
    const x = randomInput([2, 5, 6, 3], k) as tf.Tensor4D;
    const w = subnet.getWeights();
    expect(w['1.weight']!.shape).toEqual([5, 3, k, k]);
    expect(w['4.weight']!.shape).toEqual([4, 5, k, k]);
    const ours = subnet.apply(x, false);
    const ref = fastflowReference(x, w, k);
    expect(ours.shape).toEqual([2, 5, 6, 4]);
    expect(maxAbsDiff(ours, ref)).toBeLessThan(1e-5);
    const probe = randomInput([2, 5, 6, 4], 10 + k);
    const gOurs = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(subnet.apply(input, false), probe)))(x);
    const gRef = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(fastflowReference(input as tf.Tensor4D, w, k), probe)))(x);
    expect(maxAbsDiff(gOurs, gRef)).toBeLessThan(1e-4);
    tf.dispose([x, ours, ref, probe, gOurs, gRef, ...Object.values(w)]);
    subnet.dispose();
  });
});
