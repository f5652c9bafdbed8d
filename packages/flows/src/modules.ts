import * as tf from '@tensorflow/tfjs-core';
import { assignWeight, takeWeight, type WeightSpec } from './checks.js';
import { batchNormRelu, conv2dSame, linearWithBias } from './fused.js';
import { uniformArray, type UniformRandom } from './random.js';

/**
 * `x2d · w` with a hand-written gradient that transposes before multiplying: the built-in
 * gradient computes `xᵀ·dy` with `transposeA`, which the wasm backend runs about 15× slower
 * than a transpose followed by a plain matMul (TFJS-NOTES).
 */
type CustomGradFunc = Parameters<typeof tf.customGrad>[0];

const matMulExplicitTranspose = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy)];
    },
  };
}) as CustomGradFunc) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/**
 * Applies a [cIn, cOut] matrix to the last axis of a channels-last tensor of any rank ≥ 2
 * (a 1×1 convolution, a dense layer, a permutation matrix).
 */
export function channelMatMul(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  const cIn = x.shape[x.rank - 1]!;
  const cOut = w.shape[1]!;
  const flat = tf.reshape<tf.Rank.R2>(x, [-1, cIn]);
  const out = matMulExplicitTranspose(flat, w as tf.Tensor2D);
  return tf.reshape(out, [...x.shape.slice(0, -1), cOut]);
}

/** Initial values of a conv / linear layer. */
export type LayerInit = 'pytorch' | 'zeros';

/** How a Conv is saved: as PyTorch's Conv2d (`[out, in, kh, kw]`) or Linear (`[out, in]`). */
export type TorchLayout = 'conv' | 'linear';

/** TensorFlow.js conv filter [kh, kw, in, out] → PyTorch [out, in, kh, kw], and back. */
const TF_TO_TORCH_CONV = [3, 2, 0, 1];
const TORCH_TO_TF_CONV = [2, 3, 1, 0];

/**
 * A convolution with bias, stride 1, 'same' padding. 1×1 kernels run as one matMul over all
 * positions (works on any rank); k×k kernels need NHWC input. The variables are in TensorFlow.js
 * layout: `weight` [k, k, in, out] (a 1×1 kernel as [in, out]) and `bias` [out].
 *
 * Saved (getWeights / setWeights) in PyTorch layout: `weight` [out, in, k, k] as Conv2d, or
 * [out, in] as Linear (`torchLayout: 'linear'`, 1×1 only), and `bias` [out].
 *
 * 'pytorch' initialisation is PyTorch's default for Conv2d / Linear (kaiming_uniform with a=√5):
 * weight and bias uniform in ±1/√fan_in. 'zeros' makes the layer output 0 at the start (used for
 * the last layer of a coupling subnet, so every block starts as the identity).
 */
