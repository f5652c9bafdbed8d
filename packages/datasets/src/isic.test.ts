import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isic2018Dataset } from './isic.js';
import { tempDir } from './test-helpers.js';

let dir = '';
let cleanup: () => Promise<void> = () => Promise.resolve();
const CSV = ['image,MEL,NV,BCC,AKIEC,BKL,DF,VASC', 'ISIC_0000001,0.0,1.0,0.0,0.0,0.0,0.0,0.0', 'ISIC_0000002,1.0,0.0,0.0,0.0,0.0,0.0,0.0', 'ISIC_0000003,0.0,0.0,0.0,0.0,0.0,0.0,1.0', 'ISIC_0000004,0.0,1.0,0.0,0.0,0.0,0.0,0.0'].join('\r\n');

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  for (const split of ['Training', 'Validation']) {
    await mkdir(join(dir, `ISIC2018_Task3_${split}_Input`), { recursive: true });
    await mkdir(join(dir, `ISIC2018_Task3_${split}_GroundTruth`), { recursive: true });
    await writeFile(join(dir, `ISIC2018_Task3_${split}_GroundTruth`, `ISIC2018_Task3_${split}_GroundTruth.csv`), (split === 'Validation' ? '\uFEFF' : '') + CSV + '\r\n'); // a BOM, as spreadsheet tools write
    for (const i of [1, 2, 3]) {
      const jpg = await sharp({ create: { width: 12, height: 9, channels: 3, background: { r: 200, g: 120, b: 90 } } })
        .jpeg()
        .toBuffer();
      await writeFile(join(dir, `ISIC2018_Task3_${split}_Input`, `ISIC_000000${i}.jpg`), jpg);
    }
  }
});
afterAll(() => cleanup());

describe('isic2018Dataset', () => {
  it('labels from the one-hot CSV: NV normal, every other class anomalous', async () => {
    const ds = await isic2018Dataset(dir, { split: 'val', skipInvalid: true });
    expect(ds.name).toBe('isic2018/val');
    expect(ds.items.map((i) => [i.id, i.className, i.label])).toEqual([
      ['ISIC_0000001', 'NV', 0],
      ['ISIC_0000002', 'MEL', 1],
      ['ISIC_0000003', 'VASC', 1],
    ]);
    expect(ds.skipped).toHaveLength(1);
    expect(ds.skipped[0]!.path).toMatch(/ISIC_0000004\.jpg$/);
    expect(ds.skipped[0]!.reason).toMatch(/image listed in .*GroundTruth\.csv is missing/);
    const img = await ds.load(ds.items[0]!, { size: 8, centerCrop: true });
    expect(img.data).toHaveLength(8 * 8 * 3);
    expect(img.data[0]).toBeGreaterThan(img.data[2]!);
  });

  it('a missing image stops the listing by default; a missing CSV or bad header is named', async () => {
    await expect(isic2018Dataset(dir, { split: 'train' })).rejects.toThrow(/ISIC_0000004\.jpg: image listed in/);
    await expect(isic2018Dataset(dir, { split: 'test' })).rejects.toThrow(/ground-truth CSV .*Test_GroundTruth\.csv not found/);
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, 'name,a,b\n');
    await expect(isic2018Dataset(dir, { split: 'val', groundTruthCsv: bad })).rejects.toThrow(/does not start with an "image,<class>,…" header/);
    await expect(isic2018Dataset(dir, { split: 'val', normalClasses: ['NEVUS'] })).rejects.toThrow(/normal class NEVUS is not a column/);
  });
});
