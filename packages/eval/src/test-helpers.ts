import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SeededRandom } from '@aeflow/tensor';
import sharpLib from 'sharp';
import type { FloatImage, PixelMap } from '@aeflow/report';
import type { ScoreRow } from './evaluate.js';

/** A seeded uniform [0, 1) generator for test data (@aeflow/tensor's SeededRandom). */
function rng(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.uniform();
}

/** Score rows where anomalies score higher on average in both parts. */
export function syntheticRows(normal: number, anomalous: number, seed = 1): ScoreRow[] {
  const r = rng(seed);
  const rows: ScoreRow[] = [];
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  for (let i = 0; i < normal + anomalous; i++) {
    const label = i < normal ? 0 : 1;
    const flow = -Math.exp(-1.2 + 0.3 * gauss() - (label ? 0.5 : 0));
    const recon = -0.8 + 0.05 * gauss() + (label ? 0.07 : 0);
    rows.push({ id: `${label ? 'PNEUMONIA' : 'NORMAL'}/img ${i}.png`, label, flow, recon, total: 0.9 * flow + 0.1 * recon, predicted: null });
  }
  return rows;
}

/** A gray image with soft structure and, when `blob`, a bright spot; and its "reconstruction" without the spot. */
export function syntheticImage(size: number, blob: boolean, seed = 1): { original: FloatImage; reconstruction: FloatImage; residual: PixelMap } {
  const r = rng(seed);
  const cx = 0.3 + 0.4 * r();
  const cy = 0.3 + 0.4 * r();
  const orig = new Float32Array(size * size);
  const rec = new Float32Array(size * size);
  const res = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / size;
      const v = y / size;
      const base = 0.35 + 0.25 * Math.sin(6 * u) * Math.cos(4 * v) + 0.03 * r();
      const spot = blob ? 0.5 * Math.exp(-((u - cx) ** 2 + (v - cy) ** 2) / 0.004) : 0;
      const i = y * size + x;
      orig[i] = base + spot;
      rec[i] = base + 0.02 * (r() - 0.5);
      res[i] = Math.abs(orig[i] - rec[i]);
    }
  }
  return {
    original: { width: size, height: size, channels: 1, data: orig },
    reconstruction: { width: size, height: size, channels: 1, data: rec },
    residual: { width: size, height: size, data: res },
  };
}

export function syntheticHistory(epochs: number, stepsPerEpoch: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let step = 0;
  for (let e = 1; e <= epochs; e++) {
    for (let s = 0; s < stepsPerEpoch; s++) {
      step++;
      out.push({ type: 'step', epoch: e, step, loss: 2 / Math.sqrt(step) + 0.5, flowNll: 1.5 / Math.sqrt(step), recon: 0.4 / step + 0.1, lr: 2e-4, imagesPerSecond: 30 + (step % 5) });
    }
    out.push({ type: 'epoch', epoch: e, step, valAuroc: 0.6 + 0.3 * (1 - Math.exp(-e / 3)) });
  }
  return out;
}

/** Writes a tiny folder dataset: <root>/{train,test}/{NORMAL,PNEUMONIA}/*.png (anomalies carry a bright spot). */
export async function writeFolderDataset(root: string, counts: { train: number; testNormal: number; testAnomalous: number; size?: number; seed?: number }): Promise<void> {
  const size = counts.size ?? 32;
  let seed = counts.seed ?? 7;
  const write = async (dir: string, n: number, blob: boolean) => {
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < n; i++) {
      const img = syntheticImage(size, blob, seed++).original;
      const bytes = Buffer.alloc(size * size);
      img.data.forEach((v, k) => (bytes[k] = Math.round(Math.min(1, Math.max(0, v)) * 255)));
      await sharpLib(bytes, { raw: { width: size, height: size, channels: 1 } }).png().toFile(join(dir, `img_${i}.png`));
    }
  };
  await write(join(root, 'train', 'NORMAL'), counts.train, false);
  await write(join(root, 'test', 'NORMAL'), counts.testNormal, false);
  await write(join(root, 'test', 'PNEUMONIA'), counts.testAnomalous, true);
}

/** A configuration small enough to train in seconds on wasm: a random tiny ResNet encoder at 32 px. */
export const TINY_CONFIG = {
  preset: 'cpu',
  // the settings these tests were written against (the cpu preset since issue 14 re-estimates the
  // encoder's BatchNorm statistics, l2-normalises + noises the features and scores by latent kNN)
  encoder: { arch: { block: 'basic', layers: [1, 1, 1] }, weights: 'random', tap: 'layer3', batchNorm: 'pretrained' },
  size: 32,
  flow: { blocks: 2, hiddenChannels: 16, featureNorm: 'none' },
  decoder: { widths: null },
  score: { flow: 'density' },
  train: { epochs: 2, batchSize: 4, validateEvery: 1, featureCache: false, seed: 3, featureNoise: 0 },
} as const;

