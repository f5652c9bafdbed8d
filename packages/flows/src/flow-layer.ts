import type * as tf from '@tensorflow/tfjs-core';
import type { WeightSpec } from './checks.js';

/** Options of one pass through a flow layer. */
export interface FlowOptions {
  /**
   * Training mode: BatchNorm in the `resnet` subnet normalises with the batch's statistics and
   * updates its running statistics; otherwise it uses the running statistics. Default false.
   */
  training?: boolean;
  /**
   * Check the input and each layer's output for NaN/Inf and throw an error naming the layer
   * (one small reduction and a read per layer). Default true; switch it off in a tight loop
   * once a model is known to be stable.
   */
  checkFinite?: boolean;
  /**
   * The condition of a conditional flow (FrEIA's `c`): a tensor with the input's leading shape
   * (`[batch, height, width, k]` for NHWC input; batch 1 is broadcast over the batch) whose
   * channels every coupling built with `conditionChannels: k` appends to its subnet's input.
   * The condition is not transformed and adds nothing to the log-det, so forward and inverse
   * must get the same one. Layers without a coupling ignore it.
   */
  condition?: tf.Tensor;
  /**
   * Declares the input NHWC. Layers refuse a rank-4 input whose height equals their channel
   * count while its width does not (the shape of an NCHW tensor whose width happens to equal its
   * channel count); pass `'NHWC'` when such a shape really is NHWC.
   */
  layout?: 'NHWC';
}

/**
 * The result of the forward (data → latent) direction. (A type alias rather than an interface
 * so that `tf.dispose(result)` accepts it.)
 */
export type FlowResult = {
  y: tf.Tensor;
  /** log |det ∂y/∂x| per sample, shape [batch]. */
  logDet: tf.Tensor1D;
};

/** The result of the inverse (latent → data) direction. */
export type InverseResult = {
  x: tf.Tensor;
  /** log |det ∂x/∂y| per sample, shape [batch]: the negative of the forward log-det at x. */
  logDet: tf.Tensor1D;
};

/**
 * One invertible layer. Inputs are channels-last: NHWC `[batch, height, width, channels]`, or
 * `[batch, features]` (and any rank in between) for layers that act per position.
 *
 * Weights: `getWeights()` returns NEW tensors with PyTorch names and layouts (conv weights
 * [out, in, kh, kw], linear weights [out, in], biases and BatchNorm statistics [C], actnorm
 * `global_scale` / `global_offset` [1, C, 1, 1] as FrEIA, permutations as int32 index vectors):
 * the caller disposes them. The variables themselves stay in TensorFlow.js layout (conv filters
 * [kh, kw, in, out], 1×1 / dense [in, out]); conversion happens only in getWeights / setWeights.
 */
export interface FlowLayer {
  readonly name: string;
  forward(x: tf.Tensor, options?: FlowOptions): FlowResult;
  inverse(y: tf.Tensor, options?: FlowOptions): InverseResult;
  readonly trainableVariables: tf.Variable[];
  getWeights(): Record<string, tf.Tensor>;
  /**
   * Copies values into the layer. Every key of `getWeights()` must be present with the same
   * shape; unknown keys are an error too (so a checkpoint of another architecture cannot load
   * silently). Tensors passed in are not kept or disposed.
   */
  setWeights(weights: Record<string, tf.Tensor>): void;
  /** Shape and dtype of every key of getWeights(), without copying anything. */
  weightSpecs?(): Record<string, WeightSpec>;
  dispose(): void;
}
