import * as tf from '@tensorflow/tfjs-core';

/** Activations the encoders use after a convolution (+ BatchNorm). */
export type Activation = 'linear' | 'relu' | 'relu6';

/** Padding of one convolution: symmetric pixels on each side (PyTorch) or TensorFlow's rule. */
export type ConvPadding = number | 'same' | 'valid';

/** Eval-mode BatchNorm parameters, kept only when BatchNorm is not folded into the convolution. */
export interface BatchNormParams {
  gamma: tf.Tensor1D;
  beta: tf.Tensor1D;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  epsilon: number;
}

/**
 * One convolution followed by eval-mode BatchNorm: either folded (filter scaled per output
 * channel, BatchNorm's shift as a bias) or kept apart (`batchNorm` set, no bias).
 */
export interface ConvUnit {
  name: string;
  kind: 'conv' | 'depthwise';
  /** HWIO for 'conv'; [kh, kw, C, multiplier] for 'depthwise'. */
  filter: tf.Tensor4D;
  bias?: tf.Tensor1D;
  batchNorm?: BatchNormParams;
  kernel: number;
  stride: number;
  pad: ConvPadding;
  inChannels: number;
  outChannels: number;
}

/** Raw weights of a convolution + BatchNorm pair, in the layout TensorFlow.js uses (HWIO). */
export interface ConvBnWeights {
  name: string;
  kind: 'conv' | 'depthwise';
  /** HWIO for 'conv'; [kh, kw, C, multiplier] for 'depthwise'. */
  filter: Float32Array;
  filterShape: [number, number, number, number];
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
  stride: number;
  pad: ConvPadding;
}

/**
 * Builds a unit from raw weights. Folding computes, in float64,
 * `scale = γ / √(var + ε)`, `filter' = filter · scale[out]`, `bias = β − mean · scale`, so eval-mode
 * BatchNorm costs nothing at run time; the test compares folded and unfolded outputs.
 */
export function makeConvUnit(w: ConvBnWeights, fold: boolean): ConvUnit {
  const [kh, kw, cin, last] = w.filterShape;
  if (kh !== kw) throw new Error(`${w.name}: only square kernels are supported, got ${kh}×${kw}`);
  const outChannels = w.kind === 'conv' ? last : cin * last;
  for (const [field, arr] of [['gamma', w.gamma], ['beta', w.beta], ['mean', w.mean], ['variance', w.variance]] as const) {
    if (arr.length !== outChannels) {
      throw new Error(`${w.name}: BatchNorm ${field} has ${arr.length} values for a convolution with ${outChannels} output channels`);
    }
  }
  const base = { name: w.name, kind: w.kind, kernel: kh, stride: w.stride, pad: w.pad, inChannels: cin, outChannels };
  if (!fold) {
    return {
      ...base,
      filter: tf.tensor4d(w.filter, w.filterShape),
      batchNorm: {
        gamma: tf.tensor1d(w.gamma),
        beta: tf.tensor1d(w.beta),
        mean: tf.tensor1d(w.mean),
        variance: tf.tensor1d(w.variance),
        epsilon: w.epsilon,
      },
    };
  }
  const scale = new Float64Array(outChannels);
  const bias = new Float32Array(outChannels);
  for (let c = 0; c < outChannels; c++) {
    scale[c] = w.gamma[c]! / Math.sqrt(w.variance[c]! + w.epsilon);
    bias[c] = w.beta[c]! - w.mean[c]! * scale[c]!;
  }
  // In both layouts the output channel is the index modulo the product of the trailing axes.
  const folded = new Float32Array(w.filter.length);
  for (let i = 0; i < folded.length; i++) folded[i] = w.filter[i]! * scale[i % outChannels]!;
  return { ...base, filter: tf.tensor4d(folded, w.filterShape), bias: tf.tensor1d(bias) };
}

/**
 * Replaces the moving mean and variance of `w` by re-estimated ones when `statistics` has an entry
 * for its name (marking the name in `used`, so the caller can report entries that matched nothing).
 */
export function withStatistics(w: ConvBnWeights, statistics: BatchNormStatistics | undefined, used: Set<string>): ConvBnWeights {
  const s = statistics?.[w.name];
  if (!s) return w;
  used.add(w.name);
  return { ...w, mean: s.mean, variance: s.variance };
}

/**
 * Runs a unit (convolution, BatchNorm, activation) on an NHWC batch. With a `recorder` (unfolded
 * units only) BatchNorm runs as in training: it normalises with this batch's own statistics and
 * hands them to the recorder, so every later layer sees the statistics the new ones will give.
 */
