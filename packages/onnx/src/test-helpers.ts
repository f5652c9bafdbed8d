// Helpers shared by this package's tests (not exported from the package entry).
import * as tf from '@tensorflow/tfjs-core';
import { type Encoder } from '@aeflow/backbone';
import { createEncoder } from '@aeflow/backbone/node';
import { AEFlow, resolveConfig, type RunConfig } from '@aeflow/model';
import { SeededRandom } from '@aeflow/tensor';
import type { ImageDataset, ImageItem } from '@aeflow/datasets';

/** A tiny model configuration (32-px images, a one-block-per-stage random ResNet tapped at layer3, 2 flow blocks). */
export function tinyConfig(overrides: Record<string, unknown> = {}): RunConfig {
  const o = overrides as { flow?: object; score?: object; encoder?: object; decoder?: object };
  return resolveConfig({
    preset: 'cpu',
    size: 32,
    ...overrides,
    encoder: { arch: { block: 'basic', layers: [1, 1, 1] }, weights: 'random', tap: 'layer3', ...o.encoder },
    flow: { blocks: 2, hiddenChannels: 32, ...o.flow },
    decoder: { widths: [32, 16, 8], ...o.decoder },
    score: { beta: 0.7, flow: 'density', ...o.score },
  });
}

/**
 * A model of the config whose trained weights are all non-trivial: the freshly built flow is the
 * identity (its last convolutions start at zero), which would hide a wrong coupling in an export.
 */
export async function perturbedModel(config: RunConfig, seed = 3): Promise<AEFlow> {
  const encoder = await createEncoder({
    arch: config.encoder.arch,
    weights: 'random',
    taps: [config.encoder.tap],
    seed: 0,
  });
  const model = new AEFlow(config, encoder);
  const weights = perturb(model, seed);
  model.setWeights(weights);
  tf.dispose(Object.values(weights));
  return model;
}

/** The trained weights (flow, decoder) of a fresh model of the config, perturbed as {@link perturbedModel}'s; the caller disposes them. */
export function perturbedWeights(config: RunConfig, encoder: Encoder, seed = 3): Record<string, tf.Tensor> {
  const model = new AEFlow(config, encoder);
  try {
    return perturb(model, seed);
  } finally {
    model.dispose(true);
  }
}

function perturb(model: AEFlow, seed: number): Record<string, tf.Tensor> {
  const rng = new SeededRandom(seed);
  const weights = model.getWeights();
  const changed: Record<string, tf.Tensor> = {};
  for (const [k, t] of Object.entries(weights)) {
    if (t.dtype !== 'float32' || k.endsWith('.sign')) {
      changed[k] = t;
      continue;
    }
    // (t is replaced below and disposed)
    const data = Float32Array.from(t.dataSync());
    for (let i = 0; i < data.length; i++) data[i] = k.endsWith('running_var') ? 0.5 + rng.uniform() : data[i]! + 0.05 * rng.normal();
    changed[k] = tf.tensor(data, t.shape);
    t.dispose();
  }
  return changed;
}

/** Smooth gray or RGB test images in [0, 1], NHWC, with a bright square on the odd ones. */
export function testImages(n: number, size: number, channels: 1 | 3, seed = 1): { data: Float32Array; shape: [number, number, number, number] } {
  const rng = new SeededRandom(seed);
  const data = new Float32Array(n * size * size * channels);
  for (let b = 0; b < n; b++) {
    const angle = rng.uniform() * Math.PI;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const square = b % 2 === 1 && x > size / 4 && x < size / 2 && y > size / 3 && y < (2 * size) / 3;
        for (let c = 0; c < channels; c++) {
          const v = square ? 0.95 : 0.3 + 0.4 * ((Math.cos(angle) * x + Math.sin(angle) * y) / (2 * size) + 0.5) + 0.05 * rng.normal() + 0.05 * c;
          data[((b * size + y) * size + x) * channels + c] = Math.min(1, Math.max(0, v));
        }
      }
    }
  }
  return { data, shape: [n, size, size, channels] };
}

/**
 * Largest |a − b| / max(|b|, floor) over two arrays; `floor` defaults to 1e-6 of the largest |b|
 * (elements near zero are compared on the array's scale, not their own).
 */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor?: number): number {
  if (a.length !== b.length) throw new Error(`maxRelativeError: lengths ${a.length} and ${b.length}`);
  let largest = 0;
  for (let i = 0; i < b.length; i++) largest = Math.max(largest, Math.abs(b[i]!));
  floor ??= Math.max(1e-6 * largest, 1e-30);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(b[i]!), floor));
  return worst;
}

/** NHWC → NCHW of a tensor's values. */
export function toNchw(data: ArrayLike<number>, [n, h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n!; b++) for (let y = 0; y < h!; y++) for (let x = 0; x < w!; x++) for (let k = 0; k < c!; k++) out[((b * c! + k) * h! + y) * w! + x] = data[((b * h! + y) * w! + x) * c! + k]!;
  return out;
}

/** Largest |a − b| over the largest |b|: the error on the array's own scale (for maps and feature maps, whose elements cross zero). */
export function maxScaleError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxScaleError: lengths ${a.length} and ${b.length}`);
  let largest = 0;
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    largest = Math.max(largest, Math.abs(b[i]!));
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  }
  return largest === 0 ? worst : worst / largest;
}

/** An in-memory dataset of {@link testImages} (label 1 on the odd ones), for training a tiny run. */
export function syntheticDataset(name: string, count: number, size: number, seed = 1): ImageDataset {
  const { data } = testImages(count, size, 3, seed);
  const items: ImageItem[] = Array.from({ length: count }, (_, i) => ({ id: `${name}/${i}`, label: i % 2 === 1 ? 1 : 0, source: { kind: 'file', path: `${i}.png` } }));
  return {
    name,
    items,
    load: (item) => {
      const i = Number(item.id.slice(item.id.lastIndexOf('/') + 1));
      const per = size * size * 3;
      return Promise.resolve({ id: item.id, label: item.label, data: data.slice(i * per, (i + 1) * per), width: size, height: size, channels: 3 });
    },
    skipped: [],
    skipInvalid: false,
  };
}
