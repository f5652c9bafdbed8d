import { estimateBatchNormStatistics, type BatchNormStatistics } from '@aeflow/backbone';
import { loadImageBatch } from '@aeflow/datasets';
import type { RunConfig } from './config.js';
import { encoderFromConfig } from './encoder-config.js';
import type { DataSplit } from './feature-batches.js';
import type { RunFolder } from './run-folder.js';

/**
 * `encoder.batchNorm: 'train-normals'`: the encoder's BatchNorm statistics re-estimated on the
 * training images (one pass, no labels, no gradients), written atomically to the run's
 * encoder-batchnorm.safetensors. Returns them.
 */
export async function estimateOnTrainingImages(config: RunConfig, train: Required<DataSplit>, folder: RunFolder): Promise<BatchNormStatistics> {
  const unfolded = await encoderFromConfig(config, undefined, false);
  try {
    // batches of ≥ 16 keep each batch's normalisation close to the pooled statistics
    const bs = Math.max(16, config.train.batchSize);
    const items = train.items;
    const stats = await estimateBatchNormStatistics(
      unfolded,
      (async function* () {
        for (let i = 0; i < items.length; i += bs) yield (await loadImageBatch(train.dataset, items.slice(i, i + bs), { size: config.size })).images;
      })(),
    );
    await folder.writeBatchNormStatistics(stats, { images: String(items.length), dataset: train.dataset.name, size: String(config.size) });
    return stats;
  } finally {
    unfolded.dispose();
  }
}
