import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SeededRandom } from '@aeflow/tensor';
import sharp from 'sharp';

/** A seeded uniform [0, 1) generator for test data (@aeflow/tensor's SeededRandom). */
function rng(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.uniform();
}

/** An 8-bit gray PNG with soft structure; anomalies carry a bright spot. */
async function syntheticPng(size: number, anomalous: boolean, seed: number): Promise<Buffer> {
  const r = rng(seed);
  const cx = 0.3 + 0.4 * r();
  const cy = 0.3 + 0.4 * r();
  const bytes = Buffer.alloc(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / size;
      const v = y / size;
      const base = 0.35 + 0.25 * Math.sin(6 * u) * Math.cos(4 * v) + 0.03 * r();
      const spot = anomalous ? 0.5 * Math.exp(-((u - cx) ** 2 + (v - cy) ** 2) / 0.004) : 0;
      bytes[y * size + x] = Math.round(Math.min(1, Math.max(0, base + spot)) * 255);
    }
  }
  return sharp(bytes, { raw: { width: size, height: size, channels: 1 } }).png().toBuffer();
}

/**
 * Writes a tiny chest-X-ray-like folder dataset: `<root>/<split>/{NORMAL,PNEUMONIA}/img_<i>.png`
 * for each split given with its normal and anomalous counts.
 */
export async function writeFolderDataset(root: string, splits: Record<string, { normal: number; anomalous: number }>, size = 32): Promise<void> {
  let seed = 11;
  for (const [split, counts] of Object.entries(splits)) {
    for (const [cls, n, anomalous] of [['NORMAL', counts.normal, false], ['PNEUMONIA', counts.anomalous, true]] as const) {
      const dir = join(root, split, cls);
      await mkdir(dir, { recursive: true });
      for (let i = 0; i < n; i++) await writeFile(join(dir, `img_${i}.png`), await syntheticPng(size, anomalous, seed++));
    }
  }
}

/** Settings small enough to train in seconds on wasm: a random tiny ResNet encoder at 32 px. */
export const TINY_SETTINGS = {
  // the settings these tests were written against (the cpu preset since issue 14 re-estimates the
  // encoder's BatchNorm statistics, l2-normalises + noises the features and scores by latent kNN)
  encoder: { arch: { block: 'basic', layers: [1, 1, 1] }, weights: 'random', tap: 'layer3', batchNorm: 'pretrained' },
  size: 32,
  flow: { blocks: 2, hiddenChannels: 16, featureNorm: 'none' },
  decoder: { widths: null },
  score: { flow: 'density' },
  train: { epochs: 2, batchSize: 4, validateEvery: 1, seed: 3, featureNoise: 0 },
};
