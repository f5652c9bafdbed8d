import * as tf from '@tensorflow/tfjs-core';
import { ActNorm } from './actnorm.js';
import { AffineCoupling, type ClampMode } from './affine-coupling.js';
import { prefixSpecs, prefixWeights, setChildWeights, specsOf, validateWeights, type WeightSpec } from './checks.js';
import { readConfig, type FlowConfig } from './config.js';
import type { FlowLayer, FlowOptions, FlowResult, InverseResult } from './flow-layer.js';
import { legacyToPyTorchLayout } from './legacy-weights.js';
import { InvertibleConv1x1 } from './invertible-conv1x1.js';
import { Permute } from './permute.js';
import { seededRandom, type UniformRandom } from './random.js';
import type { Subnet, SubnetFactory } from './subnet.js';
import { deserializeSubnet, serializeSubnet } from './subnet-serialization.js';

/**
 * The mixing step of a block: a fixed channel permutation (`reverse`, `random`), a fixed random
 * rotation (`soft`, FrEIA's `permute_soft`) or a learned invertible 1×1 convolution
 * (`invertible1x1`, Glow).
 */
export type PermutationKind = 'reverse' | 'random' | 'soft' | 'invertible1x1';
const PERMUTATION_KINDS: readonly PermutationKind[] = ['reverse', 'random', 'soft', 'invertible1x1'];
const ACTNORM_KINDS = ['softplus', 'exp', 'sigmoid'] as const;

export interface AllInOneBlockConfig {
  /** Channels of the input (last axis). */
  channels: number;
  /** Builds the coupling's subnet (inChannels, outChannels, random), or a built subnet. */
  subnet: SubnetFactory | Subnet;
  /** Log-scale bound of the coupling. Default 2. */
  clamp?: number;
  /** Default `soft`: clamp·tanh(s/clamp); `legacy`: clamp·tanh(s). */
  clampMode?: ClampMode;
  /**
   * The mixing step after the actnorm. Default `reverse` (the AE-FLOW paper); `random` (seeded),
   * `soft` (a fixed random rotation held in an untrained invertible 1×1 convolution: FrEIA's
   * `permute_soft`) or `invertible1x1` (Glow, learned).
   */
  permutation?: PermutationKind;
  /**
   * Also apply the inverse of the mixing step before the coupling (FrEIA's
   * `reverse_permutation`, Putzky et al. 2019): the block is then mixing⁻¹ → coupling → actnorm
   * → mixing. Default false.
   */
  reversePermutation?: boolean;
  /**
   * The actnorm's scale activation (FrEIA's `global_affine_type`): `softplus` (default, FrEIA's
   * SOFTPLUS), `exp` (Glow, EXP) or `sigmoid` (SIGMOID: 10·sigmoid(p − 2)).
   */
  actnorm?: 'softplus' | 'exp' | 'sigmoid';
  /**
   * Volume-preserving block (GIN, FrEIA's `gin_block`): the coupling's log-scales are shifted to
   * sum to 0 per sample and the actnorm has no scale (offset only), so the log-det is 0. Default false.
   */
  volumePreserving?: boolean;
  /** Glow's data-dependent actnorm initialisation on the first forward pass. Default false. */
  actnormDataInit?: boolean;
  /** Channels of `options.condition` the coupling's subnet also sees (FrEIA's `cond_shape`). Default 0: unconditional. */
  conditionChannels?: number;
  /** Seed of the initialisation (weights, random permutations). Default 0. */
  seed?: number;
  /** A uniform [0, 1) generator used instead of `seed`. */
  random?: UniformRandom;
  name?: string;
}

/**
 * FrEIA's AllInOneBlock: affine coupling → actnorm ("global affine") → fixed permutation (or a
 * learned invertible 1×1 convolution). Keys `coupling.*`, `actnorm.*`, and `permute.permutation`
 * or `invconv.*`.
 */
export class AllInOneBlock implements FlowLayer {
  readonly name: string;
  readonly coupling: AffineCoupling;
  readonly actnorm: ActNorm;
  readonly mixing: Permute | InvertibleConv1x1;
  readonly permutation: PermutationKind;
  readonly reversePermutation: boolean;
  readonly actnormKind: 'softplus' | 'exp' | 'sigmoid';
  readonly volumePreserving: boolean;
  private readonly parts: readonly (readonly [string, FlowLayer])[];

