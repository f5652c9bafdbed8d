import * as tf from '@tensorflow/tfjs-core';
import {
  assertFinite,
  assignWeight,
  checkInput,
  checkLayout,
  checkPositiveInt,
  positionsPerSample,
  validateWeights,
  type WeightSpec,
} from './checks.js';
import type { FlowLayer, FlowOptions, FlowResult, InverseResult } from './flow-layer.js';
import { channelAffine } from './fused.js';
import { ownedVariable } from './modules.js';
import { readConfig, type FlowConfig } from './config.js';

/** How the parameter behind the scale becomes the scale (see `ActNormConfig.scaleActivation`). */
export type ScaleActivation = 'softplus' | 'exp' | 'sigmoid' | 'none';
const SCALE_ACTIVATIONS: readonly ScaleActivation[] = ['softplus', 'exp', 'sigmoid', 'none'];

export interface ActNormConfig {
  channels: number;
  /**
   * How the trainable parameter becomes the scale:
   * - `softplus` (FrEIA AllInOneBlock's "SOFTPLUS"): scale = 0.1·softplus_β=0.5(p)
   *   = 0.2·ln(1 + exp(p/2));
   * - `exp` (Glow, FrEIA's "EXP"): scale = exp(p);
   * - `sigmoid` (FrEIA's "SIGMOID"): scale = 10·sigmoid(p − 2), bounded in (0, 10);
   * - `none`: no scale (y = x + offset, log-det 0), as FrEIA's `gin_block`, which keeps the
   *   parameter in its state dict but never uses it: it is saved and loaded, not trained.
   * The parameter p is saved as `global_scale` either way (FrEIA's name).
   * Default `softplus`.
   */
  scaleActivation?: ScaleActivation;
  /** Initial scale (the parameter is set so the scale is this). Default 1. */
  initScale?: number;
  /**
   * Glow's data-dependent initialisation: the first forward pass (or `initializeFromData`) sets
   * scale and offset so that output has zero mean and unit variance per channel. Loading
   * weights with `setWeights` counts as initialised. Default false.
   */
  dataInit?: boolean;
  name?: string;
}

/**
 * Per-channel affine map y = x·scale + offset ("global affine" of FrEIA's AllInOneBlock, Glow's
 * actnorm), with log-det = positions·Σ_c ln scale_c per sample (positions = H·W for NHWC, 1 for
 * [batch, features]). Saved as FrEIA's AllInOneBlock names them: `global_scale` (the parameter
 * behind the scale, see `scaleActivation`) and `global_offset`, both [1, C, 1, 1].
 */
export class ActNorm implements FlowLayer {
  readonly name: string;
  readonly channels: number;
  readonly scaleActivation: ScaleActivation;
  readonly initScale: number;
  readonly dataInit: boolean;
  /** The parameter behind the scale (saved as `global_scale`). */
  readonly scaleParam: tf.Variable;
  readonly offset: tf.Variable;
  private initialized: boolean;

  constructor(config: ActNormConfig) {
    this.name = config.name ?? 'actnorm';
    checkPositiveInt(config.channels, `ActNorm "${this.name}"`, 'channels');
    this.channels = config.channels;
    this.scaleActivation = config.scaleActivation ?? 'softplus';
    if (!SCALE_ACTIVATIONS.includes(this.scaleActivation)) {
      throw new Error(`ActNorm "${this.name}": scaleActivation must be one of ${SCALE_ACTIVATIONS.map((a) => `'${a}'`).join(', ')}, got ${String(this.scaleActivation)}`);
    }
    const initScale = (this.initScale = config.initScale ?? 1);
    if (!(initScale > 0) || !Number.isFinite(initScale) || (this.scaleActivation === 'sigmoid' && initScale >= 10)) {
      throw new Error(
        `ActNorm "${this.name}": initScale must be a positive number${this.scaleActivation === 'sigmoid' ? ' below 10 (the sigmoid scale is bounded by 10)' : ''}, got ${initScale}`,
      );
    }
    if (this.scaleActivation === 'none' && (config.dataInit || initScale !== 1)) {
      throw new Error(`ActNorm "${this.name}": scaleActivation 'none' has no scale to initialise: leave initScale and dataInit unset`);
    }
    this.dataInit = config.dataInit ?? false;
    const p = this.inverseActivation(initScale);
    // With no scale (`none`) the parameter is only carried along for FrEIA's state dict.
    this.scaleParam = ownedVariable(tf.fill([this.channels], p), this.scaleActivation !== 'none');
    this.offset = ownedVariable(tf.zeros([this.channels]), true);
    this.initialized = !this.dataInit;
  }

  /** The parameter value that gives this scale. */
  private inverseActivation(scale: number): number {
    if (this.scaleActivation === 'exp') return Math.log(scale);
    if (this.scaleActivation === 'none') return 0;
    // 10·sigmoid(p − 2) = s  ⇔  p = 2 − ln(10/s − 1).
    if (this.scaleActivation === 'sigmoid') return 2 - Math.log(10 / scale - 1);
    // 0.2·ln(1 + e^{γ/2}) = s  ⇔  γ = 2·ln(e^{5s} − 1) = 2·(5s + ln(1 − e^{−5s})) (no overflow).
    const v = 5 * scale;
    return 2 * (v + Math.log(-Math.expm1(-v)));
  }

