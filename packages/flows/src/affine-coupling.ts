import * as tf from '@tensorflow/tfjs-core';
import {
  assertFinite,
  checkInput,
  checkLayout,
  prefixSpecs,
  prefixWeights,
  setChildWeights,
  specsOf,
  sumPerSample,
  validateWeights,
  type WeightSpec,
} from './checks.js';
import type { FlowLayer, FlowOptions, FlowResult, InverseResult } from './flow-layer.js';
import { affineCouplingForward, couplingLogDet, type ClampSpec } from './fused.js';
import { readConfig, type FlowConfig } from './config.js';
import { seededRandom, type UniformRandom } from './random.js';
import type { Subnet, SubnetFactory } from './subnet.js';
import { deserializeSubnet, serializeSubnet } from './subnet-serialization.js';

/**
 * How the log-scale s is bounded:
 * - `soft`: j = clamp·tanh(s/clamp) (FrEIA since Aug 2023; slope 1 at 0);
 * - `legacy`: j = clamp·tanh(s) (FrEIA before, and anomalib's copy).
 */
export type ClampMode = 'soft' | 'legacy';

export interface AffineCouplingConfig {
  channels: number;
  /** Builds the subnet from (inChannels = C1 + conditionChannels, outChannels = 2·C2, random), or a built subnet. */
  subnet: SubnetFactory | Subnet;
  /**
   * Channels of the condition (`options.condition`) appended to the subnet's input, as FrEIA's
   * `cond_shape`: the coupling models p(x | c), e.g. with a positional encoding as c (CFLOW-AD).
   * Default 0: unconditional, and a condition passed in is an error.
   */
  conditionChannels?: number;
  /** Bound of the log-scale per element. Default 2. */
  clamp?: number;
  clampMode?: ClampMode;
  /** Scale of the subnet output: a = coefficientScale·subnet(x1). Default 0.1 (FrEIA). */
  coefficientScale?: number;
  /**
   * Volume-preserving coupling (GIN, Sorrenson et al. 2019; FrEIA's `gin_block`): the bounded
   * log-scales j are shifted by their mean over the sample (all channels and positions), so they
   * sum to 0 and the log-det is 0. Default false.
   */
  volumePreserving?: boolean;
  seed?: number;
  random?: UniformRandom;
  name?: string;
}

/**
 * Affine coupling as in FrEIA's AllInOneBlock: split the channels into x1 (passive, the first
 * C1 = C − ⌊C/2⌋) and x2 (the last C2 = ⌊C/2⌋); a = 0.1·subnet(x1); s, t = a[..., :C2],
 * a[..., C2:]; j = clamp(s); y2 = x2·exp(j) + t; y = [x1, y2]; log-det = Σ j per sample.
 * With `conditionChannels` k the subnet sees [x1, c] (c = `options.condition`): a conditional
 * coupling, still exactly invertible given the same c. Keys: `subnet.*`.
 */
export class AffineCoupling implements FlowLayer {
  readonly name: string;
  readonly channels: number;
  readonly passiveChannels: number;
  readonly activeChannels: number;
  readonly clamp: number;
  readonly clampMode: ClampMode;
  readonly coefficientScale: number;
  readonly conditionChannels: number;
  readonly volumePreserving: boolean;
  readonly subnet: Subnet;