  constructor(config: AllInOneBlockConfig) {
    this.name = config.name ?? 'allinone';
    const who = `AllInOneBlock "${this.name}"`;
    const random = config.random ?? seededRandom(config.seed ?? 0);
    const kind = (this.permutation = config.permutation ?? 'reverse');
    if (!PERMUTATION_KINDS.includes(kind)) {
      throw new Error(`${who}: permutation must be one of ${PERMUTATION_KINDS.map((k) => `'${k}'`).join(', ')}, got ${String(kind)}`);
    }
    this.actnormKind = config.actnorm ?? 'softplus';
    if (!ACTNORM_KINDS.includes(this.actnormKind)) {
      throw new Error(`${who}: actnorm must be one of ${ACTNORM_KINDS.map((k) => `'${k}'`).join(', ')}, got ${String(this.actnormKind)}`);
    }
    this.reversePermutation = config.reversePermutation ?? false;
    this.volumePreserving = config.volumePreserving ?? false;
    for (const [field, value] of [['reversePermutation', config.reversePermutation], ['volumePreserving', config.volumePreserving]] as const) {
      if (value !== undefined && typeof value !== 'boolean') throw new Error(`${who}: ${field} must be true or false, got ${String(value)}`);
    }
    if (this.reversePermutation && kind === 'invertible1x1') {
      throw new Error(
        `${who}: reversePermutation needs a fixed mixing step ('reverse', 'random' or 'soft'): the learned invertible 1×1 ` +
          `convolution's inverse is computed outside the gradient, so training it through the pre-permutation would miss that part`,
      );
    }
    if (this.volumePreserving && config.actnormDataInit) {
      throw new Error(`${who}: a volume-preserving block's actnorm has no scale, so actnormDataInit cannot apply: leave it unset`);
    }
    this.coupling = new AffineCoupling({
      channels: config.channels,
      subnet: config.subnet,
      clamp: config.clamp,
      clampMode: config.clampMode,
      conditionChannels: config.conditionChannels,
      volumePreserving: this.volumePreserving,
      random,
      name: `${this.name}.coupling`,
    });
    this.actnorm = new ActNorm({
      channels: config.channels,
      scaleActivation: this.volumePreserving ? 'none' : this.actnormKind,
      dataInit: config.actnormDataInit,
      name: `${this.name}.actnorm`,
    });
    const rotation = kind === 'invertible1x1' || kind === 'soft';
    this.mixing = rotation
      ? new InvertibleConv1x1({ channels: config.channels, random, trainable: kind === 'invertible1x1', name: `${this.name}.invconv` })
      : new Permute({ channels: config.channels, permutation: kind, random, name: `${this.name}.permute` });
    this.parts = [
      ['coupling.', this.coupling],
      ['actnorm.', this.actnorm],
      [rotation ? 'invconv.' : 'permute.', this.mixing],
    ];
  }

  forward(x: tf.Tensor, options: FlowOptions = {}): FlowResult {
    return tf.tidy(() => {
      // FrEIA's reverse_permutation: undo the mixing first (its log-det counts, as everything's here).
      const pre = this.reversePermutation ? this.mixing.inverse(x, options) : undefined;
      const a = this.coupling.forward(pre ? pre.x : x, options);
      const b = this.actnorm.forward(a.y, options);
      const c = this.mixing.forward(b.y, options);
      const logDet = tf.add<tf.Tensor1D>(tf.add<tf.Tensor1D>(a.logDet, b.logDet), c.logDet);
      return { y: c.y, logDet: pre ? tf.add<tf.Tensor1D>(logDet, pre.logDet) : logDet };
    });
  }

  inverse(y: tf.Tensor, options: FlowOptions = {}): InverseResult {
    return tf.tidy(() => {
      const c = this.mixing.inverse(y, options);
      const b = this.actnorm.inverse(c.x, options);
      const a = this.coupling.inverse(b.x, options);
      const post = this.reversePermutation ? this.mixing.forward(a.x, options) : undefined;
      const logDet = tf.add<tf.Tensor1D>(tf.add<tf.Tensor1D>(a.logDet, b.logDet), c.logDet);
      return post ? { x: post.y, logDet: tf.add<tf.Tensor1D>(logDet, post.logDet) } : { x: a.x, logDet };
    });
  }

  static readonly className = 'AllInOneBlock';

  getClassName(): string {
    return AllInOneBlock.className;
  }

  /**
   * The settings as JSON-able values, the subnet as `{ className, config }` (tfjs-layers'
   * convention). Weights (including a fixed permutation) are separate: `getWeights()`.
   */
  getConfig(): FlowConfig {
    return {
      channels: this.coupling.channels,
      subnet: serializeSubnet(this.coupling.subnet, `${`AllInOneBlock "${this.name}"`}.getConfig`) as unknown as FlowConfig,
      clamp: this.coupling.clamp,
      clampMode: this.coupling.clampMode,
      permutation: this.permutation,
      reversePermutation: this.reversePermutation,
      actnorm: this.actnormKind,
      actnormDataInit: this.actnorm.dataInit,
      volumePreserving: this.volumePreserving,
      conditionChannels: this.coupling.conditionChannels,
      name: this.name,
    };
  }

  /** Rebuilds the block a config describes (initial weights from seed 0: load the saved ones with setWeights). */
  static fromConfig(config: FlowConfig): AllInOneBlock {
    const owner = 'AllInOneBlock.fromConfig';
    const c = readConfig(config, owner, [
      'channels',
      'subnet',
      'clamp',
      'clampMode',
      'permutation',
      'reversePermutation',
      'actnorm',
      'actnormDataInit',
      'volumePreserving',
      'conditionChannels',
      'seed',
      'name',
    ]);
    const subnet = deserializeSubnet(c.subnet, owner);
    try {
      return new AllInOneBlock({ ...(c as unknown as AllInOneBlockConfig), subnet });
    } catch (err) {
      subnet.dispose();
      throw err;
    }
  }

  get trainableVariables(): tf.Variable[] {
    return this.parts.flatMap(([, l]) => l.trainableVariables);
  }

  getWeights(): Record<string, tf.Tensor> {
    return Object.assign({}, ...this.parts.map(([p, l]) => prefixWeights(p, l.getWeights()))) as Record<string, tf.Tensor>;
  }

  weightSpecs(): Record<string, WeightSpec> {
    return Object.assign({}, ...this.parts.map(([p, l]) => prefixSpecs(p, specsOf(l)))) as Record<string, WeightSpec>;
  }

  setWeights(weights: Record<string, tf.Tensor>): void {
    // Records saved in the old TensorFlow.js layout (recognised by their actnorm keys) still load.
    const converted = legacyToPyTorchLayout(weights);
    try {
      validateWeights(converted.weights, this.weightSpecs());
      for (const [p, l] of this.parts) setChildWeights(p, converted.weights, l);
    } finally {
      tf.dispose(converted.created);
    }
  }

  dispose(): void {
    for (const [, l] of this.parts) l.dispose();
  }
}
