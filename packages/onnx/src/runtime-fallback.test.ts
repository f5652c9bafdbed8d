import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '@aeflow/tensor/node';
import { createImageScorer, loadOnnxRuntime, OnnxScorer } from './node.js';
import { perturbedModel, testImages, tinyConfig } from './test-helpers.js';

// A machine where onnxruntime-node is installed without a binding that loads (another platform's
// package, a missing libstdc++): the import throws, as the real one does there.
vi.mock('onnxruntime-node', () => {
  throw new Error('Cannot find module ../bin/napi-v6/linux/x64/onnxruntime_binding.node\nRequire stack: …');
});

beforeAll(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
});

describe('where onnxruntime-node does not load', () => {
  it('auto scores on tfjs and the start-up line says why; onnx stops with the reason and the way out', async () => {
    const loaded = await loadOnnxRuntime();
    // (vitest words the import failure of a mocked module its own way: only the prefix is ours)
    expect('error' in loaded ? loaded.error : 'loaded').toMatch(/^onnxruntime-node does not load: \S.*$/);
    const model = await perturbedModel(tinyConfig());
    const { data, shape } = testImages(2, 32, 3, 1);
    const images = tf.tensor4d(data, shape);
    try {
      const auto = await createImageScorer(model);
      expect(auto.runtime).toBe('tfjs');
      expect(auto.describe()).toMatch(/^runtime tfjs \(backend cpu\); auto: onnxruntime-node does not load: \S.*$/);
      const { scores } = await auto.score(images);
      const want = await model.score(images);
      expect(scores.map((s) => s.total)).toEqual(want.map((s) => s.total));
      await auto.dispose();
      await expect(createImageScorer(model, { runtime: 'onnx' })).rejects.toThrow(/^runtime onnx: onnxruntime-node does not load: .*; use --runtime tfjs$/);
      await expect(OnnxScorer.create(new Uint8Array(8))).rejects.toThrow(/does not load.*score with the tfjs runtime instead \(--runtime tfjs\)/);
    } finally {
      images.dispose();
      model.dispose();
    }
  });
});
