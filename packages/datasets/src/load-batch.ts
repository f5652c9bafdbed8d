import * as tf from '@tensorflow/tfjs-core';
import { InvalidImageError } from './errors.js';
import type { DecodedImage, ImageDataset, ImageItem, LoadOptions, SkippedFile } from './types.js';

export interface LoadImageBatchOptions extends LoadOptions {
  /**
   * Leave out files that fail to decode (an `InvalidImageError`) and report them in `skipped`
   * (default: `dataset.skipInvalid`); otherwise the first such file stops the load with its path
   * and reason. Any other error always stops it.
   */
  skipInvalid?: boolean;
}

/** A batch of images and what went into it. */
export interface LoadedImageBatch {
  /** N × size × size × channels, float32 in [0, 1]; N = `items.length` (maybe 0). The caller disposes it. */
  images: tf.Tensor4D;
  /** The items in the batch, in the order asked for, less those skipped. */
  items: ImageItem[];
  /** Files left out because they failed to decode (only with `skipInvalid`), in the order asked for. */
  skipped: SkippedFile[];
}

/**
 * Loads items of a dataset as one NHWC batch at `options.size` (3 channels unless
 * `options.channels` says otherwise), decoding them concurrently. Files that fail to decode are
 * reported in `skipped` with `skipInvalid` — the dataset is not changed: the caller decides where
 * the list goes (a run's skipped.json). Needs a tfjs backend.
 */
export async function loadImageBatch(dataset: ImageDataset, items: readonly ImageItem[], options: LoadImageBatchOptions): Promise<LoadedImageBatch> {
  const { skipInvalid = dataset.skipInvalid, ...load } = options;
  const size = load.size;
  const channels = load.channels ?? 3;
  const results = await Promise.allSettled(items.map((item) => dataset.load(item, { ...load, channels })));
  const decoded: DecodedImage[] = [];
  const kept: ImageItem[] = [];
  const skipped: SkippedFile[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') {
      decoded.push(r.value);
      kept.push(items[i]!);
      return;
    }
    const err: unknown = r.reason;
    if (!(skipInvalid && err instanceof InvalidImageError)) throw err;
    skipped.push({ path: err.path, reason: err.reason });
  });
  const per = size * size * channels;
  const data = new Float32Array(decoded.length * per);
  decoded.forEach((d, i) => {
    if (d.width !== size || d.height !== size || d.channels !== channels) {
      throw new Error(`${dataset.name}: ${d.id} loaded as ${d.width}×${d.height}×${d.channels}, expected ${size}×${size}×${channels}`);
    }
    data.set(d.data, i * per);
  });
  return { images: tf.tensor4d(data, [decoded.length, size, size, channels]), items: kept, skipped };
}
