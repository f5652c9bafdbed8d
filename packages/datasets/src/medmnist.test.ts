import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { medmnistAsset, medmnistDataset, MEDMNIST_INFO } from './medmnist.js';
import { makeNpy, tempDir } from './test-helpers.js';

const HOME = process.env.AEFLOW_HOME;

describe('medmnistDataset on a .npz the test writes', () => {
  let dir = '';
  let cleanup: () => Promise<void> = () => Promise.resolve();
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    // 3 gray 2×2 train images (labels as MedMNIST stores them: N×1), 1 val image; no test arrays.
    const npz = zipSync({
      'train_images.npy': makeNpy('|u1', [3, 2, 2], Uint8Array.from([0, 255, 255, 0, 10, 10, 10, 10, 50, 100, 150, 200])),
      'train_labels.npy': makeNpy('|u1', [3, 1], Uint8Array.from([0, 1, 1])),
      'val_images.npy': makeNpy('|u1', [1, 2, 2], Uint8Array.from([1, 2, 3, 4])),
      'val_labels.npy': makeNpy('|u1', [1, 1], Uint8Array.from([1])),
    });
    await writeFile(join(dir, 'breastmnist.npz'), npz);
    await mkdir(join(dir, 'home', 'data', 'medmnist'), { recursive: true });
    await writeFile(join(dir, 'home', 'data', 'medmnist', 'pneumoniamnist.npz'), npz);
    const rgb = zipSync({
      'train_images.npy': makeNpy('|u1', [1, 1, 2, 3], Uint8Array.from([255, 0, 0, 0, 0, 255])),
      'train_labels.npy': makeNpy('|u1', [1, 1], Uint8Array.from([5])),
    });
    await writeFile(join(dir, 'dermamnist.npz'), rgb);
    const chest = zipSync({
      'train_images.npy': makeNpy('|u1', [2, 1, 1], Uint8Array.from([0, 0])),
      'train_labels.npy': makeNpy('|u1', [2, 14], Uint8Array.from([...new Array<number>(14).fill(0), 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1])),
    });
    await writeFile(join(dir, 'chestmnist.npz'), chest);
    await writeFile(join(dir, 'bloodmnist.npz'), chest);
  });
  afterAll(() => cleanup());

  it('labels by the per-dataset normal map (BreastMNIST: 1 is normal/benign)', async () => {
    const ds = await medmnistDataset(join(dir, 'breastmnist.npz'), { split: 'train' });
    expect(ds.name).toBe('breastmnist/train');
    expect(ds.items.map((i) => i.label)).toEqual([1, 0, 0]);
    expect(ds.items.map((i) => i.className)).toEqual(['malignant', 'normal, benign', 'normal, benign']);
    expect(ds.items[2]!.source).toEqual({ kind: 'array', file: join(dir, 'breastmnist.npz'), array: 'train_images', index: 2 });
    const img = await ds.load(ds.items[2]!, { size: 2, channels: 1 });
    expect(Array.from(img.data).map((v) => Math.round(v * 255))).toEqual([50, 100, 150, 200]);
    const small = await ds.load(ds.items[0]!, { size: 1, channels: 3 });
    expect(Array.from(small.data)).toEqual([0.5, 0.5, 0.5]);
  });

  it('a missing split is a clear error naming the arrays present', async () => {
    await expect(medmnistDataset(join(dir, 'breastmnist.npz'), { split: 'test' })).rejects.toThrow(
      /has no test_images and test_labels array, so it has no "test" split \(arrays present: train_images, train_labels, val_images, val_labels\)/,
    );
  });

  it('a name resolves through the asset cache (data/medmnist/<name>.npz), offline', async () => {
    const ds = await medmnistDataset('pneumoniamnist', { split: 'val', asset: { home: join(dir, 'home'), download: false } });
    expect(ds.items).toHaveLength(1);
    expect(ds.items[0]!.label).toBe(1); // PneumoniaMNIST: 1 is pneumonia
    await expect(medmnistDataset('octmnist', { split: 'train', asset: { home: join(dir, 'home'), download: false } })).rejects.toThrow(
      /data\/medmnist\/octmnist\.npz is not in the asset cache .* downloads are off/,
    );
  });

  it('RGB images, ChestMNIST multi-label (no finding = normal), datasets without a normal class', async () => {
    await expect(medmnistDataset(join(dir, 'dermamnist.npz'), { split: 'train' })).rejects.toThrow(/the ISIC 2018 convention is \[5\], melanocytic nevi/);
    const derma = await medmnistDataset(join(dir, 'dermamnist.npz'), { split: 'train', normalClasses: [5] });
    expect(derma.items[0]!.label).toBe(0);
    expect(derma.items[0]!.className).toBe('melanocytic nevi');
    const img = await derma.load(derma.items[0]!, { size: 1, channels: 3 });
    expect(Array.from(img.data)).toEqual([0.5, 0, 0.5]);
    const chest = await medmnistDataset(join(dir, 'chestmnist.npz'), { split: 'train' });
    expect(chest.items.map((i) => [i.label, i.className])).toEqual([
      [0, 'no finding'],
      [1, 'pneumonia|hernia'],
    ]);
    await expect(medmnistDataset(join(dir, 'bloodmnist.npz'), { split: 'train' })).rejects.toThrow(/bloodmnist has no normal class in the MedMNIST docs; pass normalClasses .*0 basophil/);
    const blood = await medmnistDataset(join(dir, 'bloodmnist.npz'), { split: 'train', normalClasses: [0] });
    expect(blood.items.map((i) => i.label)).toEqual([0, 0]);
  });

  it('asset entries carry the Zenodo URL and the published MD5', () => {
    expect(medmnistAsset('pneumoniamnist')).toEqual({
      path: 'data/medmnist/pneumoniamnist.npz',
      url: 'https://zenodo.org/records/10519652/files/pneumoniamnist.npz?download=1',
      md5: '28209eda62fecd6e6a2d98b1501bb15f',
      license: 'CC BY 4.0',
    });
    expect(medmnistAsset('breastmnist', 224).path).toBe('data/medmnist/breastmnist_224.npz');
    expect(Object.values(MEDMNIST_INFO).every((i) => Object.values(i.md5).every((m) => /^[0-9a-f]{32}$/.test(m)))).toBe(true);
    expect(() => medmnistAsset('nosuchmnist')).toThrow(/unknown dataset "nosuchmnist"/);
  });
});