  constructor(config: AffineCouplingConfig) {
    this.name = config.name ?? 'coupling';
    const who = `AffineCoupling "${this.name}"`;
    if (!Number.isInteger(config.channels) || config.channels < 2) {
      throw new Error(`${who}: channels must be a whole number >= 2 (a coupling splits channels into two parts), got ${config.channels}`);
    }
    this.channels = config.channels;
    this.activeChannels = Math.floor(this.channels / 2);
    this.passiveChannels = this.channels - this.activeChannels;
    this.clamp = config.clamp ?? 2;
    if (!(this.clamp > 0) || !Number.isFinite(this.clamp)) throw new Error(`${who}: clamp must be a positive number, got ${this.clamp}`);
    this.clampMode = config.clampMode ?? 'soft';
    if (this.clampMode !== 'soft' && this.clampMode !== 'legacy') {
      throw new Error(`${who}: clampMode must be 'soft' or 'legacy', got ${String(this.clampMode)}`);
    }
    this.coefficientScale = config.coefficientScale ?? 0.1;
    if (!Number.isFinite(this.coefficientScale) || this.coefficientScale === 0) {
      throw new Error(`${who}: coefficientScale must be a finite non-zero number, got ${config.coefficientScale}`);
    }
    this.volumePreserving = config.volumePreserving ?? false;
    if (typeof this.volumePreserving !== 'boolean') throw new Error(`${who}: volumePreserving must be true or false, got ${String(config.volumePreserving)}`);
    this.conditionChannels = config.conditionChannels ?? 0;
    if (!Number.isInteger(this.conditionChannels) || this.conditionChannels < 0) {
      throw new Error(`${who}: conditionChannels must be a whole number >= 0, got ${config.conditionChannels}`);
    }
    const random = config.random ?? seededRandom(config.seed ?? 0);
    const subnetIn = this.passiveChannels + this.conditionChannels;
    this.subnet =
      typeof config.subnet === 'function' ? config.subnet(subnetIn, 2 * this.activeChannels, random) : config.subnet;
    if (this.subnet.inChannels !== subnetIn || this.subnet.outChannels !== 2 * this.activeChannels) {
      throw new Error(
        `${who}: the subnet maps ${this.subnet.inChannels} → ${this.subnet.outChannels} channels but this coupling ` +
          `needs ${subnetIn} → ${2 * this.activeChannels} (C1 = C − ⌊C/2⌋${this.conditionChannels ? ` plus ${this.conditionChannels} condition channels` : ''} in, 2·⌊C/2⌋ out)`,
      );
    }
  }

  /**
   * Checks `options.condition` against this coupling and the input, before any work: a missing,
   * unexpected or misshapen condition would otherwise surface as a shape error deep in the subnet.
   */
  private checkCondition(x: tf.Tensor, condition: tf.Tensor | undefined, who: string): void {
    if (this.conditionChannels === 0) {
      if (condition) throw new Error(`${who}: was given a condition but was built without one (conditionChannels 0); build it with conditionChannels: ${condition.shape.at(-1)}`);
      return;
    }
    const want = `[${[x.shape[0], ...x.shape.slice(1, -1)].join(', ')}, ${this.conditionChannels}] (or batch 1)`;
    if (!condition) throw new Error(`${who}: needs a condition (options.condition) of shape ${want}; it was built with conditionChannels ${this.conditionChannels}`);
    const ok =
      condition.rank === x.rank &&
      (condition.shape[0] === x.shape[0] || condition.shape[0] === 1) &&
      condition.shape.slice(1, -1).every((d, i) => d === x.shape[i + 1]) &&
      condition.shape.at(-1) === this.conditionChannels;
    if (!ok) throw new Error(`${who}: the condition has shape [${condition.shape.join(', ')}] but the input [${x.shape.join(', ')}] needs ${want}`);
  }

  /** The subnet's input: the passive half, with the condition's channels appended (broadcast over the batch). */
  private subnetInput(x1: tf.Tensor, condition: tf.Tensor | undefined): tf.Tensor {
    if (!condition) return x1;
    const c = condition.shape[0] === x1.shape[0] ? condition : tf.broadcastTo(condition, [...x1.shape.slice(0, -1), this.conditionChannels]);
    return tf.concat([x1, c], -1);
  }

  private get clampSpec(): ClampSpec {
    return { clamp: this.clamp, mode: this.clampMode, coefficientScale: this.coefficientScale };
  }

  /** The bounded log-scale j and the shift t from the passive half. */
  private coefficients(x1: tf.Tensor, training: boolean, condition: tf.Tensor | undefined): { j: tf.Tensor; t: tf.Tensor } {
    const a = tf.mul(this.subnet.apply(this.subnetInput(x1, condition), training), this.coefficientScale);
    const [s, t] = tf.split(a, [this.activeChannels, this.activeChannels], -1) as [tf.Tensor, tf.Tensor];
    const bounded =
      this.clampMode === 'soft' ? tf.mul(tf.tanh(tf.div(s, this.clamp)), this.clamp) : tf.mul(tf.tanh(s), this.clamp);
    if (!this.volumePreserving) return { j: bounded, t };
    // GIN: remove the sample's mean log-scale, so Σ j = 0 (FrEIA normalises over C2·H·W the same way).
    const axes = Array.from({ length: bounded.rank - 1 }, (_, i) => i + 1);
    return { j: tf.sub(bounded, tf.mean(bounded, axes, true)), t };
  }

