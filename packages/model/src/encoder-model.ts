import * as tf from '@tensorflow/tfjs-core';
import type { Encoder, Normalization } from '@aeflow/backbone';
import type { AEFlowDecoder } from '@aeflow/decoder';
import type { ModelKind, RunConfig } from './config.js';
import type { MemoryBank } from './memory-bank.js';
import {
  scoresToRecords,
  type AnomalyModel,
  type FlowModel,
  type ImageScore,
  type LossOptions,
  type LossTensors,
  type ScoreOptions,
  type ScoreTensors,
  type ValidationMeasures,
} from './model-types.js';
import type { ScoreColumns } from './run-files.js';
import { SYNTHETIC_HEAD_KEYS, type SyntheticHead } from './synthetic-head.js';

function denormalizer(n: Normalization): { scale: number[]; offset: number[] } {
  if (n.kind === 'imagenet') return { scale: [...n.std], offset: [...n.mean] };
  return { scale: [0.5, 0.5, 0.5], offset: [0.5, 0.5, 0.5] }; // [-1, 1] → [0, 1]
}

/** Whether a key of a weights file is one of a model's (what setWeights takes; a checkpoint also holds the optimizer's). */
export function isModelWeightKey(key: string): boolean {
  return key.startsWith('flow.') || key.startsWith('decoder.') || key === 'memory.bank' || (SYNTHETIC_HEAD_KEYS as readonly string[]).includes(key);
}

/**
 * What every kind shares: the frozen encoder and its feature geometry, β, the image checks, the
 * mapping of normalised images back to pixels, scoring images through `scoreFromFeatures`, an
 * optional memory bank (`memory`) and its weights, and disposal. Each kind implements its loss,
 * its scores and its trained parts.
 */
export abstract class EncoderModel implements AnomalyModel {
  abstract readonly kind: ModelKind;
  abstract readonly fitting: 'gradient' | 'memory';
  abstract readonly scoreParts: ScoreColumns;
  readonly config: RunConfig;
  readonly encoder: Encoder;
  readonly tap: string;
  readonly featureChannels: number;
  readonly stride: number;
  readonly featureSize: number;
  readonly flowModel: FlowModel | undefined = undefined;
  readonly decoder: AEFlowDecoder | undefined = undefined;
  readonly memory: MemoryBank | undefined = undefined;
  protected readonly denorm: { scale: tf.Tensor1D; offset: tf.Tensor1D };
  private disposed = false;
  private scoreBeta: number;
  /** `score.synthetic: 'nsa'`: the fitted synthetic-anomaly head (trainRun fits it; loadRun reads it from the weights). */
  private syntheticHead: SyntheticHead | undefined;

  constructor(config: RunConfig, encoder: Encoder) {
    this.config = config;
    this.encoder = encoder;
    // 'auto': the paper's β until one is chosen on validation (trainRun) or loaded (loadRun)
    this.scoreBeta = typeof config.score.beta === 'number' ? config.score.beta : 0.9;
    this.tap = config.encoder.tap;
    const channels = (encoder.channels as Record<string, number>)[this.tap];
    const stride = (encoder.stride as Record<string, number>)[this.tap];
    if (channels === undefined || stride === undefined) {
      throw new Error(`AEFlow: the encoder ${encoder.id} has no tap "${this.tap}" (it has ${Object.keys(encoder.channels).join(', ')}); set encoder.tap accordingly`);
    }
    if (config.size % stride !== 0 || config.size < stride) {
      throw new Error(`AEFlow: size ${config.size} must be a multiple of the encoder stride ${stride} (e.g. ${Math.max(1, Math.round(config.size / stride)) * stride})`);
    }
    this.featureChannels = channels;
    this.stride = stride;
    this.featureSize = config.size / stride;
    const d = denormalizer(encoder.normalization);
    this.denorm = { scale: tf.tensor1d(d.scale), offset: tf.tensor1d(d.offset) };
  }

  get beta(): number {
    return this.scoreBeta;
  }

  setBeta(beta: number): void {
    if (!Number.isFinite(beta) || beta < 0 || beta > 1) throw new Error(`AEFlow.setBeta: beta must be a number in [0, 1], got ${beta}`);
    this.scoreBeta = beta;
  }

