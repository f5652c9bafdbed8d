import * as tf from '@tensorflow/tfjs-core';
import { BatchNormRecorder, type BatchNormStatistics } from './conv-unit.js';
import type { Encoder } from './encoder.js';

export { BatchNormRecorder, type BatchNormStatistics } from './conv-unit.js';

/**
 * Re-estimates an encoder's BatchNorm statistics on a set of images, with no labels and no
 * gradients: one pass in which every BatchNorm normalises with the batch's own mean and variance
 * (as in training) while the recorder pools them over all pixels of all images. The result replaces
 * the ImageNet running statistics (`createEncoder({ …, batchNormStatistics })`), and is then the
 * same for every image scored — estimated once on a domain's training normals, not per site or per
 * image (per-site statistics would normalise away the shift that marks an anomaly).
 *
 * `encoder` must be built with `foldBatchNorm: false`. `batches` yields NHWC images in [0, 1]
 * (1 or 3 channels); each batch is disposed once used. Batches of 16 or more keep the per-batch
 * normalisation close to the pooled statistics.
 */
export async function estimateBatchNormStatistics(encoder: Encoder, batches: AsyncIterable<tf.Tensor4D> | Iterable<tf.Tensor4D>): Promise<BatchNormStatistics> {
  if (encoder.describe().foldBatchNorm) {
    throw new Error(`estimateBatchNormStatistics: the ${encoder.id} encoder has BatchNorm folded into its convolutions; build it with createEncoder({ …, foldBatchNorm: false })`);
  }
  const recorder = new BatchNormRecorder();
  let images = 0;
  // for await also walks a plain iterable
  for await (const batch of batches as AsyncIterable<tf.Tensor4D>) {
    try {
      tf.tidy(() => {
        const feats = encoder.features(encoder.normalize(batch), recorder);
        return Object.values<tf.Tensor>(feats);
      }).forEach((t) => t.dispose());
      images += batch.shape[0];
    } finally {
      batch.dispose();
    }
    // let timers and signals run between batches (a pass over a training set takes a while)
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  if (images === 0) throw new Error('estimateBatchNormStatistics: no images were given');
  return recorder.statistics();
}
