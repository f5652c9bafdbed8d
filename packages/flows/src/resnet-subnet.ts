import * as tf from '@tensorflow/tfjs-core';
import { checkInput, checkPositiveInt, prefixSpecs, prefixWeights, rejectUnknownKeys, setChildWeights, type WeightSpec } from './checks.js';
import { twoLinearWithBias } from './fused.js';
import { readConfig, type FlowConfig } from './config.js';
import { BatchNorm, Conv } from './modules.js';
import { seededRandom, type UniformRandom } from './random.js';
import type { Subnet, SubnetConfig, SubnetFactory } from './subnet.js';

export interface ResNetSubnetConfig extends SubnetConfig {
  /** BatchNorm momentum for the running statistics (PyTorch convention). Default 0.1. */
  batchNormMomentum?: number;
}

/**
 * The paper's ResNet-type subnet: a branch 3×3 conv (no bias: BatchNorm follows) → BatchNorm →
 * ReLU → 1×1 conv, plus a 1×1 conv shortcut from the input, summed. Keys `conv1.weight`, `bn1.*`
 * (with `running_mean`, `running_var`), `conv2.*`, `shortcut.*`. The last conv of the branch and the shortcut start
 * at zero (unless `zeroInitLast: false`), so the coupling starts as the identity.
 *
 * BatchNorm: with `training: true` it uses the batch statistics and updates the running ones
 * (momentum 0.1 by default: running = 0.9·running + 0.1·batch); otherwise the running ones.
 * NHWC input only.
 */
export class ResNetSubnet implements Subnet {
  readonly name = 'resnet';
  readonly conv1: Conv;
  readonly bn1: BatchNorm;
  readonly conv2: Conv;
  readonly shortcut: Conv;
  readonly hiddenChannels: number;
  readonly zeroInitLast: boolean;
  readonly batchNormMomentum: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    random: UniformRandom,
    config: ResNetSubnetConfig = {},
  ) {
    const hidden = (this.hiddenChannels = config.hiddenChannels ?? outChannels);
    checkPositiveInt(inChannels, 'ResNetSubnet', 'inChannels');
    checkPositiveInt(outChannels, 'ResNetSubnet', 'outChannels');
    checkPositiveInt(hidden, 'ResNetSubnet', 'hiddenChannels');
    this.zeroInitLast = config.zeroInitLast !== false;
    this.batchNormMomentum = config.batchNormMomentum ?? 0.1;
    if (!(this.batchNormMomentum >= 0 && this.batchNormMomentum <= 1)) {
      throw new Error(`ResNetSubnet: batchNormMomentum must be a number in [0, 1], got ${config.batchNormMomentum}`);
    }
    const last = this.zeroInitLast ? 'zeros' : 'pytorch';
    // No bias before BatchNorm: the mean subtraction would cancel it.
    this.conv1 = new Conv(inChannels, hidden, 3, 'pytorch', random, false);
    this.bn1 = new BatchNorm(hidden, this.batchNormMomentum);
    this.conv2 = new Conv(hidden, outChannels, 1, last, random);
    this.shortcut = new Conv(inChannels, outChannels, 1, last, random);
  }

  static readonly className = 'ResNetSubnet';

  getClassName(): string {
    return ResNetSubnet.className;
  }

  getConfig(): FlowConfig {
    return {
      inChannels: this.inChannels,
      outChannels: this.outChannels,
      hiddenChannels: this.hiddenChannels,
      zeroInitLast: this.zeroInitLast,
      batchNormMomentum: this.batchNormMomentum,
    };
  }

  /** Rebuilds the subnet a config describes (initial values from seed 0; load the weights after). */
  static fromConfig(config: FlowConfig): ResNetSubnet {
    const c = readConfig(config, 'ResNetSubnet.fromConfig', ['inChannels', 'outChannels', 'hiddenChannels', 'zeroInitLast', 'batchNormMomentum']);
    return new ResNetSubnet(c.inChannels as number, c.outChannels as number, seededRandom(0), c);
  }

  apply(x: tf.Tensor, training: boolean): tf.Tensor {
    checkInput(x, 'ResNetSubnet', this.inChannels, { exactRank: 4 });
    return tf.tidy(() => {
      const h = this.bn1.applyRelu(this.conv1.apply(x), training);
      // conv2(h) + shortcut(x) as one op: one output instead of two products, two bias adds and
      // their sum (memory: see fused.ts).
      const b = tf.add<tf.Tensor1D>(this.conv2.bias!, this.shortcut.bias!);
      return twoLinearWithBias(h, this.conv2.weight as tf.Tensor2D, x, this.shortcut.weight as tf.Tensor2D, b);
    });
  }

  get trainableVariables(): tf.Variable[] {
    return [...this.conv1.variables, ...this.bn1.variables, ...this.conv2.variables, ...this.shortcut.variables];
  }

  getWeights(): Record<string, tf.Tensor> {
    return {
      ...prefixWeights('conv1.', this.conv1.getWeights()),
      ...prefixWeights('bn1.', this.bn1.getWeights()),
      ...prefixWeights('conv2.', this.conv2.getWeights()),
      ...prefixWeights('shortcut.', this.shortcut.getWeights()),
    };
  }

  weightSpecs(): Record<string, WeightSpec> {
    return {
      ...prefixSpecs('conv1.', this.conv1.weightSpecs()),
      ...prefixSpecs('bn1.', this.bn1.weightSpecs()),
      ...prefixSpecs('conv2.', this.conv2.weightSpecs()),
      ...prefixSpecs('shortcut.', this.shortcut.weightSpecs()),
    };
  }

  setWeights(weights: Record<string, tf.Tensor>): void {
    rejectUnknownKeys(weights, Object.keys(this.weightSpecs()));
    setChildWeights('conv1.', weights, this.conv1);
    setChildWeights('bn1.', weights, this.bn1);
    setChildWeights('conv2.', weights, this.conv2);
    setChildWeights('shortcut.', weights, this.shortcut);
  }

  dispose(): void {
    this.conv1.dispose();
    this.bn1.dispose();
    this.conv2.dispose();
    this.shortcut.dispose();
  }

  get macsPerPosition(): number {
    return this.conv1.macsPerPosition + this.conv2.macsPerPosition + this.shortcut.macsPerPosition;
  }
}

export function resnetSubnet(config: ResNetSubnetConfig = {}): SubnetFactory {
  return (inChannels, outChannels, random) => new ResNetSubnet(inChannels, outChannels, random, config);
}
