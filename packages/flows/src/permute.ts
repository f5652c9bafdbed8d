import * as tf from '@tensorflow/tfjs-core';
import { assertFinite, checkInput, checkLayout, checkPositiveInt, FlowWeightError, rejectUnknownKeys, takeWeight, type WeightSpec } from './checks.js';
import { readConfig, type FlowConfig } from './config.js';
import type { FlowLayer, FlowOptions, FlowResult, InverseResult } from './flow-layer.js';
import { checkPermutation, invertPermutation, permuteLastAxis } from './modules.js';
import { randomPermutation, seededRandom, type UniformRandom } from './random.js';

export interface PermuteConfig {
  channels: number;
  /**
   * `reverse` (the AE-FLOW paper's R: "reverses the ordering of the channels"), `random` (from
   * `random` / `seed`), or an explicit index array: output channel j is input channel perm[j].
   * Default `reverse`.
   */
  permutation?: 'reverse' | 'random' | readonly number[];
  seed?: number;
  random?: UniformRandom;
  name?: string;
}

/**
 * A fixed channel permutation (log-det 0). Saved with the layer as the int32 tensor
 * `permutation` (output channel j = input channel permutation[j]). Nothing is trainable.
 */
export class Permute implements FlowLayer {
  readonly name: string;
  readonly channels: number;
  private perm: tf.Tensor1D;
  private inversePerm: tf.Tensor1D;

  constructor(config: PermuteConfig) {
    this.name = config.name ?? 'permute';
    checkPositiveInt(config.channels, `Permute "${this.name}"`, 'channels');
    this.channels = config.channels;
    const choice = config.permutation ?? 'reverse';
    let perm: number[];
    if (choice === 'reverse') perm = Array.from({ length: this.channels }, (_, i) => this.channels - 1 - i);
    else if (choice === 'random') perm = randomPermutation(this.channels, config.random ?? seededRandom(config.seed ?? 0));
    else if (Array.isArray(choice)) perm = [...(choice as readonly number[])];
    else throw new Error(`Permute "${this.name}": permutation must be 'reverse', 'random' or an index array, got ${String(choice)}`);
    checkPermutation(perm, this.channels, `Permute "${this.name}"`);
    this.perm = tf.tensor1d(perm, 'int32');
    this.inversePerm = tf.tensor1d(invertPermutation(perm), 'int32');
  }

  /** The permutation as numbers (output channel j = input channel [j]). */
  get permutation(): number[] {
    return Array.from(this.perm.dataSync());
  }

  forward(x: tf.Tensor, options: FlowOptions = {}): FlowResult {
    return this.run(x, this.perm, this.inversePerm, 'forward', options);
  }

  inverse(y: tf.Tensor, options: FlowOptions = {}): InverseResult {
    const { y: x, logDet } = this.run(y, this.inversePerm, this.perm, 'inverse', options);
    return { x, logDet };
  }

  private run(x: tf.Tensor, p: tf.Tensor1D, pInv: tf.Tensor1D, direction: string, options: FlowOptions): FlowResult {
    const who = `Permute "${this.name}"`;
    checkInput(x, who, this.channels);
    checkLayout(x, who, this.channels, options.layout);
    if (options.checkFinite !== false) assertFinite(x, `${who}: ${direction} input`);
    return tf.tidy(() => ({
      y: permuteLastAxis(x, p, pInv),
      logDet: tf.zeros<tf.Rank.R1>([x.shape[0]]),
    }));
  }

  get trainableVariables(): tf.Variable[] {
    return [];
  }

  static readonly className = 'Permute';

  getClassName(): string {
    return Permute.className;
  }

  /** The settings as JSON-able values; the permutation itself is part of them (it is fixed, not learned). */
  getConfig(): FlowConfig {
    return { channels: this.channels, permutation: this.permutation, name: this.name };
  }

  static fromConfig(config: FlowConfig): Permute {
    const c = readConfig(config, 'Permute.fromConfig', ['channels', 'permutation', 'seed', 'name']);
    return new Permute(c as unknown as PermuteConfig);
  }

  /** A new int32 tensor (the caller disposes it). */
  getWeights(): Record<string, tf.Tensor> {
    return { permutation: tf.clone(this.perm) };
  }

  weightSpecs(): Record<string, WeightSpec> {
    return { permutation: { shape: [this.channels], dtype: 'int32' } };
  }

  setWeights(weights: Record<string, tf.Tensor>): void {
    rejectUnknownKeys(weights, ['permutation']);
    const t = takeWeight(weights, 'permutation', [this.channels], 'int32');
    const perm = Array.from(t.dataSync());
    try {
      checkPermutation(perm, this.channels, `Permute "${this.name}"`);
    } catch (err) {
      throw new FlowWeightError('permutation', 'value', `is invalid: ${(err as Error).message}`);
    }
    this.perm.dispose();
    this.inversePerm.dispose();
    this.perm = tf.tensor1d(perm, 'int32');
    this.inversePerm = tf.tensor1d(invertPermutation(perm), 'int32');
  }

  dispose(): void {
    this.perm.dispose();
    this.inversePerm.dispose();
  }
}