  /** The synthetic-anomaly head, once fitted or loaded (`score.synthetic: 'nsa'`). */
  get synthetic(): SyntheticHead | undefined {
    return this.syntheticHead;
  }

  /** Sets the synthetic-anomaly head (the model keeps the tensors and disposes them). */
  setSyntheticHead(head: SyntheticHead): void {
    this.checkAlive();
    if (this.config.score.synthetic === 'none') throw new Error(`AEFlow.setSyntheticHead: the model's score.synthetic is "none"; a head is used only with "nsa" or "nsa-patch"`);
    const c = this.featureChannels;
    if (head.weight.rank !== 2 || head.weight.shape[0] !== c || head.weight.shape[1] !== 1 || head.bias.size !== 1 || head.stats.size !== 2) {
      throw new Error(`AEFlow.setSyntheticHead: synthetic.head.weight must be [${c}, 1], .bias [1], .stats [2]; got [${head.weight.shape.join(', ')}], [${head.bias.shape.join(', ')}], [${head.stats.shape.join(', ')}]`);
    }
    this.disposeSyntheticHead();
    this.syntheticHead = { weight: tf.keep(head.weight), bias: tf.keep(head.bias), stats: tf.keep(head.stats) };
  }

  private disposeSyntheticHead(): void {
    if (this.syntheticHead) tf.dispose([this.syntheticHead.weight, this.syntheticHead.bias, this.syntheticHead.stats]);
    this.syntheticHead = undefined;
  }

  get trainableVariables(): tf.Variable[] {
    return [...(this.flowModel?.trainableVariables ?? []), ...(this.decoder?.trainableVariables ?? [])];
  }

  encode(images: tf.Tensor4D): tf.Tensor4D {
    this.checkAlive();
    this.checkImages(images, 'encode');
    return tf.tidy(() => {
      const feats = this.encoder.features(this.encoder.normalize(images));
      return feats[this.tap]!;
    });
  }

  /**
   * The encoder features as the flow (or the decoder) sees them: unchanged, or with
   * `flow.featureNorm: 'l2'` each position's vector scaled to norm √C (a zero vector stays zero).
   */
  flowInput(features: tf.Tensor4D): tf.Tensor4D {
    if (this.config.flow.featureNorm === 'none') return tf.clone(features);
    return tf.tidy(() => {
      const norm = tf.sqrt(tf.add(tf.sum(tf.square(features), 3, true), 1e-12));
      return tf.mul<tf.Tensor4D>(tf.div(features, norm), Math.sqrt(features.shape[3]));
    });
  }

  /** The identity (with `flowInput` applied) for kinds without a flow; the flow kinds override it. */
  flow(features: tf.Tensor4D, _training = false): { z: tf.Tensor4D; logDet: tf.Tensor1D } {
    this.checkAlive();
    return tf.tidy(() => ({ z: this.flowInput(features), logDet: tf.zeros<tf.Rank.R1>([features.shape[0]]) }));
  }

  decode(z: tf.Tensor4D): tf.Tensor4D {
    this.checkAlive();
    if (!this.decoder) throw new Error(`AEFlow.decode: the "${this.config.model}" model has no decoder`);
    return this.decoder.forward(z);
  }

