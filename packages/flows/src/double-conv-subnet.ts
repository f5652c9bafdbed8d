import * as tf from '@tensorflow/tfjs-core';
import { checkInput, checkPositiveInt, prefixSpecs, prefixWeights, rejectUnknownKeys, setChildWeights, type WeightSpec } from './checks.js';
import { readConfig, type FlowConfig } from './config.js';
import { Conv } from './modules.js';
import { seededRandom, type UniformRandom } from './random.js';
import type { Subnet, SubnetConfig, SubnetFactory } from './subnet.js';

export interface DoubleConvSubnetConfig extends SubnetConfig {
  /** Kernel size of both convolutions. Default 3 (FastFlow alternates 3 and 1 between blocks unless `conv3x3_only`). */
  kernelSize?: number;
}

/**
 * FastFlow's subnet: k×k conv → ReLU → k×k conv, the same kernel size twice, 'same' padding
 * (for an even k one more zero after than before, as FastFlow's ZeroPad2d and TensorFlow's
 * 'same' both do). Keys as FastFlow's `nn.Sequential(ZeroPad2d, Conv2d, ReLU, ZeroPad2d, Conv2d)`
 * saves them: `1.weight`, `1.bias`, `4.weight`, `4.bias` (Conv2d, [out, in, k, k]). Hidden width
 * defaults to the input width (FastFlow's `hidden_ratio` 1). NHWC input only.
 */
export class DoubleConvSubnet implements Subnet {
  readonly name = 'double-conv';
  readonly conv1: Conv;
  readonly conv2: Conv;
  readonly hiddenChannels: number;
  readonly kernelSize: number;
  readonly zeroInitLast: boolean;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    random: UniformRandom,
    config: DoubleConvSubnetConfig = {},
  ) {
    checkPositiveInt(inChannels, 'DoubleConvSubnet', 'inChannels');
    checkPositiveInt(outChannels, 'DoubleConvSubnet', 'outChannels');
    const hidden = (this.hiddenChannels = config.hiddenChannels ?? inChannels);
    checkPositiveInt(hidden, 'DoubleConvSubnet', 'hiddenChannels');
    const k = (this.kernelSize = config.kernelSize ?? 3);
    checkPositiveInt(k, 'DoubleConvSubnet', 'kernelSize');
    this.zeroInitLast = config.zeroInitLast !== false;
    this.conv1 = new Conv(inChannels, hidden, k, 'pytorch', random);
    this.conv2 = new Conv(hidden, outChannels, k, this.zeroInitLast ? 'zeros' : 'pytorch', random);
  }

  static readonly className = 'DoubleConvSubnet';

  getClassName(): string {
    return DoubleConvSubnet.className;
  }

  getConfig(): FlowConfig {
    return {
      inChannels: this.inChannels,
      outChannels: this.outChannels,
      hiddenChannels: this.hiddenChannels,
      kernelSize: this.kernelSize,
      zeroInitLast: this.zeroInitLast,
    };
  }

  /** Rebuilds the subnet a config describes (initial values from seed 0; load the weights after). */
  static fromConfig(config: FlowConfig): DoubleConvSubnet {
    const c = readConfig(config, 'DoubleConvSubnet.fromConfig', ['inChannels', 'outChannels', 'hiddenChannels', 'kernelSize', 'zeroInitLast']);
    return new DoubleConvSubnet(c.inChannels as number, c.outChannels as number, seededRandom(0), c);
  }

  apply(x: tf.Tensor, _training: boolean): tf.Tensor {
    checkInput(x, 'DoubleConvSubnet', this.inChannels, { exactRank: 4 });
    return tf.tidy(() => this.conv2.apply(tf.relu(this.conv1.apply(x))));
  }

  get trainableVariables(): tf.Variable[] {
    return [...this.conv1.variables, ...this.conv2.variables];
  }

  getWeights(): Record<string, tf.Tensor> {
    return { ...prefixWeights('1.', this.conv1.getWeights()), ...prefixWeights('4.', this.conv2.getWeights()) };
  }

  weightSpecs(): Record<string, WeightSpec> {
    return { ...prefixSpecs('1.', this.conv1.weightSpecs()), ...prefixSpecs('4.', this.conv2.weightSpecs()) };
  }

  setWeights(weights: Record<string, tf.Tensor>): void {
    rejectUnknownKeys(weights, Object.keys(this.weightSpecs()));
    setChildWeights('1.', weights, this.conv1);
    setChildWeights('4.', weights, this.conv2);
  }

  dispose(): void {
    this.conv1.dispose();
    this.conv2.dispose();
  }

  get macsPerPosition(): number {
    return this.conv1.macsPerPosition + this.conv2.macsPerPosition;
  }
}

/** A factory for `AffineCoupling` / `createAllInOneFlow`: FastFlow's same-kernel-twice subnet. */
export function doubleConvSubnet(config: DoubleConvSubnetConfig = {}): SubnetFactory {
  return (inChannels, outChannels, random) => new DoubleConvSubnet(inChannels, outChannels, random, config);
}
