import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { folderDataset } from '@aeflow/datasets/node';
import { loadRun, trainRun } from '@aeflow/model/node';
import { createImageScorer } from '@aeflow/onnx/node';
import { initBackend } from '@aeflow/tensor/node';
import { batchTensor, scoreItems } from './score.js';
import { TINY_CONFIG, writeFolderDataset } from './test-helpers.js';

let data: string;
let runDir: string;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
  const root = await mkdtemp(join(tmpdir(), 'aeflow-eval-score-'));
  data = join(root, 'data');
  runDir = join(root, 'run');
  await writeFolderDataset(data, { train: 8, testNormal: 3, testAnomalous: 3 });
  const train = await folderDataset(data, { split: 'train', normalClasses: ['NORMAL'] });
  await trainRun({ runDir, config: { ...TINY_CONFIG, train: { ...TINY_CONFIG.train, epochs: 1 } }, train: { dataset: train }, cacheDir: null });
});

describe('scoreItems', () => {
  it("the report grid's reconstruction is the model's x′ (one pass with the scores), without leaking tensors", async () => {
    const model = await loadRun(runDir);
    const test = await folderDataset(data, { split: 'test', normalClasses: ['NORMAL'] });
    const items = test.items.slice(0, 3);
    const before = tf.memory().numTensors;
    const scored = await scoreItems({ model, dataset: test, items, keepMaps: 'all' });
    expect(tf.memory().numTensors).toBe(before);
    const images = batchTensor(await Promise.all(items.map((it) => test.load(it, { size: 32, channels: 3 }))), 32);
    const expected = model.reconstruct(images);
    const ev = await expected.data();
    items.forEach((it, k) => {
      const rec = scored.maps.get(it.id)!.reconstruction!;
      expect(rec.data.length).toBe(32 * 32 * 3);
      let diff = 0;
      rec.data.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - ev[k * 32 * 32 * 3 + i]!))));
      expect(diff).toBeLessThan(1e-5);
    });
    tf.dispose([images, expected]);
    model.dispose();
  });

  it('with an ONNX Runtime scorer: the same rows (1e-4 relative), maps and x′ as the tfjs path, over several batches without leaking tensors', async () => {
    const model = await loadRun(runDir);
    const test = await folderDataset(data, { split: 'test', normalClasses: ['NORMAL'] });
    const scorer = await createImageScorer(model, { runtime: 'onnx', threads: 1 });
    try {
      expect(scorer.runtime).toBe('onnx');
      const before = tf.memory().numTensors;
      const viaOnnx = await scoreItems({ model, scorer, dataset: test, items: test.items, batchSize: 2, keepMaps: 'all' });
      expect(tf.memory().numTensors).toBe(before);
      const viaTfjs = await scoreItems({ model, dataset: test, items: test.items, batchSize: 2, keepMaps: 'all' });
      expect(viaOnnx.rows).toHaveLength(6);
      viaOnnx.rows.forEach((row, i) => {
        const want = viaTfjs.rows[i]!;
        expect(row.id).toBe(want.id);
        for (const k of ['flow', 'recon', 'total'] as const) expect(Math.abs(row[k] - want[k])).toBeLessThanOrEqual(1e-4 * Math.abs(want[k]) + 1e-7);
        const [a, b] = [viaOnnx.maps.get(row.id)!, viaTfjs.maps.get(row.id)!];
        expect(a.original.data).toEqual(b.original.data);
        const scale = Math.max(...Array.from(b.residual.data, Math.abs));
        expect(Math.max(...Array.from(a.residual.data, (v, j) => Math.abs(v - b.residual.data[j]!)))).toBeLessThanOrEqual(1e-4 * scale);
        expect(Math.max(...Array.from(a.reconstruction!.data, (v, j) => Math.abs(v - b.reconstruction!.data[j]!)))).toBeLessThan(1e-4);
      });
    } finally {
      await scorer.dispose();
      model.dispose();
    }
  });

});