  toPixels(normalized: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.add(tf.mul(normalized, this.denorm.scale), this.denorm.offset));
  }

  nllPerDim(z: tf.Tensor, logDet: tf.Tensor1D): tf.Tensor1D {
    return tf.tidy(() => {
      const d = z.size / z.shape[0];
      const logPrior = tf.sum(tf.reshape(tf.mul(tf.add(tf.square(z), Math.log(2 * Math.PI)), -0.5), [z.shape[0], -1]), 1);
      return tf.div<tf.Tensor1D>(tf.neg(tf.add(logPrior, logDet)), d);
    });
  }

  abstract lossFromFeatures(features: tf.Tensor4D, images: tf.Tensor4D, training?: boolean, options?: LossOptions): LossTensors;

  loss(images: tf.Tensor4D, training = true): LossTensors {
    const features = this.encode(images);
    try {
      return this.lossFromFeatures(features, images, training);
    } finally {
      features.dispose();
    }
  }

  abstract scoreFromFeatures(features: tf.Tensor4D, images: tf.Tensor4D, options?: ScoreOptions): ScoreTensors;

  scoreTensors(images: tf.Tensor4D, options: ScoreOptions = {}): ScoreTensors {
    const features = this.encode(images);
    try {
      return this.scoreFromFeatures(features, images, options);
    } finally {
      features.dispose();
    }
  }

  reconstruct(images: tf.Tensor4D): tf.Tensor4D {
    this.checkAlive();
    if (!this.decoder) throw new Error(`AEFlow.reconstruct: the "${this.config.model}" model has no decoder, so no reconstruction`);
    const features = this.encode(images);
    try {
      return tf.tidy(() => tf.clipByValue<tf.Tensor4D>(this.toPixels(this.decode(this.flow(features, false).z)), 0, 1));
    } finally {
      features.dispose();
    }
  }

  async score(images: tf.Tensor4D): Promise<ImageScore[]> {
    const s = this.scoreTensors(images);
    try {
      return await scoresToRecords(s);
    } finally {
      tf.dispose([s.flow, s.recon, s.total, s.residual]);
    }
  }

  abstract validationLoss(measures: ValidationMeasures): number;

  get hasMemory(): boolean {
    return this.memory !== undefined;
  }

  get memorySize(): number {
    return this.memory?.size ?? 0;
  }

  /** One memory row per image of a batch of features: what this kind remembers. */
  protected memoryRows(_features: tf.Tensor4D): tf.Tensor2D {
    throw new Error(`AEFlow.addToMemory: the "${this.config.model}" model remembers nothing`);
  }

  addToMemory(features: tf.Tensor4D): void {
    this.checkAlive();
    if (!this.memory) {
      throw new Error(`AEFlow.addToMemory: only the "knn" model, or a flow scored with score.flow "knn", has a memory (this is "${this.config.model}" with score.flow "${this.config.score.flow}")`);
    }
    this.memory.add(this.memoryRows(features));
  }

  clearMemory(): void {
    this.memory?.clear();
  }

  memoryScores(_features: tf.Tensor4D): { distance: tf.Tensor1D; map: tf.Tensor4D } {
    this.checkAlive();
    throw new Error(`AEFlow.memoryScores: only the "knn" model has a memory of pooled features (this is "${this.config.model}")`);
  }

  /**
   * Flow and decoder weights with PyTorch-like keys: `flow.<key>` (the flow's own names) and
   * `decoder.<key>` (PyTorch layout); the memory as `memory.bank` [images, C] (absent while
   * empty). New tensors: the caller disposes them.
   */
  getWeights(): Record<string, tf.Tensor> {
    this.checkAlive();
    const out: Record<string, tf.Tensor> = { ...this.memory?.getWeights() };
    // The flow's getWeights returns new tensors (PyTorch layout), which pass to the caller as they are.
    if (this.flowModel) for (const [k, v] of Object.entries(this.flowModel.getWeights())) out[`flow.${k}`] = v;
    if (this.decoder) for (const [k, v] of Object.entries(this.decoder.getWeights())) out[`decoder.${k}`] = v;
    const head = this.syntheticHead;
    if (head) [out['synthetic.head.weight'], out['synthetic.head.bias'], out['synthetic.head.stats']] = [tf.clone(head.weight), tf.clone(head.bias), tf.clone(head.stats)];
    return out;
  }

  setWeights(weights: Record<string, tf.Tensor>): void {
    this.checkAlive();
    const flow: Record<string, tf.Tensor> = {};
    const dec: Record<string, tf.Tensor> = {};
    let bank: tf.Tensor | undefined;
    const head: Partial<Record<(typeof SYNTHETIC_HEAD_KEYS)[number], tf.Tensor>> = {};
    for (const [k, v] of Object.entries(weights)) {
      if ((SYNTHETIC_HEAD_KEYS as readonly string[]).includes(k)) head[k as (typeof SYNTHETIC_HEAD_KEYS)[number]] = v;
      else if (k.startsWith('flow.')) flow[k.slice(5)] = v;
      else if (k.startsWith('decoder.')) dec[k.slice(8)] = v;
      else if (k === 'memory.bank') bank = v;
      else throw new Error(`AEFlow.setWeights: unexpected key "${k}"; keys start with flow. or decoder. (or are memory.bank, ${SYNTHETIC_HEAD_KEYS.join(', ')})`);
    }
    const headKeys = Object.keys(head).length;
    if (headKeys > 0 && this.config.score.synthetic === 'none') throw new Error(`AEFlow.setWeights: the weights have synthetic.head.*, but the model's score.synthetic is "${this.config.score.synthetic}"`);
    if (headKeys > 0 && headKeys < SYNTHETIC_HEAD_KEYS.length) throw new Error(`AEFlow.setWeights: the synthetic head needs all of ${SYNTHETIC_HEAD_KEYS.join(', ')}; got ${Object.keys(head).join(', ')}`);
    if (bank && !this.memory) throw new Error(`AEFlow.setWeights: the "${this.config.model}" model (score.flow "${this.config.score.flow}") has no memory, but the weights have memory.bank`);
    // without memory.bank: empty (the state before the first batch, as a checkpoint may hold it)
    this.memory?.setWeights(bank, 'AEFlow.setWeights');
    if (this.flowModel) this.flowModel.setWeights(flow);
    else if (Object.keys(flow).length > 0) throw new Error(`AEFlow.setWeights: the "${this.config.model}" model has no flow, but the weights have flow.* keys`);
    // without the head: unfitted (a checkpoint written before it was fitted)
    if (headKeys > 0) {
      tf.tidy(() => this.setSyntheticHead({ weight: tf.clone(head['synthetic.head.weight']!) as tf.Tensor2D, bias: tf.clone(head['synthetic.head.bias']!) as tf.Tensor1D, stats: tf.clone(head['synthetic.head.stats']!) as tf.Tensor1D }));
    } else this.disposeSyntheticHead();
    if (this.decoder) this.decoder.setWeights(dec);
    else if (Object.keys(dec).length > 0) throw new Error(`AEFlow.setWeights: the "${this.config.model}" model has no decoder, but the weights have decoder.* keys`);
  }

  trainedMultiplyAdds(): number {
    const positions = this.featureSize * this.featureSize;
    const flowMacs = (this.flowModel as { multiplyAdds?: (h: number, w: number) => number } | undefined)?.multiplyAdds?.(this.featureSize, this.featureSize);
    // Fallback when the flow does not report its cost: its parameter count per position.
    const flowCost = flowMacs ?? (this.flowModel ? positions * this.flowModel.trainableVariables.reduce((s, v) => s + v.size, 0) : 0);
    return flowCost + (this.decoder?.multiplyAdds(this.featureSize, this.featureSize) ?? 0);
  }

  dispose(keepEncoder = false): void {
    if (this.disposed) return;
    this.disposeParts();
    this.disposeSyntheticHead();
    this.memory?.clear();
    tf.dispose([this.denorm.scale, this.denorm.offset]);
    if (!keepEncoder) this.encoder.dispose();
    this.disposed = true;
  }

  /** Disposes what the kind adds (flow, decoder, positional code). */
  protected disposeParts(): void {
    this.flowModel?.dispose();
    this.decoder?.dispose();
  }

  protected asRgb(images: tf.Tensor4D): tf.Tensor4D {
    return images.shape[3] === 3 ? images : tf.tile<tf.Tensor4D>(images, [1, 1, 1, 3]);
  }

  protected checkImages(images: tf.Tensor4D, fn: string): void {
    const [, h, w, c] = images.shape;
    if (images.rank !== 4 || (c !== 1 && c !== 3)) {
      throw new Error(`AEFlow.${fn}: expected NHWC images with 1 or 3 channels, got shape [${images.shape.join(', ')}]`);
    }
    if (h !== this.config.size || w !== this.config.size) {
      throw new Error(`AEFlow.${fn}: images are ${h}×${w}, the model was configured for ${this.config.size}×${this.config.size} (config.size)`);
    }
  }

  protected checkAlive(): void {
    if (this.disposed) throw new Error('AEFlow: used after dispose()');
  }
}
