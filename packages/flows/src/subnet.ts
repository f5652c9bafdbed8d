import type * as tf from '@tensorflow/tfjs-core';
import type { WeightSpec } from './checks.js';
import type { FlowConfig } from './config.js';
import type { UniformRandom } from './random.js';

/**
 * The network inside an affine coupling: maps the passive half [.., inChannels] to the coupling
 * coefficients [.., outChannels] (log-scales then shifts). It need not be invertible.
 */
export interface Subnet {
  readonly name: string;
  readonly inChannels: number;
  readonly outChannels: number;
  apply(x: tf.Tensor, training: boolean): tf.Tensor;
  readonly trainableVariables: tf.Variable[];
  /**
   * New tensors with PyTorch names and layouts (see FlowLayer.getWeights): the caller disposes
   * them.
   */
  getWeights(): Record<string, tf.Tensor>;
  /** Loads PyTorch-layout values as getWeights returns them; the given tensors are not kept. */
  setWeights(weights: Record<string, tf.Tensor>): void;
  /** Serialised shapes without copying (optional: else getWeights is called and released). */
  weightSpecs?(): Record<string, WeightSpec>;
  dispose(): void;
  /** Multiply-adds per input position of one forward pass (for FLOP counts in benchmarks). */
  readonly macsPerPosition: number;
  /**
   * The registered class name (see `registerSubnet`): with `getConfig` it lets a flow holding
   * this subnet be saved as JSON (`serializeFlow`). The built-in subnets have both.
   */
  getClassName?(): string;
  /** The subnet's settings as JSON-able values, including `inChannels` and `outChannels`. */
  getConfig?(): FlowConfig;
}

/** Builds a subnet for a coupling: the constructor argument of `AffineCoupling`. */
export type SubnetFactory = (inChannels: number, outChannels: number, random: UniformRandom) => Subnet;

/** Settings shared by the built-in subnets. */
export interface SubnetConfig {
  /** Width of the hidden layer. Default: the coupling's output width (2·⌊C/2⌋, ≈ C). */
  hiddenChannels?: number;
  /**
   * Initialise the last layer(s) to zero, so the subnet outputs 0 and the coupling starts as
   * the identity (Glow's zero-initialised last convolution). Default true.
   */
  zeroInitLast?: boolean;
}
