import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { folderDataset } from '@aeflow/datasets/node';
import { trainRun } from '@aeflow/model/node';
import { SeededRandom } from '@aeflow/tensor';

/** A configuration that trains in seconds on wasm: a random tiny ResNet encoder at 32 px. */
export const TINY_CONFIG = {
  preset: 'cpu',
  encoder: { arch: { block: 'basic', layers: [1, 1, 1] }, weights: 'random', tap: 'layer3' },
  size: 32,
  flow: { blocks: 2, hiddenChannels: 16 },
  decoder: { widths: null },
  train: { epochs: 1, batchSize: 4, validateEvery: 1, featureCache: false, seed: 3 },
} as const;

/** A gray 32×32 PNG with soft structure, and a bright spot when `spot`. */
async function png(seed: number, spot: boolean): Promise<Buffer> {
  const r = new SeededRandom(seed);
  const size = 32;
  const px = Buffer.alloc(size * size);
  const cx = 0.3 + 0.4 * r.uniform();
  const cy = 0.3 + 0.4 * r.uniform();
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / size;
      const v = y / size;
      const base = 0.35 + 0.25 * Math.sin(6 * u) * Math.cos(4 * v) + 0.03 * r.uniform();
      const s = spot ? 0.5 * Math.exp(-((u - cx) ** 2 + (v - cy) ** 2) / 0.004) : 0;
      px[y * size + x] = Math.round(Math.min(1, base + s) * 255);
    }
  }
  return sharp(px, { raw: { width: size, height: size, channels: 1 } }).png().toBuffer();
}

/**
 * `<root>/{train,test}/{NORMAL,PNEUMONIA}/img_<i>.png` (anomalies carry a spot), and with
 * `corrupt` one file in test/PNEUMONIA that is not an image (`broken.png`).
 */
export async function writeTinyDataset(root: string, counts: { train: number; testNormal: number; testAnomalous: number; corrupt?: boolean }): Promise<void> {
  let seed = 11;
  const write = async (dir: string, n: number, spot: boolean) => {
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < n; i++) await writeFile(join(dir, `img_${i}.png`), await png(seed++, spot));
  };
  await write(join(root, 'train', 'NORMAL'), counts.train, false);
  await write(join(root, 'test', 'NORMAL'), counts.testNormal, false);
  await write(join(root, 'test', 'PNEUMONIA'), counts.testAnomalous, true);
  if (counts.corrupt) await writeFile(join(root, 'test', 'PNEUMONIA', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\n this is not the rest of a PNG'));
}

/** Trains the tiny run on `<data>/train` into `runDir`. */
export async function trainTinyRun(data: string, runDir: string): Promise<void> {
  const train = await folderDataset(data, { split: 'train', normalClasses: ['NORMAL'] });
  await trainRun({ runDir, config: TINY_CONFIG, train: { dataset: train }, cacheDir: null });
}
