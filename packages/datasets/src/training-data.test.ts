import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { DataError, DATASET_KINDS, folderSplits, openData } from './kinds.js';
import { trainingData } from './training-data.js';

async function writeFolder(root: string, parts: Record<string, Record<string, number>>): Promise<void> {
  const png = await sharp(Buffer.alloc(8 * 8, 128), { raw: { width: 8, height: 8, channels: 1 } }).png().toBuffer();
  for (const [split, classes] of Object.entries(parts)) {
    for (const [cls, n] of Object.entries(classes)) {
      await mkdir(join(root, split, cls), { recursive: true });
      for (let i = 0; i < n; i++) await writeFile(join(root, split, cls, `img_${i}.png`), png);
    }
  }
}

describe('openData and trainingData on small folders', () => {
  it('opens the kinds by name, and says what is wrong', async () => {
    const root = await mkdtemp(join(tmpdir(), 'aeflow-kinds-'));
    await writeFolder(root, { train: { NORMAL: 3, PNEUMONIA: 2 }, test: { NORMAL: 2, PNEUMONIA: 2 } });
    expect(await folderSplits(root)).toEqual(['train', 'test']);
    const test = await openData({ data: root, dataset: 'chest-xray' });
    expect([test!.name, test!.items.length]).toEqual(['chest-xray/test', 4]);
    expect(await openData({ data: root, split: 'val' })).toBeNull();
    const files = await openData({ data: [join(root, 'test', 'NORMAL', 'img_0.png')] });
    expect(files!.items.map((i) => i.label)).toEqual([null]);
    await expect(openData({ data: root, dataset: 'imagenet' })).rejects.toThrow(new DataError(`--dataset: unknown dataset "imagenet"; use one of ${DATASET_KINDS.join(', ')}`));
    await expect(openData({ data: join(root, 'nowhere') })).rejects.toThrow(/--data: .*nowhere does not exist/);
    await expect(openData({ data: root, dataset: 'medmnist:' })).rejects.toThrow(/name the MedMNIST dataset/);
  });

  it('uses the data\'s own test split, else holds out a seeded part of train, never trained on', async () => {
    const withTest = await mkdtemp(join(tmpdir(), 'aeflow-kinds-'));
    await writeFolder(withTest, { train: { NORMAL: 6, PNEUMONIA: 1 }, test: { NORMAL: 2, PNEUMONIA: 2 } });
    const a = await trainingData({ data: withTest, dataset: 'folder', normalClasses: ['NORMAL'], skipInvalid: false, holdout: 200, seed: 0 });
    expect([a.train.items.length, a.validation!.items.length]).toEqual([6, 4]);
    expect(a.final).toBe(a.validation);
    const trainOnly = await mkdtemp(join(tmpdir(), 'aeflow-kinds-'));
    await writeFolder(trainOnly, { train: { NORMAL: 20, PNEUMONIA: 6 } });
    const b = await trainingData({ data: trainOnly, dataset: 'folder', normalClasses: ['NORMAL'], skipInvalid: false, holdout: 5, seed: 3 });
    // --holdout 5, capped at 20 % of the 20 normals: 4 normal + 4 anomalous held out
    expect(b.train.items.length).toBe(16);
    expect(b.validation!.items.length + b.final!.items.length).toBe(8);
    const trained = new Set(b.train.items.map((i) => i.id));
    expect([...b.validation!.items, ...b.final!.items].some((i) => trained.has(i.id))).toBe(false);
    const again = await trainingData({ data: trainOnly, dataset: 'folder', normalClasses: ['NORMAL'], skipInvalid: false, holdout: 5, seed: 3 });
    expect(again.final!.items.map((i) => i.id)).toEqual(b.final!.items.map((i) => i.id));
    await expect(trainingData({ data: trainOnly, dataset: 'folder', normalClasses: ['HEALTHY'], skipInvalid: false, holdout: 5, seed: 3 })).rejects.toThrow(/normal|HEALTHY/);
  });
});

const home = process.env.AEFLOW_HOME;

describe('trainingData on the shared data', () => {
  it.skipIf(!home)('chest X-ray with its val/ folder (20 % of the official test): all training normals train, val/ validates (needs AEFLOW_HOME: set it to the shared folder)', async () => {
    const options = { data: join(home!, 'data', 'chest-xray'), dataset: 'chest-xray', normalClasses: ['NORMAL'], skipInvalid: false, holdout: 200, seed: 0 };
    const d = await trainingData(options);
    expect(d.train.items.length).toBe(1341);
    expect(d.train.items.every((i) => i.label === 0)).toBe(true);
    expect(d.validation!.items.length).toBe(47 + 78);
    expect(d.validation!.items.filter((i) => i.label === 0).length).toBe(47);
    expect(d.how).toContain('val');
  });

  it.skipIf(!home)('chest X-ray (train folder only): an honest, seeded hold-out (needs AEFLOW_HOME: set it to the shared folder)', async () => {
    // Only the train/ folder, as the data was before val/ existed: the carved split.
    const root = await mkdtemp(join(tmpdir(), 'aeflow-chest-train-only-'));
    await symlink(join(home!, 'data', 'chest-xray', 'train'), join(root, 'train'), 'dir');
    const options = { data: root, dataset: 'chest-xray', normalClasses: ['NORMAL'], skipInvalid: false, holdout: 200, seed: 0 };
    const d = await trainingData(options);
    expect(d.train.items.length).toBe(1341 - 200);
    expect(d.train.items.every((i) => i.label === 0)).toBe(true);
    expect(d.validation!.items.length + d.final!.items.length).toBe(400);
    const trainIds = new Set(d.train.items.map((i) => i.id));
    expect([...d.validation!.items, ...d.final!.items].some((i) => trainIds.has(i.id))).toBe(false);
    const again = await trainingData(options);
    expect(again.final!.items.map((i) => i.id)).toEqual(d.final!.items.map((i) => i.id));
  });

  it.skipIf(!home)('MedMNIST: train normals, validation and final scoring on the val split (needs AEFLOW_HOME: set it to the shared folder)', async () => {
    const d = await trainingData({ data: join(home!, 'data', 'medmnist'), dataset: 'medmnist:pneumoniamnist', normalClasses: [], skipInvalid: false, holdout: 200, seed: 0 });
    expect(d.train.items.every((i) => i.label === 0)).toBe(true);
    expect(d.validation).toBe(d.final);
    expect(d.validation!.items.some((i) => i.label === 1)).toBe(true);
  });
});
