import * as tf from '@tensorflow/tfjs-core';
import { loadImageBatch, type ImageDataset, type ImageItem, type SkippedFile } from '@aeflow/datasets';
import type { FeatureCache } from './feature-cache.js';
import type { AnomalyModel } from './model-types.js';

/** A dataset and the items of it to use (default: all of its items). */
export interface DataSplit {
  dataset: ImageDataset;
  items?: readonly ImageItem[];
}

/**
 * The items a split uses: the given ones, else all of the dataset's (for training: all whose label
 * is not 1). None is an error naming the dataset.
 */
export function resolveSplit(split: DataSplit, use: 'train' | 'validation' | 'score'): Required<DataSplit> {
  const items = split.items ?? (use === 'train' ? split.dataset.items.filter((it) => it.label !== 1) : split.dataset.items);
  if (items.length === 0) throw new Error(`${split.dataset.name}: no images to ${use === 'train' ? 'train on' : use === 'validation' ? 'validate on' : 'score'}`);
  return { dataset: split.dataset, items };
}

/** A batch of encoder features and their images. */
export interface FeatureBatch {
  features: tf.Tensor4D;
  images: tf.Tensor4D;
  /** The items in the batch: fewer than asked for when files were skipped (`dataset.skipInvalid`), maybe none. */
  items: ImageItem[];
  /** Files of this batch left out because they failed to decode (`dataset.skipInvalid`). */
  skipped: SkippedFile[];
}

/**
 * Yields batches of features + images for `order` (indices into the split's items): from the
 * cache, or by loading and encoding (prefetching the next load). Without a cache, files that fail
 * to decode are skipped when `dataset.skipInvalid` and reported in each batch's `skipped`.
 */
export async function* featureBatches(model: AnomalyModel, split: Required<DataSplit>, cache: FeatureCache | null, order: readonly number[], batchSize: number): AsyncGenerator<FeatureBatch> {
  const chunks: ImageItem[][] = [];
  for (let i = 0; i < order.length; i += batchSize) chunks.push(order.slice(i, i + batchSize).map((k) => split.items[k]!));
  if (cache) {
    for (const chunk of chunks) yield { ...cache.batch(chunk.map((it) => it.id)), items: chunk, skipped: [] };
    return;
  }
  const load = (chunk: ImageItem[]) => loadImageBatch(split.dataset, chunk, { size: model.config.size });
  let next = chunks.length > 0 ? load(chunks[0]!) : undefined;
  try {
    for (let c = 0; c < chunks.length; c++) {
      const { images, items, skipped } = await next!;
      next = c + 1 < chunks.length ? load(chunks[c + 1]!) : undefined;
      const features = items.length > 0 ? model.encode(images) : tf.zeros<tf.Rank.R4>([0, model.featureSize, model.featureSize, model.featureChannels]);
      yield { features, images, items, skipped };
    }
  } finally {
    // stopped early (abort): the prefetched batch is nobody's
    if (next) void next.then((t) => t.images.dispose(), () => undefined);
  }
}
