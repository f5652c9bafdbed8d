import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom } from '@aeflow/tensor';
import { InvalidImageError } from './errors.js';
import type { DecodedImage, ImageDataset, ImageItem, Label, LoadOptions, SkippedFile } from './types.js';

/** ImageNet channel means and standard deviations (RGB), for encoders trained on ImageNet. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

export interface BatchOptions extends LoadOptions {
  batchSize: number;
  /** Visit the items in a seeded random order (default false: the given order). */
  shuffle?: boolean;
  /** Seed of the shuffle (default 0); pass e.g. `seed + epoch` for a new order every epoch. */
  seed?: number;
  /** Batches decoded ahead while the consumer computes (default 2). Memory: (prefetch + 1) batches of images. */
  prefetch?: number;
  /** Images decoded at the same time (default 4; sharp decodes on libuv's thread pool). */
  concurrency?: number;
  /** Drop a last batch smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Skip files that fail to decode, listing them in `dataset.skipped` (default: `dataset.skipInvalid`). */
  skipInvalid?: boolean;
  /** Called for each skipped file. */
  onSkip?: (skipped: SkippedFile) => void;
  /** Per-channel normalisation applied to the [0, 1] pixels: (x − mean) / std (e.g. `IMAGENET_MEAN`, `IMAGENET_STD`). */
  normalize?: { mean: readonly number[]; std: readonly number[] };
}

export interface Batch {
  ids: string[];
  labels: Label[];
  /** N × size × size × channels, float32 in [0, 1] (or normalised). The consumer disposes it. */
  images: tf.Tensor4D;
}

type Outcome = { ok: true; image: DecodedImage } | { ok: false; item: ImageItem; error: unknown };

/** A counting semaphore: at most `n` decodes run at once. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((res) => waiting.push(res));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

function pathOf(item: ImageItem): string {
  const s = item.source;
  return s.kind === 'file' ? s.path : s.kind === 'array' ? `${s.file}:${s.array}[${s.index}]` : `${s.path}[z=${s.slice}]`;
}

/**
 * Streams batches of decoded images: at most (prefetch + 1) × batchSize images are in memory,
 * and decoding runs ahead while the consumer computes on the previous batch. A batch's `images`
 * tensor belongs to the consumer (dispose it). Needs a tfjs backend (`initBackend`).
 */
export async function* batches(dataset: ImageDataset, items: readonly ImageItem[], options: BatchOptions): AsyncGenerator<Batch> {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batches: batchSize must be a positive whole number, got ${batchSize}`);
  const prefetch = options.prefetch ?? 2;
  if (!Number.isInteger(prefetch) || prefetch < 0) throw new Error(`batches: prefetch must be a whole number >= 0, got ${prefetch}`);
  const channels = options.channels ?? 3;
  const size = options.size;
  const skipInvalid = options.skipInvalid ?? dataset.skipInvalid;
  const norm = options.normalize;
  if (norm && (norm.mean.length !== channels || norm.std.length !== channels)) {
    throw new Error(`batches: normalize needs ${channels} means and stds (one per channel), got ${norm.mean.length} and ${norm.std.length}`);
  }
  const order = options.shuffle ? new SeededRandom(options.seed ?? 0).shuffle([...items]) : [...items];
  const load: LoadOptions = { size, channels, centerCrop: options.centerCrop ?? false };
  if (options.maxPixels !== undefined) load.maxPixels = options.maxPixels;
  if (options.tolerateWarnings !== undefined) load.tolerateWarnings = options.tolerateWarnings;
  const limit = limiter(Math.max(1, options.concurrency ?? 4));
  const window = Math.max(1, prefetch) * batchSize;
  const inflight: Promise<Outcome>[] = [];
  let next = 0;
  const refill = () => {
    while (inflight.length < window && next < order.length) {
      const item = order[next++]!;
      inflight.push(
        limit(() => dataset.load(item, load)).then(
          (image): Outcome => ({ ok: true, image }),
          (error: unknown): Outcome => ({ ok: false, item, error }),
        ),
      );
    }
  };
  const pixels = size * size * channels;
  for (;;) {
    refill();
    const got: DecodedImage[] = [];
    while (got.length < batchSize && inflight.length > 0) {
      const outcome = await inflight.shift()!;
      refill();
      if (outcome.ok) got.push(outcome.image);
      else if (skipInvalid && outcome.error instanceof InvalidImageError) {
        const skipped = { path: outcome.error.path, reason: outcome.error.reason };
        dataset.skipped.push(skipped);
        options.onSkip?.(skipped);
      } else if (outcome.error instanceof InvalidImageError) {
        throw outcome.error;
      } else {
        throw new Error(`batches: loading ${pathOf(outcome.item)} failed: ${outcome.error instanceof Error ? outcome.error.message : String(outcome.error)}`, { cause: outcome.error });
      }
    }
    if (got.length === 0 || (options.dropLast && got.length < batchSize)) return;
    const data = new Float32Array(got.length * pixels);
    got.forEach((img, i) => data.set(img.data, i * pixels));
    if (norm) {
      for (let i = 0; i < data.length; i++) {
        const c = i % channels;
        data[i] = (data[i]! - norm.mean[c]!) / norm.std[c]!;
      }
    }
    yield {
      ids: got.map((g) => g.id),
      labels: got.map((g) => g.label),
      images: tf.tensor4d(data, [got.length, size, size, channels], 'float32'),
    };
  }
}
