import { readdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { minimalDicom, syntheticImage, syntheticRows, writeFolderDataset, writeUnusualImages } from './index.js';

describe('@aeflow/test-fixtures', () => {
  it('rows and images are seeded: the same seed gives the same data, another seed other data', () => {
    expect(syntheticRows(3, 3, 5)).toEqual(syntheticRows(3, 3, 5));
    expect(syntheticRows(3, 3, 5)).not.toEqual(syntheticRows(3, 3, 6));
    const rows = syntheticRows(50, 50, 1);
    const mean = (l: 0 | 1) => rows.filter((r) => r.label === l).reduce((s, r) => s + r.total, 0) / 50;
    // anomalies score higher on average: tests that rank them rely on it
    expect(mean(1)).toBeGreaterThan(mean(0));
    const a = syntheticImage(16, true, 2);
    expect(Array.from(a.original.data)).toEqual(Array.from(syntheticImage(16, true, 2).original.data));
    // the "anomaly" is a bright spot the reconstruction lacks: the residual peaks there
    expect(Math.max(...a.residual.data)).toBeGreaterThan(0.3);
    expect(Math.max(...syntheticImage(16, false, 2).residual.data)).toBeLessThan(0.05);
  });

  it('writes a folder dataset of decodable PNGs in <root>/{train,test}/{NORMAL,PNEUMONIA}', async () => {
    const root = await mkdtemp(join(tmpdir(), 'aeflow-fixtures-'));
    await writeFolderDataset(root, { train: 2, testNormal: 1, testAnomalous: 3, size: 24 });
    expect(await readdir(join(root, 'train', 'NORMAL'))).toHaveLength(2);
    expect(await readdir(join(root, 'test', 'PNEUMONIA'))).toHaveLength(3);
    const meta = await sharp(join(root, 'test', 'NORMAL', 'img_0.png')).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 24, height: 24 });
    const unusual = await writeUnusualImages(join(root, 'unusual'));
    for (const path of unusual) if (!path.endsWith('.dcm')) expect((await sharp(path).metadata()).width, path).toBeGreaterThan(0);
  });

  it('minimalDicom is a Part 10 file with the pixels asked for', () => {
    const dcm = minimalDicom(2, 3, (i) => i * 100);
    expect(dcm.subarray(128, 132).toString('latin1')).toBe('DICM');
    // the pixel data are the file's last 2 × 3 16-bit words
    const pixels = dcm.subarray(dcm.length - 12);
    expect(Array.from({ length: 6 }, (_, i) => pixels.readUInt16LE(2 * i))).toEqual([0, 100, 200, 300, 400, 500]);
  });
});