export function applyConvUnit(x: tf.Tensor4D, unit: ConvUnit, activation: Activation, recorder?: BatchNormRecorder): tf.Tensor4D {
  // A number is a symmetric padding of that many pixels on each side in tfjs too (PyTorch's rule).
  const pad = unit.pad;
  if (recorder) {
    if (!unit.batchNorm) throw new Error(`${unit.name}: re-estimating BatchNorm statistics needs an encoder built with foldBatchNorm: false`);
    return tf.tidy((): tf.Tensor4D => {
      const y = unit.kind === 'conv' ? tf.conv2d(x, unit.filter, unit.stride, pad) : tf.depthwiseConv2d(x, unit.filter, unit.stride, pad);
      const { mean, variance } = tf.moments(y, [0, 1, 2]);
      recorder.add(unit.name, mean.dataSync(), variance.dataSync(), y.shape[0] * y.shape[1] * y.shape[2]);
      const bn = unit.batchNorm!;
      const z = tf.batchNorm(y, mean as tf.Tensor1D, variance as tf.Tensor1D, bn.beta, bn.gamma, bn.epsilon);
      if (activation === 'relu') return tf.relu(z);
      if (activation === 'relu6') return tf.relu6(z);
      return z;
    });
  }
  if (unit.bias) {
    const args = { x, filter: unit.filter, strides: unit.stride, pad, bias: unit.bias, activation };
    return unit.kind === 'conv' ? tf.fused.conv2d(args) : tf.fused.depthwiseConv2d(args);
  }
  return tf.tidy(() => {
    const y =
      unit.kind === 'conv'
        ? tf.conv2d(x, unit.filter, unit.stride, pad)
        : tf.depthwiseConv2d(x, unit.filter, unit.stride, pad);
    const bn = unit.batchNorm!;
    const z = tf.batchNorm(y, bn.mean, bn.variance, bn.beta, bn.gamma, bn.epsilon);
    if (activation === 'relu') return tf.relu(z);
    if (activation === 'relu6') return tf.relu6(z);
    return z;
  });
}

/** Output size of a convolution or pooling window along one axis. */
export function outputSize(size: number, kernel: number, stride: number, pad: ConvPadding): number {
  if (pad === 'same') return Math.ceil(size / stride);
  if (pad === 'valid') return Math.floor((size - kernel) / stride) + 1;
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

/** Multiply-adds of a unit on one image of the given size, and the size it produces. */
export function convUnitCost(unit: ConvUnit, height: number, width: number): { macs: number; height: number; width: number } {
  const h = outputSize(height, unit.kernel, unit.stride, unit.pad);
  const w = outputSize(width, unit.kernel, unit.stride, unit.pad);
  const perPixel = unit.kind === 'conv' ? unit.kernel * unit.kernel * unit.inChannels * unit.outChannels : unit.kernel * unit.kernel * unit.outChannels;
  return { macs: h * w * perPixel, height: h, width: w };
}

export function disposeConvUnit(unit: ConvUnit): void {
  unit.filter.dispose();
  unit.bias?.dispose();
  if (unit.batchNorm) {
    unit.batchNorm.gamma.dispose();
    unit.batchNorm.beta.dispose();
    unit.batchNorm.mean.dispose();
    unit.batchNorm.variance.dispose();
  }
}

/**
 * Per-channel statistics of each convolution's output (the input of its BatchNorm), keyed by the
 * convolution's name (`conv_pw_11` for MobileNet, `layer3.0.conv2` for a ResNet): what replaces
 * the moving mean and variance the weights came with.
 */
export type BatchNormStatistics = Record<string, { mean: Float32Array; variance: Float32Array }>;

/**
 * Pools the batch statistics of every BatchNorm over one pass: in float64, weighted by the number
 * of values each batch had, so the result is the mean and (biased) variance over all the pixels of
 * all the images, whatever the batch sizes.
 */
export class BatchNormRecorder {
  private readonly sums = new Map<string, { count: number; sum: Float64Array; sumSquares: Float64Array }>();

  add(name: string, mean: ArrayLike<number>, variance: ArrayLike<number>, count: number): void {
    let s = this.sums.get(name);
    if (!s) {
      s = { count: 0, sum: new Float64Array(mean.length), sumSquares: new Float64Array(mean.length) };
      this.sums.set(name, s);
    }
    for (let c = 0; c < mean.length; c++) {
      s.sum[c]! += count * mean[c]!;
      s.sumSquares[c]! += count * (variance[c]! + mean[c]! * mean[c]!);
    }
    s.count += count;
  }

  /** Layers seen so far. */
  get size(): number {
    return this.sums.size;
  }

  statistics(): BatchNormStatistics {
    const out: BatchNormStatistics = {};
    for (const [name, s] of this.sums) {
      const mean = new Float32Array(s.sum.length);
      const variance = new Float32Array(s.sum.length);
      for (let c = 0; c < mean.length; c++) {
        const m = s.sum[c]! / s.count;
        mean[c] = m;
        variance[c] = Math.max(0, s.sumSquares[c]! / s.count - m * m);
      }
      out[name] = { mean, variance };
    }
    return out;
  }
}
