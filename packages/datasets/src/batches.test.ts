import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@aeflow/tensor/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { batches, IMAGENET_MEAN, IMAGENET_STD } from './batches.js';
import { InvalidImageError } from './errors.js';
import type { DecodedImage, ImageDataset, ImageItem, LoadOptions } from './types.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
});

/** A dataset whose images are constant value (index / 100), with observable load timing. */
function fakeDataset(n: number, opts: { delayMs?: number; bad?: Set<number> } = {}) {
  const stats = { active: 0, maxActive: 0, started: 0 };
  const items: ImageItem[] = Array.from({ length: n }, (_, i) => ({ id: `img${i}`, label: (i % 3 === 0 ? 1 : 0), source: { kind: 'file', path: `/fake/${i}.png` } }));
  const ds: ImageDataset = {
    name: 'fake',
    items,
    skipped: [],
    skipInvalid: false,
    load: async (item: ImageItem, o: LoadOptions): Promise<DecodedImage> => {
      const i = Number(item.id.slice(3));
      stats.started++;
      stats.active++;
      stats.maxActive = Math.max(stats.maxActive, stats.active);
      await new Promise((r) => setTimeout(r, opts.delayMs ?? 1));
      stats.active--;
      if (opts.bad?.has(i)) throw new InvalidImageError(`/fake/${i}.png`, 'corrupt image (test)');
      const c = o.channels ?? 3;
      return { id: item.id, label: item.label, data: new Float32Array(o.size * o.size * c).fill(i / 100), width: o.size, height: o.size, channels: c };
    },
  };
  return { ds, stats };
}

describe('batches', () => {
  it('yields NHWC batches in order with ids and labels; the last batch is partial unless dropLast', async () => {
    const { ds } = fakeDataset(10);
    const got: { ids: string[]; shape: number[]; first: number }[] = [];
    for await (const b of batches(ds, ds.items, { batchSize: 4, size: 2, channels: 1 })) {
      got.push({ ids: b.ids, shape: b.images.shape, first: (await b.images.data())[0]! });
      expect(b.labels).toEqual(b.ids.map((id) => (Number(id.slice(3)) % 3 === 0 ? 1 : 0)));
      b.images.dispose();
    }
    expect(got.map((g) => g.shape)).toEqual([
      [4, 2, 2, 1],
      [4, 2, 2, 1],
      [2, 2, 2, 1],
    ]);
    expect(got.flatMap((g) => g.ids)).toEqual(ds.items.map((i) => i.id));
    expect(got[1]!.first).toBeCloseTo(0.04, 6);
    let count = 0;
    for await (const b of batches(ds, ds.items, { batchSize: 4, size: 2, dropLast: true })) {
      count += b.ids.length;
      b.images.dispose();
    }
    expect(count).toBe(8);
  });

  it('seeded shuffle: same seed same order, another seed another order, every item once', async () => {
    const { ds } = fakeDataset(20);
    const order = async (seed: number) => {
      const ids: string[] = [];
      for await (const b of batches(ds, ds.items, { batchSize: 6, size: 1, shuffle: true, seed })) {
        ids.push(...b.ids);
        b.images.dispose();
      }
      return ids;
    };
    const a = await order(3);
    expect(await order(3)).toEqual(a);
    expect(await order(4)).not.toEqual(a);
    expect([...a].sort()).toEqual(ds.items.map((i) => i.id).sort());
    expect(a).not.toEqual(ds.items.map((i) => i.id));
  });

  it('bounded memory: never more than (prefetch + 1) batches started ahead of the consumer, decodes limited by concurrency', async () => {
    const { ds, stats } = fakeDataset(200, { delayMs: 2 });
    let consumed = 0;
    let maxAhead = 0;
    for await (const b of batches(ds, ds.items, { batchSize: 8, size: 1, prefetch: 2, concurrency: 3 })) {
      consumed += b.ids.length;
      // Let the prefetcher run while "the model computes".
      await new Promise((r) => setTimeout(r, 5));
      maxAhead = Math.max(maxAhead, stats.started - consumed);
      b.images.dispose();
    }
    expect(consumed).toBe(200);
    expect(maxAhead).toBeLessThanOrEqual(2 * 8);
    expect(maxAhead).toBeGreaterThanOrEqual(8); // it did decode ahead
    expect(stats.maxActive).toBeLessThanOrEqual(3);
    expect(stats.maxActive).toBeGreaterThan(1);
  });

  it('tensor count stays flat; breaking out early leaks nothing', async () => {
    const { ds } = fakeDataset(30);
    const before = tf.memory().numTensors;
    for (let epoch = 0; epoch < 3; epoch++) {
      for await (const b of batches(ds, ds.items, { batchSize: 4, size: 4, shuffle: true, seed: epoch })) {
        const m = tf.tidy(() => tf.mean(b.images));
        m.dispose();
        b.images.dispose();
        if (epoch === 2) break;
      }
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('normalize applies (x − mean) / std per channel; skipInvalid from the dataset; other errors name the item', async () => {
    const { ds } = fakeDataset(3, { bad: new Set([1]) });
    ds.skipInvalid = true;
    const out: number[][] = [];
    for await (const b of batches(ds, ds.items, { batchSize: 2, size: 1, normalize: { mean: IMAGENET_MEAN, std: IMAGENET_STD } })) {
      out.push(Array.from(await b.images.data()));
      b.images.dispose();
    }
    expect(ds.skipped).toEqual([{ path: '/fake/1.png', reason: 'corrupt image (test)' }]);
    expect(out).toHaveLength(1);
    const x = 0.02; // item 2
    expect(out[0]!.slice(3)).toEqual([0, 1, 2].map((c) => Math.fround((Math.fround(x) - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!)));
    const broken: ImageDataset = { ...ds, load: () => Promise.reject(new Error('disk on fire')) };
    const run = async () => {
      for await (const b of batches(broken, ds.items, { batchSize: 2, size: 1 })) b.images.dispose();
    };
    await expect(run()).rejects.toThrow(/loading \/fake\/0\.png failed: disk on fire/);
    await expect(batches(ds, ds.items, { batchSize: 0, size: 1 }).next()).rejects.toThrow(/batchSize must be a positive whole number/);
  });
});
