import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@aeflow/tensor/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidImageError } from './errors.js';
import { loadImageBatch } from './load-batch.js';
import type { DecodedImage, ImageDataset, ImageItem, LoadOptions } from './types.js';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
});

/** Images of constant value index / 100; `bad` ones fail to decode, `broken` ones fail otherwise. */
function dataset(n: number, opts: { bad?: number[]; broken?: number[]; skipInvalid?: boolean } = {}): ImageDataset & { calls: LoadOptions[] } {
  const items: ImageItem[] = Array.from({ length: n }, (_, i) => ({ id: `img${i}`, label: i % 2 === 0 ? 0 : 1, source: { kind: 'file', path: `/fake/${i}.png` } }));
  const calls: LoadOptions[] = [];
  return {
    name: 'fake',
    items,
    skipped: [],
    skipInvalid: opts.skipInvalid ?? false,
    calls,
    load: async (item: ImageItem, o: LoadOptions): Promise<DecodedImage> => {
      calls.push(o);
      const i = Number(item.id.slice(3));
      await new Promise((r) => setTimeout(r, (n - i) % 3)); // out-of-order completion
      if (opts.bad?.includes(i)) throw new InvalidImageError(`/fake/${i}.png`, 'corrupt image (test)');
      if (opts.broken?.includes(i)) throw new Error('disk on fire');
      const c = o.channels ?? 3;
      return { id: item.id, label: item.label, data: new Float32Array(o.size * o.size * c).fill(i / 100), width: o.size, height: o.size, channels: c };
    },
  };
}

describe('loadImageBatch', () => {
  it('one NHWC batch in the order asked for, 3 channels by default', async () => {
    const ds = dataset(5);
    const b = await loadImageBatch(ds, ds.items.slice(1, 4), { size: 2 });
    expect(b.images.shape).toEqual([3, 2, 2, 3]);
    expect(b.items.map((i) => i.id)).toEqual(['img1', 'img2', 'img3']);
    expect(b.skipped).toEqual([]);
    const v = await b.images.data();
    expect([v[0], v[12], v[24]].map((x) => Math.round(x! * 100))).toEqual([1, 2, 3]);
    expect(ds.calls.every((c) => c.channels === 3 && c.size === 2)).toBe(true);
    b.images.dispose();
    const gray = await loadImageBatch(ds, ds.items.slice(0, 1), { size: 2, channels: 1 });
    expect(gray.images.shape).toEqual([1, 2, 2, 1]);
    gray.images.dispose();
  });

  it('skipInvalid: files that fail to decode are reported, the dataset is not changed', async () => {
    const ds = dataset(6, { bad: [1, 4], skipInvalid: true });
    const before = tf.memory().numTensors;
    const b = await loadImageBatch(ds, ds.items, { size: 2 });
    expect(b.items.map((i) => i.id)).toEqual(['img0', 'img2', 'img3', 'img5']);
    expect(b.images.shape[0]).toBe(4);
    expect(b.skipped).toEqual([
      { path: '/fake/1.png', reason: 'corrupt image (test)' },
      { path: '/fake/4.png', reason: 'corrupt image (test)' },
    ]);
    expect(ds.skipped).toEqual([]);
    b.images.dispose();
    // all skipped: an empty batch, still a tensor the caller disposes
    const none = await loadImageBatch(ds, [ds.items[1]!], { size: 2 });
    expect([none.images.shape, none.items.length, none.skipped.length]).toEqual([[0, 2, 2, 3], 0, 1]);
    none.images.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('without skipInvalid the first bad file stops the load with its path; other errors always stop it', async () => {
    const strict = dataset(3, { bad: [2] });
    await expect(loadImageBatch(strict, strict.items, { size: 2 })).rejects.toThrow('/fake/2.png: corrupt image (test)');
    // the option overrides the dataset's default either way
    expect((await loadImageBatch(strict, strict.items, { size: 2, skipInvalid: true })).skipped).toHaveLength(1);
    const broken = dataset(3, { broken: [0], skipInvalid: true });
    await expect(loadImageBatch(broken, broken.items, { size: 2 })).rejects.toThrow('disk on fire');
  });
});
