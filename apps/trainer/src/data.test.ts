import { mkdtemp, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { trainingData } from './data.js';

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
