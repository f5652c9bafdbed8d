import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@aeflow/tensor/node';
import { benchmarkScoreRuntime, createImageScorer, measureScoring, providersFromEnv } from './node.js';
import { maxRelativeError, maxScaleError, perturbedModel, testImages, tinyConfig } from './test-helpers.js';

beforeAll(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
});

describe('createImageScorer: one scoring interface, two runtimes', () => {
  it('auto takes ONNX Runtime here; onnx and tfjs give the same records and reconstruction', async () => {
    const model = await perturbedModel(tinyConfig());
    const { data, shape } = testImages(3, 32, 3, 5);
    const images = tf.tensor4d(data, shape);
    const auto = await createImageScorer(model, { threads: 1 });
    const tfjs = await createImageScorer(model, { runtime: 'tfjs' });
    try {
      expect(auto.runtime).toBe('onnx');
      expect(auto.describe()).toMatch(/^runtime onnx \(onnxruntime-node [\d.]+, providers cpu, 1 threads\); auto: onnxruntime-node loads here$/);
      expect(tfjs.describe()).toBe('runtime tfjs (backend cpu); asked for');
      const a = await auto.score(images, { reconstruction: true });
      const b = await tfjs.score(images, { reconstruction: true });
      expect(maxRelativeError(a.scores.map((s) => s.total), b.scores.map((s) => s.total))).toBeLessThan(1e-4);
      expect(maxScaleError(a.scores.flatMap((s) => Array.from(s.residual)), b.scores.flatMap((s) => Array.from(s.residual)))).toBeLessThan(1e-4);
      expect(a.reconstruction!.shape).toEqual([3, 32, 32, 3]);
      expect(maxScaleError(await a.reconstruction!.data(), await b.reconstruction!.data())).toBeLessThan(1e-4);
      tf.dispose([a.reconstruction!, b.reconstruction!]);
      // scoring in a loop leaves no tensor behind, on either runtime
      for (const scorer of [auto, tfjs]) {
        const before = tf.memory().numTensors;
        for (let i = 0; i < 3; i++) await scorer.score(images);
        expect(tf.memory().numTensors).toBe(before);
      }
      const speed = await measureScoring(auto, 32, { batch: 2, steps: 1 });
      expect(speed.runtime).toBe('onnx');
      expect(speed.images_per_s).toBeGreaterThan(0);
    } finally {
      images.dispose();
      await auto.dispose();
      await tfjs.dispose();
      model.dispose();
    }
  });

  it('benchmarkScoreRuntime builds the configured model and times it on the default runtime, leaving no tensor', async () => {
    const before = tf.memory().numTensors;
    const r = await benchmarkScoreRuntime(tinyConfig(), { batch: 2, steps: 1, threads: 1 });
    expect(r.runtime).toBe('onnx');
    expect(r.described).toMatch(/^runtime onnx/);
    expect(r.images_per_s).toBeGreaterThan(0);
    const t = await benchmarkScoreRuntime(tinyConfig(), { runtime: 'tfjs', batch: 2, steps: 1 });
    expect(t.runtime).toBe('tfjs');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects an unknown runtime and reads AEFLOW_ORT_PROVIDERS', async () => {
    const model = await perturbedModel(tinyConfig());
    try {
      await expect(createImageScorer(model, { runtime: 'gpu' as never })).rejects.toThrow(/onnx, tfjs or auto/);
    } finally {
      model.dispose();
    }
    expect(providersFromEnv({ AEFLOW_ORT_PROVIDERS: 'cuda, cpu' })).toEqual(['cuda', 'cpu']);
    // no CUDA provider files here (the install skips them): the CPU scores, and the start-up line says why
    const cudaModel = await perturbedModel(tinyConfig());
    const scorer = await createImageScorer(cudaModel, { runtime: 'onnx', executionProviders: ['cuda', 'cpu'] });
    try {
      expect(scorer.describe()).toMatch(/providers cpu, default threads; cuda, cpu failed: .*; asked for$/);
    } finally {
      await scorer.dispose();
      cudaModel.dispose();
    }
    expect(providersFromEnv({})).toBeUndefined();
    expect(() => providersFromEnv({ AEFLOW_ORT_PROVIDERS: ' , ' })).toThrow(/names no provider/);
  });
});
