import * as tf from '@tensorflow/tfjs-core';

const LOG_2PI = Math.log(2 * Math.PI);

function dimsPerSample(z: tf.Tensor, what: string): number {
  if (z.rank < 2) throw new Error(`${what}: z must be [batch, ...] with rank >= 2, got shape [${z.shape.join(', ')}]`);
  return z.size / z.shape[0];
}

/** log N(z; 0, I) per sample: −½·Σ z² − ½·D·ln 2π, summed over all but the batch axis → [batch]. */
export function standardNormalLogProb(z: tf.Tensor): tf.Tensor1D {
  const d = dimsPerSample(z, 'standardNormalLogProb');
  return tf.tidy(() => {
    const flat = tf.reshape(z, [z.shape[0], -1]);
    return tf.sub<tf.Tensor1D>(tf.mul(tf.sum(tf.square(flat), 1), -0.5), 0.5 * d * LOG_2PI);
  });
}

function checkLogDet(z: tf.Tensor, logDet: tf.Tensor1D, what: string): void {
  if (logDet.rank !== 1 || logDet.shape[0] !== z.shape[0]) {
    throw new Error(`${what}: logDet must have shape [${z.shape[0]}] (one per sample), got [${logDet.shape.join(', ')}]`);
  }
}

/**
 * Negative log-likelihood per dimension, per sample, in nats: −(log N(z) + logDet) / D with
 * D = elements per sample (C·h·w). The AE-FLOW flow loss is its batch mean.
 */
export function nllPerDim(z: tf.Tensor, logDet: tf.Tensor1D): tf.Tensor1D {
  const d = dimsPerSample(z, 'nllPerDim');
  checkLogDet(z, logDet, 'nllPerDim');
  return tf.tidy(() => tf.div<tf.Tensor1D>(tf.neg(tf.add(standardNormalLogProb(z), logDet)), d));
}

export interface BitsPerDimOptions {
  /**
   * If the data were discrete with `levels` values per dimension scaled to [0, 1) by dividing by
   * `levels` (e.g. 256 for 8-bit images), add log2(levels) to turn the density of the scaled
   * data into bits per discrete value. Default: no correction.
   */
  levels?: number;
}

/** nllPerDim in bits (÷ ln 2), plus log2(levels) when `levels` is given. Per sample. */
export function bitsPerDim(z: tf.Tensor, logDet: tf.Tensor1D, options: BitsPerDimOptions = {}): tf.Tensor1D {
  const levels = options.levels;
  if (levels !== undefined && !(levels > 0)) throw new Error(`bitsPerDim: levels must be positive, got ${levels}`);
  return tf.tidy(() => {
    const bits = tf.div(nllPerDim(z, logDet), Math.LN2);
    return (levels === undefined ? bits : tf.add(bits, Math.log2(levels))) as tf.Tensor1D;
  });
}