export class Conv {
  readonly weight: tf.Variable;
  /** Absent for a conv followed by BatchNorm, which would cancel it. */
  readonly bias: tf.Variable | undefined;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    init: LayerInit,
    random: UniformRandom,
    withBias = true,
    readonly torchLayout: TorchLayout = 'conv',
  ) {
    if (torchLayout === 'linear' && kernelSize !== 1) throw new Error(`Conv: a ${kernelSize}×${kernelSize} kernel cannot be saved as a Linear weight`);
    const fanIn = inChannels * kernelSize * kernelSize;
    const bound = 1 / Math.sqrt(fanIn);
    const wShape = kernelSize === 1 ? [inChannels, outChannels] : [kernelSize, kernelSize, inChannels, outChannels];
    const wCount = fanIn * outChannels;
    const wValues = init === 'zeros' ? new Float32Array(wCount) : uniformArray(wCount, bound, random);
    const bValues = init === 'zeros' ? new Float32Array(outChannels) : uniformArray(outChannels, bound, random);
    this.weight = ownedVariable(tf.tensor(wValues, wShape, 'float32'), true);
    this.bias = withBias ? ownedVariable(tf.tensor1d(bValues, 'float32'), true) : undefined;
  }

  /** The PyTorch shape of `weight`: [out, in, k, k] (Conv2d) or [out, in] (Linear). */
  get torchWeightShape(): number[] {
    const k = this.kernelSize;
    return this.torchLayout === 'linear' ? [this.outChannels, this.inChannels] : [this.outChannels, this.inChannels, k, k];
  }

  apply(x: tf.Tensor): tf.Tensor {
    if (this.kernelSize === 1) {
      if (!this.bias) return channelMatMul(x, this.weight);
      return linearWithBias(x, this.weight as tf.Tensor2D, this.bias as tf.Tensor1D);
    }
    // Not tf.fused.conv2d: its gradient (a customGrad) always computes the filter gradient too,
    // so even a gradient with respect to the input alone would need Conv2DBackpropFilter, which
    // the wasm backend lacks as shipped. conv2dSame falls back to tf.conv2d in that case.
    const y = conv2dSame(x as tf.Tensor4D, this.weight as tf.Tensor4D);
    return this.bias ? tf.add(y, this.bias) : y;
  }

  get variables(): tf.Variable[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  /** New tensors in PyTorch layout (the caller disposes them). */
  getWeights(): Record<string, tf.Tensor> {
    const weight = tf.tidy(() =>
      this.kernelSize === 1
        ? tf.reshape(tf.transpose(this.weight), this.torchWeightShape) // [in, out] → [out, in(, 1, 1)]
        : tf.transpose(this.weight, TF_TO_TORCH_CONV),
    );
    return this.bias ? { weight, bias: tf.clone(this.bias) } : { weight };
  }

  weightSpecs(): Record<string, WeightSpec> {
    const specs: Record<string, WeightSpec> = { weight: { shape: this.torchWeightShape, dtype: 'float32' } };
    if (this.bias) specs.bias = { shape: [this.outChannels], dtype: 'float32' };
    return specs;
  }

  /** Loads PyTorch-layout values (as getWeights returns them). */
  setWeights(weights: Record<string, tf.Tensor>): void {
    const toTf = (t: tf.Tensor): tf.Tensor =>
      this.kernelSize === 1 ? tf.transpose(tf.reshape(t, [this.outChannels, this.inChannels])) : tf.transpose(t, TORCH_TO_TF_CONV);
    assignWeight(weights, 'weight', this.weight, this.torchWeightShape, toTf);
    if (this.bias) assignWeight(weights, 'bias', this.bias);
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
  }

  /** Multiply-adds per output position (for FLOP counts). */
  get macsPerPosition(): number {
    return this.inChannels * this.outChannels * this.kernelSize * this.kernelSize;
  }
}

/**
 * BatchNorm over all axes but the channel axis, as PyTorch's BatchNorm2d: training mode
 * normalises with the batch mean and biased variance and updates the running statistics as
 * `running = (1 − momentum)·running + momentum·batch` (momentum 0.1, running variance unbiased,
 * eps 1e-5); eval mode uses the running statistics. Keys as PyTorch's state dict: `weight`,
 * `bias` (trainable), `running_mean`, `running_var` (not trainable), all [C], and
 * `num_batches_tracked` (int32 scalar: training-mode passes; PyTorch's int64, only informative
 * with momentum set). Offset and scale are always passed to
 * `tf.batchNorm`: without them its gradient crashes (TFJS-NOTES).
 */
export class BatchNorm {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  /** Training-mode passes so far (PyTorch's `num_batches_tracked`). */
  numBatchesTracked = 0;

  constructor(
    readonly channels: number,
    readonly momentum = 0.1,
    readonly epsilon = 1e-5,
  ) {
    this.weight = ownedVariable(tf.ones([channels]), true);
    this.bias = ownedVariable(tf.zeros([channels]), true);
    this.runningMean = ownedVariable(tf.zeros([channels]), false);
    this.runningVar = ownedVariable(tf.ones([channels]), false);
  }

