import * as tf from '@tensorflow/tfjs-core';
import { ActNorm } from './actnorm.js';
import { AffineCoupling, type ClampMode } from './affine-coupling.js';
import { prefixSpecs, prefixWeights, setChildWeights, specsOf, validateWeights, type WeightSpec } from './checks.js';
import type { FlowLayer, FlowOptions, FlowResult, InverseResult } from './flow-layer.js';
import { legacyToPyTorchLayout } from './legacy-weights.js';
import { InvertibleConv1x1 } from './invertible-conv1x1.js';
import { Permute } from './permute.js';
import { seededRandom, type UniformRandom } from './random.js';
import type { SubnetFactory } from './subnet.js';

export type PermutationKind = 'reverse' | 'random' | 'invertible1x1';

export interface AllInOneBlockConfig {
  /** Channels of the input (last axis). */
  channels: number;
  subnet: SubnetFactory;
  /** Log-scale bound of the coupling. Default 2. */
  clamp?: number;
  /** Default `soft`: clamp·tanh(s/clamp); `legacy`: clamp·tanh(s). */
  clampMode?: ClampMode;
  /** The mixing step after the actnorm. Default `reverse` (the AE-FLOW paper); `random` (seeded) or `invertible1x1` (Glow, learned). */
  permutation?: PermutationKind;
  /** The actnorm's scale activation. Default `softplus` (FrEIA); `exp` (Glow). */
  actnorm?: 'softplus' | 'exp';
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
  private readonly parts: readonly (readonly [string, FlowLayer])[];

  constructor(config: AllInOneBlockConfig) {
    this.name = config.name ?? 'allinone';
    const random = config.random ?? seededRandom(config.seed ?? 0);
    const kind = config.permutation ?? 'reverse';
    if (kind !== 'reverse' && kind !== 'random' && kind !== 'invertible1x1') {
      throw new Error(`AllInOneBlock "${this.name}": permutation must be 'reverse', 'random' or 'invertible1x1', got ${String(kind)}`);
    }
    this.coupling = new AffineCoupling({
      channels: config.channels,
      subnet: config.subnet,
      clamp: config.clamp,
      clampMode: config.clampMode,
      conditionChannels: config.conditionChannels,
      random,
      name: `${this.name}.coupling`,
    });
    this.actnorm = new ActNorm({
      channels: config.channels,
      scaleActivation: config.actnorm,
      dataInit: config.actnormDataInit,
      name: `${this.name}.actnorm`,
    });
    this.mixing =
      kind === 'invertible1x1'
        ? new InvertibleConv1x1({ channels: config.channels, random, name: `${this.name}.invconv` })
        : new Permute({ channels: config.channels, permutation: kind, random, name: `${this.name}.permute` });
    this.parts = [
      ['coupling.', this.coupling],
      ['actnorm.', this.actnorm],
      [kind === 'invertible1x1' ? 'invconv.' : 'permute.', this.mixing],
    ];
  }

  forward(x: tf.Tensor, options: FlowOptions = {}): FlowResult {
    return tf.tidy(() => {
      const a = this.coupling.forward(x, options);
      const b = this.actnorm.forward(a.y, options);
      const c = this.mixing.forward(b.y, options);
      return { y: c.y, logDet: tf.add<tf.Tensor1D>(tf.add<tf.Tensor1D>(a.logDet, b.logDet), c.logDet) };
    });
  }

  inverse(y: tf.Tensor, options: FlowOptions = {}): InverseResult {
    return tf.tidy(() => {
      const c = this.mixing.inverse(y, options);
      const b = this.actnorm.inverse(c.x, options);
      const a = this.coupling.inverse(b.x, options);
      return { x: a.x, logDet: tf.add<tf.Tensor1D>(tf.add<tf.Tensor1D>(a.logDet, b.logDet), c.logDet) };
    });
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