  /** The per-channel scale as a tensor [C] (differentiable). */
  scale(): tf.Tensor1D {
    return tf.tidy(() => {
      switch (this.scaleActivation) {
        case 'exp':
          return tf.exp(this.scaleParam);
        case 'sigmoid':
          return tf.mul(tf.sigmoid(tf.sub(this.scaleParam, 2)), 10);
        case 'none':
          return tf.ones([this.channels]);
        default:
          return tf.mul(tf.softplus(tf.mul(this.scaleParam, 0.5)), 0.2);
      }
    }) as tf.Tensor1D;
  }

  /** Sets scale and offset from a batch so that the output has zero mean, unit variance per channel. */
  initializeFromData(x: tf.Tensor): void {
    checkInput(x, `ActNorm "${this.name}"`, this.channels);
    const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
    const { mean, std } = tf.tidy(() => {
      const m = tf.moments(x, axes);
      return { mean: m.mean, std: tf.sqrt(m.variance) };
    });
    const meanV = mean.dataSync();
    const stdV = std.dataSync();
    mean.dispose();
    std.dispose();
    const params = new Float32Array(this.channels);
    const offsets = new Float32Array(this.channels);
    for (let c = 0; c < this.channels; c++) {
      const s = 1 / (stdV[c]! + 1e-6);
      params[c] = this.inverseActivation(s);
      offsets[c] = -meanV[c]! * s;
    }
    tf.tidy(() => {
      this.scaleParam.assign(tf.tensor1d(params));
      this.offset.assign(tf.tensor1d(offsets));
    });
    this.initialized = true;
  }

  forward(x: tf.Tensor, options: FlowOptions = {}): FlowResult {
    const who = `ActNorm "${this.name}"`;
    checkInput(x, who, this.channels);
    checkLayout(x, who, this.channels, options.layout);
    const check = options.checkFinite !== false;
    if (check) assertFinite(x, `${who}: forward input`);
    if (!this.initialized) this.initializeFromData(x);
    const out = tf.tidy(() => {
      const scale = this.scale();
      const y = channelAffine(x, scale, this.offset);
      return { y, logDet: this.logDetFor(x.shape, scale) };
    });
    if (check) assertFinite(out.y, `${who}: forward output`);
    return out;
  }

  inverse(y: tf.Tensor, options: FlowOptions = {}): InverseResult {
    const who = `ActNorm "${this.name}"`;
    checkInput(y, who, this.channels);
    checkLayout(y, who, this.channels, options.layout);
    const check = options.checkFinite !== false;
    if (check) assertFinite(y, `${who}: inverse input`);
    const out = tf.tidy(() => {
      const scale = this.scale();
      const x = tf.div(tf.sub(y, this.offset), scale);
      return { x, logDet: tf.neg<tf.Tensor1D>(this.logDetFor(y.shape, scale)) };
    });
    if (check) assertFinite(out.x, `${who}: inverse output`);
    return out;
  }

  private logDetFor(shape: readonly number[], scale: tf.Tensor1D): tf.Tensor1D {
    if (this.scaleActivation === 'none') return tf.zeros([shape[0]!]);
    const perSample = tf.mul(tf.sum(tf.log(scale)), positionsPerSample(shape));
    return tf.mul<tf.Tensor1D>(tf.ones([shape[0]!]), perSample);
  }

  get trainableVariables(): tf.Variable[] {
    return this.scaleActivation === 'none' ? [this.offset] : [this.scaleParam, this.offset];
  }

  static readonly className = 'ActNorm';

  getClassName(): string {
    return ActNorm.className;
  }

  /** The constructor's settings as JSON-able values (tfjs-layers' convention); weights are separate. */
  getConfig(): FlowConfig {
    return { channels: this.channels, scaleActivation: this.scaleActivation, initScale: this.initScale, dataInit: this.dataInit, name: this.name };
  }

  static fromConfig(config: FlowConfig): ActNorm {
    const c = readConfig(config, 'ActNorm.fromConfig', ['channels', 'scaleActivation', 'initScale', 'dataInit', 'name']);
    return new ActNorm(c as unknown as ActNormConfig);
  }

  /** New tensors [1, C, 1, 1] (FrEIA's layout; the caller disposes them). */
  getWeights(): Record<string, tf.Tensor> {
    const shape = [1, this.channels, 1, 1];
    return tf.tidy(() => ({ global_scale: tf.reshape(tf.clone(this.scaleParam), shape), global_offset: tf.reshape(tf.clone(this.offset), shape) }));
  }

  weightSpecs(): Record<string, WeightSpec> {
    const spec: WeightSpec = { shape: [1, this.channels, 1, 1], dtype: 'float32' };
    return { global_scale: spec, global_offset: spec };
  }

  setWeights(weights: Record<string, tf.Tensor>): void {
    const specs = this.weightSpecs();
    validateWeights(weights, specs);
    assignWeight(weights, 'global_scale', this.scaleParam, specs.global_scale!.shape);
    assignWeight(weights, 'global_offset', this.offset, specs.global_offset!.shape);
    this.initialized = true;
  }

  dispose(): void {
    this.scaleParam.dispose();
    this.offset.dispose();
  }
}
