import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@aeflow/tensor/node';
import { BatchNormRecorder, buildEncoder, estimateBatchNormStatistics } from './index.js';
import { createEncoder, type CreateEncoderOptions } from './node.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
});

/** Seeded images in [0, 1] with a brightness the ImageNet statistics never saw (mean ≈ 0.8). */
function images(n: number, size: number, seed: number): tf.Tensor4D {
  return tf.tidy(() => tf.add<tf.Tensor4D>(tf.mul(tf.randomUniform([n, size, size, 1], 0, 1, 'float32', seed), 0.4), 0.6));
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

const archs: Array<[string, Omit<CreateEncoderOptions, 'foldBatchNorm'>, string]> = [
  ['mobilenet_v1', { arch: 'mobilenet_v1', weights: 'random', taps: ['conv_pw_5_relu'] }, 'conv_pw_5_relu'],
  ['a basic-block ResNet', { arch: { block: 'basic', layers: [1, 1] }, weights: 'random', taps: ['layer2'] }, 'layer2'],
];

describe('estimateBatchNormStatistics', () => {
  it.each(archs)('%s: with all images in one batch, the encoder built with the statistics reproduces the pass exactly', async (_, opts, tap) => {
    const x = images(6, 32, 1);
    const unfolded = await createEncoder({ ...opts, foldBatchNorm: false });
    // the pass itself: every BatchNorm normalises with the batch's statistics
    const recorder = new BatchNormRecorder();
    const inPass = unfolded.features(unfolded.normalize(x), recorder)[tap]!;
    const stats = await estimateBatchNormStatistics(unfolded, [x.clone()]);
    expect(Object.keys(stats).length).toBe(recorder.size);
    const adapted = await createEncoder({ ...opts, batchNormStatistics: stats });
    const pretrained = await createEncoder(opts);
    const after = adapted.features(adapted.normalize(x))[tap]!;
    const before = pretrained.features(pretrained.normalize(x))[tap]!;
    // eval mode with the pooled statistics = train mode on that one batch (biased variance)
    expect(maxAbsDiff(after, inPass)).toBeLessThan(1e-3 * Math.max(1, tf.max(inPass).dataSync()[0]!));
    // and the statistics changed the features (they are not the weights' own)
    expect(maxAbsDiff(after, before)).toBeGreaterThan(0.01);
    expect(adapted.batchNormStatisticsHash).toMatch(/^[0-9a-f]{64}$/);
    expect(pretrained.batchNormStatisticsHash).toBeNull();
    expect(adapted.describe().batchNormStatisticsHash).toBe(adapted.batchNormStatisticsHash);
    tf.dispose([x, inPass, after, before]);
    [unfolded, adapted, pretrained].forEach((e) => e.dispose());
  });

  it('buildEncoder (browser-safe, weights in memory) applies the same statistics with the same hash and features as createEncoder', async () => {
    const opts = { arch: 'mobilenet_v1', weights: 'random', taps: ['conv_pw_3_relu'], seed: 3 } as const;
    const unfolded = await createEncoder({ ...opts, foldBatchNorm: false });
    const x = images(4, 32, 7);
    const stats = await estimateBatchNormStatistics(unfolded, [x.clone()]);
    unfolded.dispose();
    const fromFiles = await createEncoder({ ...opts, batchNormStatistics: stats });
    const inMemory = await buildEncoder({ ...opts, batchNormStatistics: stats });
    expect(inMemory.batchNormStatisticsHash).toBe(fromFiles.batchNormStatisticsHash);
    expect(inMemory.batchNormStatisticsHash).toMatch(/^[0-9a-f]{64}$/);
    const a = fromFiles.features(fromFiles.normalize(x)).conv_pw_3_relu;
    const b = inMemory.features(inMemory.normalize(x)).conv_pw_3_relu;
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([x, a, b]);
    fromFiles.dispose();
    inMemory.dispose();
  });

  it('pools over batches: the first layer (whose input no BatchNorm touched) gets the same statistics from 2 × 4 images as from 8 at once', async () => {
    const enc = await createEncoder({ arch: 'mobilenet_v1', weights: 'random', taps: ['conv_pw_1_relu'], foldBatchNorm: false });
    const x = images(8, 32, 2);
    const whole = await estimateBatchNormStatistics(enc, [x.clone()]);
    const halves = await estimateBatchNormStatistics(enc, [tf.slice(x, [0, 0, 0, 0], [4, -1, -1, -1]), tf.slice(x, [4, 0, 0, 0], [4, -1, -1, -1])]);
    for (const field of ['mean', 'variance'] as const) {
      const a = whole.conv1![field];
      const b = halves.conv1![field];
      for (let c = 0; c < a.length; c++) expect(b[c]).toBeCloseTo(a[c]!, 4);
    }
    x.dispose();
    enc.dispose();
  });

  it('keeps the tensor count flat over the pass and disposes each batch', async () => {
    const enc = await createEncoder({ arch: 'mobilenet_v1', weights: 'random', taps: ['conv_pw_3_relu'], foldBatchNorm: false });
    const before = tf.memory().numTensors;
    const given: tf.Tensor4D[] = [];
    await estimateBatchNormStatistics(enc, (function* () {
      for (let i = 0; i < 4; i++) {
        const b = images(2, 32, 10 + i);
        given.push(b);
        yield b;
      }
    })());
    expect(given.every((b) => b.isDisposed)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    enc.dispose();
  });

  it('refuses a folded encoder, an empty set, and statistics that name no convolution of the encoder', async () => {
    const folded = await createEncoder({ arch: 'mobilenet_v1', weights: 'random', taps: ['conv_pw_1_relu'] });
    await expect(estimateBatchNormStatistics(folded, [images(2, 32, 3)])).rejects.toThrow(/foldBatchNorm: false/);
    folded.dispose();
    const enc = await createEncoder({ arch: 'mobilenet_v1', weights: 'random', taps: ['conv_pw_1_relu'], foldBatchNorm: false });
    await expect(estimateBatchNormStatistics(enc, [])).rejects.toThrow(/no images/);
    const stats = await estimateBatchNormStatistics(enc, [images(2, 32, 4)]);
    enc.dispose();
    const deeper = { ...stats, conv_pw_7: { mean: new Float32Array(512), variance: new Float32Array(512).fill(1) } };
    await expect(createEncoder({ arch: 'mobilenet_v1', weights: 'random', taps: ['conv_pw_1_relu'], batchNormStatistics: deeper })).rejects.toThrow(/"conv_pw_7".*name no convolution/);
    const wrongLength = { conv1: { mean: new Float32Array(3), variance: new Float32Array(3) } };
    await expect(createEncoder({ arch: 'mobilenet_v1', weights: 'random', taps: ['conv_pw_1_relu'], batchNormStatistics: wrongLength })).rejects.toThrow(/conv1: BatchNorm mean has 3 values/);
  });

  it('a tap on a convolution before its BatchNorm cannot be re-estimated, and says so', async () => {
    const enc = await createEncoder({ arch: 'mobilenet_v1', weights: 'random', taps: ['conv_pw_1', 'conv_pw_2_relu'], foldBatchNorm: false });
    await expect(estimateBatchNormStatistics(enc, [images(2, 32, 5)])).rejects.toThrow(/conv_pw_1_bn.*before/);
    enc.dispose();
  });
});