describe('medmnistDataset on the shared copies', () => {
  it.skipIf(!HOME)('PneumoniaMNIST and BreastMNIST train/val from $AEFLOW_HOME/data/medmnist (needs AEFLOW_HOME: set it to the shared folder)', async () => {
    const asset = { download: false };
    const pneu = await medmnistDataset('pneumoniamnist', { split: 'train', asset });
    // The shared copy is balanced: all 1214 normal training images of MedMNIST and 1214 pneumonia.
    expect(pneu.items).toHaveLength(2428);
    expect(pneu.items.filter((i) => i.label === 0)).toHaveLength(1214);
    expect(pneu.items.filter((i) => i.className === 'pneumonia')).toHaveLength(1214);
    const img = await pneu.load(pneu.items[0]!, { size: 64, channels: 3 });
    expect(img.data).toHaveLength(64 * 64 * 3);
    expect(Math.max(...img.data)).toBeGreaterThan(0.3);
    const breastVal = await medmnistDataset('breastmnist', { split: 'val', asset });
    expect(breastVal.items).toHaveLength(78);
    const breastTrain = await medmnistDataset('breastmnist', { split: 'train', asset });
    expect(breastTrain.items).toHaveLength(546);
    // BreastMNIST's label 1 (normal or benign, 399 of 546) is the normal class here.
    expect(breastTrain.items.filter((i) => i.label === 0)).toHaveLength(399);
    expect(breastTrain.items.filter((i) => i.label === 0).every((i) => i.className === 'normal, benign')).toBe(true);
    await expect(medmnistDataset('breastmnist', { split: 'test', asset })).rejects.toThrow(/arrays present: train_images, train_labels, val_images, val_labels/);
  });
});
