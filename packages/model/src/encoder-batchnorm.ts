import * as tf from '@tensorflow/tfjs-core';
import type { BatchNormStatistics } from '@aeflow/backbone';
import { RUN_FILES, RunFileError } from './run-files.js';

/**
 * The run file `encoder-batchnorm.safetensors` (written with `encoder.batchNorm: 'train-normals'`):
 * the encoder's BatchNorm statistics re-estimated on the training normals, one pair of 1-D float32
 * tensors per convolution, `<conv>.mean` and `<conv>.variance`. Browser-safe: a page decodes the
 * file's bytes (`decodeSafetensors` from `@aeflow/tensor`), turns the tensors into statistics here
 * and builds the encoder with them (`buildEncoder({ …, batchNormStatistics })`); on Node,
 * `RunFolder.readBatchNormStatistics()` does both.
 */
export const ENCODER_BATCHNORM_FORMAT = 'aeflow-encoder-batchnorm';

const FIX = 'copy the file with the run folder unchanged, or train the run again to rewrite it';

/** The statistics in a decoded encoder-batchnorm.safetensors (the tensors stay the caller's to dispose). */
export function batchNormStatisticsFromTensors(tensors: Readonly<Record<string, tf.Tensor>>, file: string = RUN_FILES.encoderBatchNorm): BatchNormStatistics {
  const stats: BatchNormStatistics = {};
  for (const [key, t] of Object.entries(tensors)) {
    const m = /^(.+)\.(mean|variance)$/.exec(key);
    if (!m) throw new RunFileError(file, key, 'unexpected tensor; expected <convolution>.mean and <convolution>.variance', FIX);
    if (t.rank !== 1 || t.dtype !== 'float32') throw new RunFileError(file, key, `expected a 1-D float32 tensor, got shape [${t.shape.join(', ')}] ${t.dtype}`, FIX);
    const entry = (stats[m[1]!] ??= { mean: new Float32Array(0), variance: new Float32Array(0) });
    entry[m[2] as 'mean' | 'variance'] = Float32Array.from(t.dataSync() as Float32Array);
  }
  if (Object.keys(stats).length === 0) throw new RunFileError(file, null, 'holds no statistics', FIX);
  for (const [name, e] of Object.entries(stats)) {
    if (e.mean.length === 0 || e.mean.length !== e.variance.length) {
      throw new RunFileError(file, name, `needs both .mean and .variance of the same length (got ${e.mean.length} and ${e.variance.length})`, FIX);
    }
    for (let i = 0; i < e.variance.length; i++) {
      if (!Number.isFinite(e.mean[i]!) || !Number.isFinite(e.variance[i]!) || e.variance[i]! < 0) {
        throw new RunFileError(file, name, `channel ${i}: mean ${e.mean[i]}, variance ${e.variance[i]} (a variance must be finite and ≥ 0)`, FIX);
      }
    }
  }
  return stats;
}

/** The tensors of encoder-batchnorm.safetensors for these statistics (the caller disposes them). */
export function batchNormStatisticsTensors(stats: BatchNormStatistics): Record<string, tf.Tensor1D> {
  const tensors: Record<string, tf.Tensor1D> = {};
  for (const name of Object.keys(stats).sort()) {
    const s = stats[name]!;
    tensors[`${name}.mean`] = tf.tensor1d(s.mean, 'float32');
    tensors[`${name}.variance`] = tf.tensor1d(s.variance, 'float32');
  }
  return tensors;
}
