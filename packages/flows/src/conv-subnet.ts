import * as tf from '@tensorflow/tfjs-core';
import { checkInput, checkPositiveInt, prefixSpecs, prefixWeights, rejectUnknownKeys, setChildWeights, type WeightSpec } from './checks.js';
import { readConfig, type FlowConfig } from './config.js';
import { Conv } from './modules.js';
import { seededRandom, type UniformRandom } from './random.js';
import type { Subnet, SubnetConfig, SubnetFactory } from './subnet.js';

/**
 * The paper's conv subnet: 3×3 conv → ReLU → 1×1 conv (keys `conv1.*`, `conv2.*`; the
 * "conv31" of the FrEIA fixtures). NHWC input only. FastFlow's subnet, the same k×k kernel
 * twice, is `DoubleConvSubnet`.
 */
export class ConvSubnet implements Subnet {
  readonly name = 'conv';
  readonly conv1: Conv;
  readonly conv2: Conv;
  readonly hiddenChannels: number;
  readonly zeroInitLast: boolean;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    random: UniformRandom,
    config: SubnetConfig = {},
  ) {
    const hidden = (this.hiddenChannels = config.hiddenChannels ?? outChannels);
    checkPositiveInt(inChannels, 'ConvSubnet', 'inChannels');
    checkPositiveInt(outChannels, 'ConvSubnet', 'outChannels');
    checkPositiveInt(hidden, 'ConvSubnet', 'hiddenChannels');
    this.zeroInitLast = config.zeroInitLast !== false;
    this.conv1 = new Conv(inChannels, hidden, 3, 'pytorch', random);
    this.conv2 = new Conv(hidden, outChannels, 1, this.zeroInitLast ? 'zeros' : 'pytorch', random);
  }

  static readonly className = 'ConvSubnet';

  getClassName(): string {
    return ConvSubnet.className;
  }

  getConfig(): FlowConfig {
    return { inChannels: this.inChannels, outChannels: this.outChannels, hiddenChannels: this.hiddenChannels, zeroInitLast: this.zeroInitLast };
  }

  /** Rebuilds the subnet a config describes (initial values from seed 0; load the weights after). */
  static fromConfig(config: FlowConfig): ConvSubnet {
    const c = readConfig(config, 'ConvSubnet.fromConfig', ['inChannels', 'outChannels', 'hiddenChannels', 'zeroInitLast']);
    return new ConvSubnet(c.inChannels as number, c.outChannels as number, seededRandom(0), c);
  }

  apply(x: tf.Tensor, _training: boolean): tf.Tensor {
    checkInput(x, 'ConvSubnet', this.inChannels, { exactRank: 4 });
    return tf.tidy(() => this.conv2.apply(tf.relu(this.conv1.apply(x))));
  }

  get trainableVariables(): tf.Variable[] {
    return [...this.conv1.variables, ...this.conv2.variables];
  }

  getWeights(): Record<string, tf.Tensor> {
    return { ...prefixWeights('conv1.', this.conv1.getWeights()), ...prefixWeights('conv2.', this.conv2.getWeights()) };
  }

  weightSpecs(): Record<string, WeightSpec> {
    return { ...prefixSpecs('conv1.', this.conv1.weightSpecs()), ...prefixSpecs('conv2.', this.conv2.weightSpecs()) };
  }

  setWeights(weights: Record<string, tf.Tensor>): void {
    rejectUnknownKeys(weights, Object.keys(this.weightSpecs()));
    setChildWeights('conv1.', weights, this.conv1);
    setChildWeights('conv2.', weights, this.conv2);
  }

  dispose(): void {
    this.conv1.dispose();
    this.conv2.dispose();
  }

  get macsPerPosition(): number {
    return this.conv1.macsPerPosition + this.conv2.macsPerPosition;
  }
}

/** A factory for `AffineCoupling` / `createAllInOneFlow`. */
export function convSubnet(config: SubnetConfig = {}): SubnetFactory {
  return (inChannels, outChannels, random) => new ConvSubnet(inChannels, outChannels, random, config);
}
