import * as tf from '@tensorflow/tfjs-core';
import { checkInput, checkPositiveInt, prefixSpecs, prefixWeights, rejectUnknownKeys, setChildWeights, type WeightSpec } from './checks.js';
import { readConfig, type FlowConfig } from './config.js';
import { Conv } from './modules.js';
import { seededRandom, type UniformRandom } from './random.js';
import type { Subnet, SubnetConfig, SubnetFactory } from './subnet.js';

export interface MlpSubnetConfig extends SubnetConfig {
  /** Hidden layers (each linear → ReLU). Default 2. */
  hiddenLayers?: number;
}

/**
 * A per-position MLP (linear → ReLU, `hiddenLayers` times, then linear), i.e. 1×1 convolutions:
 * for `[batch, features]` data such as the 2-D toy sets, and any channels-last rank.
 * Keys `fc1.*` … `fc<n+1>.*`, saved as PyTorch Linear: `weight` [out, in], `bias` [out].
 */
export class MlpSubnet implements Subnet {
  readonly name = 'mlp';
  readonly layers: Conv[];
  readonly hiddenChannels: number;
  readonly hiddenLayers: number;
  readonly zeroInitLast: boolean;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    random: UniformRandom,
    config: MlpSubnetConfig = {},
  ) {
    const hidden = (this.hiddenChannels = config.hiddenChannels ?? Math.max(outChannels, 16));
    checkPositiveInt(inChannels, 'MlpSubnet', 'inChannels');
    checkPositiveInt(outChannels, 'MlpSubnet', 'outChannels');
    checkPositiveInt(hidden, 'MlpSubnet', 'hiddenChannels');
    const depth = (this.hiddenLayers = config.hiddenLayers ?? 2);
    checkPositiveInt(depth, 'MlpSubnet', 'hiddenLayers');
    this.zeroInitLast = config.zeroInitLast !== false;
    this.layers = [];
    let width = inChannels;
    for (let i = 0; i < depth; i++) {
      this.layers.push(new Conv(width, hidden, 1, 'pytorch', random, true, 'linear'));
      width = hidden;
    }
    this.layers.push(new Conv(width, outChannels, 1, this.zeroInitLast ? 'zeros' : 'pytorch', random, true, 'linear'));
  }

  static readonly className = 'MlpSubnet';

  getClassName(): string {
    return MlpSubnet.className;
  }

  getConfig(): FlowConfig {
    return {
      inChannels: this.inChannels,
      outChannels: this.outChannels,
      hiddenChannels: this.hiddenChannels,
      hiddenLayers: this.hiddenLayers,
      zeroInitLast: this.zeroInitLast,
    };
  }

  /** Rebuilds the subnet a config describes (initial values from seed 0; load the weights after). */
  static fromConfig(config: FlowConfig): MlpSubnet {
    const c = readConfig(config, 'MlpSubnet.fromConfig', ['inChannels', 'outChannels', 'hiddenChannels', 'hiddenLayers', 'zeroInitLast']);
    return new MlpSubnet(c.inChannels as number, c.outChannels as number, seededRandom(0), c);
  }

  apply(x: tf.Tensor, _training: boolean): tf.Tensor {
    checkInput(x, 'MlpSubnet', this.inChannels);
    return tf.tidy(() => {
      let h = x;
      this.layers.forEach((layer, i) => {
        h = layer.apply(h);
        if (i < this.layers.length - 1) h = tf.relu(h);
      });
      return h;
    });
  }

  get trainableVariables(): tf.Variable[] {
    return this.layers.flatMap((l) => l.variables);
  }

  getWeights(): Record<string, tf.Tensor> {
    return Object.assign({}, ...this.layers.map((l, i) => prefixWeights(`fc${i + 1}.`, l.getWeights()))) as Record<
      string,
      tf.Tensor
    >;
  }

  weightSpecs(): Record<string, WeightSpec> {
    return Object.assign({}, ...this.layers.map((l, i) => prefixSpecs(`fc${i + 1}.`, l.weightSpecs()))) as Record<string, WeightSpec>;
  }

  setWeights(weights: Record<string, tf.Tensor>): void {
    rejectUnknownKeys(weights, Object.keys(this.weightSpecs()));
    this.layers.forEach((l, i) => setChildWeights(`fc${i + 1}.`, weights, l));
  }

  dispose(): void {
    for (const l of this.layers) l.dispose();
  }

  get macsPerPosition(): number {
    return this.layers.reduce((a, l) => a + l.macsPerPosition, 0);
  }
}

export function mlpSubnet(config: MlpSubnetConfig = {}): SubnetFactory {
  return (inChannels, outChannels, random) => new MlpSubnet(inChannels, outChannels, random, config);
}