  forward(x: tf.Tensor, options: FlowOptions = {}): FlowResult {
    const who = `AffineCoupling "${this.name}"`;
    checkInput(x, who, this.channels);
    checkLayout(x, who, this.channels, options.layout);
    this.checkCondition(x, options.condition, who);
    const check = options.checkFinite !== false;
    if (check) assertFinite(x, `${who}: forward input`);
    const out = tf.tidy(() => {
      const [x1, x2] = tf.split(x, [this.passiveChannels, this.activeChannels], -1) as [tf.Tensor, tf.Tensor];
      if (this.volumePreserving) {
        // Plain ops: the fused forms below have no mean shift.
        const { j, t } = this.coefficients(x1, options.training ?? false, options.condition);
        return { y: tf.concat([x1, tf.add(tf.mul(x2, tf.exp(j)), t)], -1), logDet: tf.zeros<tf.Rank.R1>([x.shape[0]]) };
      }
      const raw = this.subnet.apply(this.subnetInput(x1, options.condition), options.training ?? false);
      // Memory-lean forms of y2 = x2·exp(j) + t and Σ j (fused.ts): this is the training path.
      const y2 = affineCouplingForward(x2, raw, this.clampSpec);
      return { y: tf.concat([x1, y2], -1), logDet: couplingLogDet(raw, this.clampSpec) };
    });
    if (check) assertFinite(out.y, `${who}: forward output (the subnet produced NaN/Inf)`);
    return out;
  }

  inverse(y: tf.Tensor, options: FlowOptions = {}): InverseResult {
    const who = `AffineCoupling "${this.name}"`;
    checkInput(y, who, this.channels);
    checkLayout(y, who, this.channels, options.layout);
    this.checkCondition(y, options.condition, who);
    const check = options.checkFinite !== false;
    if (check) assertFinite(y, `${who}: inverse input`);
    const out = tf.tidy(() => {
      const [y1, y2] = tf.split(y, [this.passiveChannels, this.activeChannels], -1) as [tf.Tensor, tf.Tensor];
      const { j, t } = this.coefficients(y1, options.training ?? false, options.condition);
      const x2 = tf.mul(tf.sub(y2, t), tf.exp(tf.neg(j)));
      const logDet = this.volumePreserving ? tf.zeros<tf.Rank.R1>([y.shape[0]]) : tf.neg<tf.Tensor1D>(sumPerSample(j));
      return { x: tf.concat([y1, x2], -1), logDet };
    });
    if (check) assertFinite(out.x, `${who}: inverse output (the subnet produced NaN/Inf)`);
    return out;
  }

  get trainableVariables(): tf.Variable[] {
    return this.subnet.trainableVariables;
  }

  static readonly className = 'AffineCoupling';

  getClassName(): string {
    return AffineCoupling.className;
  }

  /** The settings as JSON-able values, the subnet as `{ className, config }` (tfjs-layers' convention); weights are separate. */
  getConfig(): FlowConfig {
    return {
      channels: this.channels,
      subnet: serializeSubnet(this.subnet, `AffineCoupling "${this.name}".getConfig`) as unknown as FlowConfig,
      clamp: this.clamp,
      clampMode: this.clampMode,
      coefficientScale: this.coefficientScale,
      conditionChannels: this.conditionChannels,
      volumePreserving: this.volumePreserving,
      name: this.name,
    };
  }

  /** Rebuilds the layer a config describes (initial weights from seed 0: load the saved ones with setWeights). */
  static fromConfig(config: FlowConfig): AffineCoupling {
    const owner = 'AffineCoupling.fromConfig';
    const c = readConfig(config, owner, ['channels', 'subnet', 'clamp', 'clampMode', 'coefficientScale', 'conditionChannels', 'volumePreserving', 'name']);
    const subnet = deserializeSubnet(c.subnet, owner);
    try {
      return new AffineCoupling({ ...(c as unknown as AffineCouplingConfig), subnet });
    } catch (err) {
      subnet.dispose();
      throw err;
    }
  }

  getWeights(): Record<string, tf.Tensor> {
    return prefixWeights('subnet.', this.subnet.getWeights());
  }

  weightSpecs(): Record<string, WeightSpec> {
    return prefixSpecs('subnet.', specsOf(this.subnet));
  }

  setWeights(weights: Record<string, tf.Tensor>): void {
    validateWeights(weights, this.weightSpecs());
    setChildWeights('subnet.', weights, this.subnet);
  }

  dispose(): void {
    this.subnet.dispose();
  }
}
