import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estimateBatchNormStatistics } from '@aeflow/backbone';
import { loadImageBatch } from '@aeflow/datasets';
import { readSafetensorsHeader } from '@aeflow/tensor/node';
import { batchNormStatisticsFromTensors, batchNormStatisticsTensors, parseRunConfig, PRESETS, resolveConfig, RUN_FILES } from './index.js';
import { encoderFromConfig, loadRun, RunFolder, scoreRun, trainRun } from './node.js';
import { syntheticDataset, tinyConfig, tinyEncoder, trainingBackend } from './test-helpers.js';

let dir: string;
beforeAll(async () => {
  await trainingBackend();
  dir = await mkdtemp(join(tmpdir(), 'aeflow-bn-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const tiny = {
  size: 32,
  encoder: { arch: { block: 'basic', layers: [1, 1, 1] }, weights: 'random', tap: 'layer3' },
  flow: { blocks: 2, hiddenChannels: 32 },
  decoder: { widths: [32, 16, 8] },
  train: { batchSize: 4, epochs: 1, lr: 1e-3, validateEvery: 1 },
};

describe("encoder.batchNorm: 'train-normals'", () => {
  it('configs: defaults to the weights\' own statistics (old configs too); an override of one key keeps the preset\'s others', () => {
    expect(resolveConfig({}).encoder.batchNorm).toBe(PRESETS.cpu.encoder.batchNorm);
    // the cpu preset re-estimates them (issue 14); paper keeps the weights' own
    expect(PRESETS.cpu.encoder.batchNorm).toBe('train-normals');
    const { batchNorm, ...older } = resolveConfig({ preset: 'paper' }).encoder;
    expect(batchNorm).toBe('pretrained');
    expect(parseRunConfig({ ...resolveConfig({ preset: 'paper' }), encoder: older }, 'old/config.json').encoder.batchNorm).toBe('pretrained');
    // zod fills defaults into partial sections: they must not overwrite the preset's values
    for (const preset of ['cpu', 'paper'] as const) {
      const p = PRESETS[preset];
      expect(resolveConfig({ preset, encoder: { tap: p.encoder.tap } }).encoder).toEqual(p.encoder);
      expect(resolveConfig({ preset, flow: { blocks: 3 } }).flow).toEqual({ ...p.flow, blocks: 3 });
      expect(resolveConfig({ preset, train: { epochs: 2 } }).train).toEqual({ ...p.train, epochs: 2 });
      expect(resolveConfig({ preset, score: { flow: p.score.flow } }).score).toEqual(p.score);
    }
    expect(resolveConfig({ encoder: { batchNorm: 'train-normals' } }).encoder.batchNorm).toBe('train-normals');
    expect(() => resolveConfig({ encoder: { batchNorm: 'site' } })).toThrow(/encoder\.batchNorm: "site" is not allowed; use one of "pretrained", "train-normals"/);
  });

  it('re-estimates the statistics once on the training images, stores them with the run, and scoring uses them', async () => {
    const train = syntheticDataset('bn-train', 12, 0);
    const val = syntheticDataset('bn-val', 4, 4, 32, 2);
    const runDir = join(dir, 'run');
    const config = { ...tiny, model: 'knn', knn: { k: 2 }, encoder: { ...tiny.encoder, batchNorm: 'train-normals' } };
    const before = tf.memory().numTensors;
    await trainRun({ runDir, config, train: { dataset: train }, validation: { dataset: val }, cacheDir: join(dir, 'cache') });
    expect(tf.memory().numTensors).toBe(before);
    const file = join(runDir, RUN_FILES.encoderBatchNorm);
    expect((await readSafetensorsHeader(file)).metadata).toMatchObject({ format: 'aeflow-encoder-batchnorm', images: '12', dataset: 'bn-train' });
    const stored = await new RunFolder(runDir).readBatchNormStatistics();
    // the same as estimating directly over the same images (all 12 in one batch of ≥ 16)
    const resolved = tinyConfig({ encoder: { batchNorm: 'train-normals' } });
    const unfolded = await encoderFromConfig(resolved, undefined, false);
    const direct = await estimateBatchNormStatistics(unfolded, [(await loadImageBatch(train, train.items, { size: 32 })).images]);
    unfolded.dispose();
    expect(Object.keys(stored).sort()).toEqual(Object.keys(direct).sort());
    for (const [name, s] of Object.entries(direct)) {
      for (let c = 0; c < s.mean.length; c += 7) {
        expect(stored[name]!.mean[c]).toBeCloseTo(s.mean[c]!, 4);
        expect(stored[name]!.variance[c]).toBeCloseTo(s.variance[c]!, 4);
      }
    }
    // scoring loads them: the same scores as a run of the weights' own statistics would not give
    const adapted = await scoreRun({ runDir, data: { dataset: val }, write: false });
    const plainDir = join(dir, 'run-plain');
    const pretrained = await tinyEncoder();
    await trainRun({ runDir: plainDir, config: { ...config, encoder: { ...tiny.encoder, batchNorm: 'pretrained' } }, train: { dataset: train }, validation: { dataset: val }, encoder: pretrained, cacheDir: join(dir, 'cache') });
    const plain = await scoreRun({ runDir: plainDir, data: { dataset: val }, encoder: pretrained, write: false });
    const diff = adapted.rows.map((r, i) => Math.abs(r.total - plain.rows[i]!.total));
    expect(Math.max(...diff)).toBeGreaterThan(1e-3);
    const model = await loadRun(runDir);
    expect(model.encoder.batchNormStatisticsHash).toMatch(/^[0-9a-f]{64}$/);
    model.dispose();
    // a resumed or re-scored run never re-estimates: the stored file is what it uses
    await expect(loadRun(runDir, { encoder: pretrained })).rejects.toThrow(/re-estimated its encoder's BatchNorm statistics.*leave out options\.encoder/);
    await expect(trainRun({ runDir: join(dir, 'x'), config, train: { dataset: train }, encoder: pretrained })).rejects.toThrow(/builds its own encoder/);
    await rm(file);
    await expect(loadRun(runDir)).rejects.toThrow(/encoder-batchnorm\.safetensors: does not exist; the run's config has encoder\.batchNorm "train-normals"/);
    pretrained.dispose();
  });
});

describe('encoder-batchnorm.safetensors tensors (browser-safe codec)', () => {
  it('round-trips statistics and names the file, the tensor and the fix for bad ones', () => {
    const stats = { conv1: { mean: Float32Array.from([0.5, -1]), variance: Float32Array.from([2, 0.25]) } };
    const tensors = batchNormStatisticsTensors(stats);
    expect(Object.keys(tensors)).toEqual(['conv1.mean', 'conv1.variance']);
    expect(batchNormStatisticsFromTensors(tensors, 'run/encoder-batchnorm.safetensors')).toEqual(stats);
    tf.dispose(Object.values(tensors));
    const bad = (t: Record<string, tf.Tensor>): (() => unknown) => () => {
      try {
        return batchNormStatisticsFromTensors(t, 'run/encoder-batchnorm.safetensors');
      } finally {
        tf.dispose(Object.values(t));
      }
    };
    expect(bad({ 'conv1.scale': tf.tensor1d([1]) })).toThrow(/run\/encoder-batchnorm\.safetensors: conv1\.scale: unexpected tensor.*; copy the file/);
    expect(bad({ 'conv1.mean': tf.tensor1d([1, 2]) })).toThrow(/conv1: needs both \.mean and \.variance of the same length \(got 2 and 0\)/);
    expect(bad({ 'conv1.mean': tf.tensor1d([1]), 'conv1.variance': tf.tensor1d([-1]) })).toThrow(/conv1: channel 0: mean 1, variance -1/);
    expect(bad({ 'conv1.mean': tf.tensor2d([[1]]), 'conv1.variance': tf.tensor1d([1]) })).toThrow(/conv1\.mean: expected a 1-D float32 tensor, got shape \[1, 1\]/);
    expect(bad({})).toThrow(/holds no statistics/);
  });
});