  apply(x: tf.Tensor, training: boolean): tf.Tensor {
    if (!training) {
      return tf.batchNorm(x, this.runningMean, this.runningVar, this.bias, this.weight, this.epsilon);
    }
    const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
    const { mean, variance } = tf.moments(x, axes);
    const n = x.size / this.channels;
    const unbiased = n > 1 ? n / (n - 1) : 1;
    // The running statistics are plain values: update them outside any gradient recording.
    const m = this.momentum;
    const newMean = tf.tidy(() => tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m)));
    const newVar = tf.tidy(() => tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(variance, m * unbiased)));
    this.runningMean.assign(newMean);
    this.runningVar.assign(newVar);
    this.numBatchesTracked++;
    newMean.dispose();
    newVar.dispose();
    return tf.batchNorm(x, mean, variance, this.bias, this.weight, this.epsilon);
  }

  /**
   * relu(BatchNorm(x)) as one memory-lean op (see fused.ts), with the same statistics and
   * running-average updates as `apply`.
   */
  applyRelu(x: tf.Tensor, training: boolean): tf.Tensor {
    const gamma = this.weight as tf.Tensor1D;
    const beta = this.bias as tf.Tensor1D;
    if (!training) {
      return batchNormRelu(x, gamma, beta, this.epsilon, {
        training: false,
        runningMean: this.runningMean as tf.Tensor1D,
        runningVar: this.runningVar as tf.Tensor1D,
      });
    }
    const n = x.size / this.channels;
    const unbiased = n > 1 ? n / (n - 1) : 1;
    const m = this.momentum;
    return batchNormRelu(x, gamma, beta, this.epsilon, {
      training: true,
      onMoments: ({ mean, variance }) => {
        const newMean = tf.tidy(() => tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m)));
        const newVar = tf.tidy(() => tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(variance, m * unbiased)));
        this.runningMean.assign(newMean);
        this.runningVar.assign(newVar);
        this.numBatchesTracked++;
        tf.dispose([mean, variance, newMean, newVar]);
      },
    });
  }

  get variables(): tf.Variable[] {
    return [this.weight, this.bias];
  }

  /** New tensors (the caller disposes them), as PyTorch's BatchNorm2d state dict. */
  getWeights(): Record<string, tf.Tensor> {
    return {
      weight: tf.clone(this.weight),
      bias: tf.clone(this.bias),
      running_mean: tf.clone(this.runningMean),
      running_var: tf.clone(this.runningVar),
      num_batches_tracked: tf.scalar(this.numBatchesTracked, 'int32'),
    };
  }

  weightSpecs(): Record<string, WeightSpec> {
    const c: WeightSpec = { shape: [this.channels], dtype: 'float32' };
    return { weight: c, bias: c, running_mean: c, running_var: c, num_batches_tracked: { shape: [], dtype: 'int32' } };
  }

  setWeights(weights: Record<string, tf.Tensor>): void {
    const count = takeWeight(weights, 'num_batches_tracked', [], 'int32');
    assignWeight(weights, 'weight', this.weight);
    assignWeight(weights, 'bias', this.bias);
    assignWeight(weights, 'running_mean', this.runningMean);
    assignWeight(weights, 'running_var', this.runningVar);
    this.numBatchesTracked = count.dataSync()[0]!;
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
    this.runningMean.dispose();
    this.runningVar.dispose();
  }
}

/**
 * `x[..., perm]` (a gather on the last axis) with a gradient that is the gather by the inverse
 * permutation. The built-in gradient of `gather` needs UnsortedSegmentSum, which the wasm
 * backend lacks; a permutation's gradient is just the inverse permutation, exact and O(size),
 * where a one-hot matMul would cost C multiply-adds per element (17% of an 8-block flow's
 * FLOPs at C = 1024).
 */
export function permuteLastAxis(x: tf.Tensor, perm: tf.Tensor1D, inversePerm: tf.Tensor1D): tf.Tensor {
  const op = tf.customGrad(((input: tf.Tensor) => ({
    value: tf.gather(input, perm, input.rank - 1),
    gradFunc: (dy: tf.Tensor) => tf.gather(dy, inversePerm, dy.rank - 1),
  })) as CustomGradFunc);
  return op(x);
}

/** The inverse of a permutation given as an index array. */
export function invertPermutation(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inv[p] = i;
  });
  return inv;
}

/** Throws unless `perm` holds each of 0..n-1 exactly once. */
export function checkPermutation(perm: ArrayLike<number>, n: number, what: string): void {
  if (perm.length !== n) throw new Error(`${what}: a permutation of ${n} channels needs ${n} entries, got ${perm.length}`);
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const p = perm[i]!;
    if (!Number.isInteger(p) || p < 0 || p >= n || seen[p]) {
      throw new Error(`${what}: not a permutation of 0..${n - 1} (entry ${i} is ${p}: out of range or repeated)`);
    }
    seen[p] = 1;
  }
}

/**
 * A variable made from a fresh tensor, which is then released: `tf.variable(t)` shares t's data
 * but leaves the handle t alive, so without this every variable would leak one tensor.
 */
export function ownedVariable(initial: tf.Tensor, trainable: boolean): tf.Variable {
  const v = tf.variable(initial, trainable);
  initial.dispose();
  return v;
}
