import * as tf from '@tensorflow/tfjs-core';
import type { Encoder, Normalization } from '@aeflow/backbone';
import { createAllInOneFlow, positionalEncoding2d } from '@aeflow/flows';
import { AEFlowDecoder } from '@aeflow/decoder';
import type { RunConfig } from './config.js';
import { ssimMap } from './ssim.js';

/** The flow as the model uses it (what `@aeflow/flows`' `createAllInOneFlow` returns). */
export interface FlowModel {
  forward(x: tf.Tensor, options?: { training?: boolean; checkFinite?: boolean; condition?: tf.Tensor }): { y: tf.Tensor; logDet: tf.Tensor1D };
  readonly trainableVariables: tf.Variable[];
  /** The flow's weights, dotted keys (AEFlow.getWeights hands them to its caller as they are). */
  getWeights(): Record<string, tf.Tensor>;
  setWeights(weights: Record<string, tf.Tensor>): void;
  dispose(): void;
}

/** The three losses of a batch (scalars). */
export interface LossTensors {
  /** α·flowNll + (1 − α)·recon. */
  total: tf.Scalar;
  /** Flow negative log-likelihood per dimension, mean over the batch (0 without a flow). */
  flowNll: tf.Scalar;
  /** Reconstruction loss (MSE, or 1 − SSIM), mean over the batch (0 without a decoder). */
  recon: tf.Scalar;
}

/** Scores of a batch as tensors: higher = more anomalous. */
export interface ScoreTensors {
  /** S_flow per image, [N] (0 without a flow). */
  flow: tf.Tensor1D;
  /** −SSIM(x, x′) per image on [0, 1] images, [N] (0 without a decoder). */
  recon: tf.Tensor1D;
  /** β·flow + (1 − β)·recon, [N]. */
  total: tf.Tensor1D;
  /**
   * Where the image differs from normal, [N, H, W] at the image size: |x − x′| averaged over the
   * channels (AE-FLOW, AE); the per-pixel flow map −exp(−½·mean_c z′²) upsampled (FastFlow).
   */
  residual: tf.Tensor3D;
  /**
   * The reconstruction x′ in [0, 1], [N, H, W, 3] (the image the SSIM and the residual compare
   * with): only when asked for with `{ reconstruction: true }` and the model has a decoder.
   */
  reconstruction?: tf.Tensor4D;
}

/** Options of {@link AEFlow.lossFromFeatures}. */
export interface LossOptions {
  /**
   * Seed of this step's `train.featureNoise` (the training loop passes one from the run's seed and
   * the step number, so a resumed run draws the same noise). Without it, a counter of the model's
   * own calls is used.
   */
  noiseSeed?: number;
}

/** Options of {@link AEFlow.scoreTensors}. */
export interface ScoreOptions {
  /** Also return the reconstruction x′ (`ScoreTensors.reconstruction`; the caller disposes it). */
  reconstruction?: boolean;
}

/**
 * The total anomaly score from its two parts, S = β·S_flow + (1 − β)·S_recon: the one formula the
 * model's `total` uses, for numbers (a β sweep over stored parts) and for [N] tensors.
 */
export function combineScores(flow: number, recon: number, beta: number): number;
export function combineScores(flow: tf.Tensor1D, recon: tf.Tensor1D, beta: number): tf.Tensor1D;
export function combineScores(flow: number | tf.Tensor1D, recon: number | tf.Tensor1D, beta: number): number | tf.Tensor1D {
  if (!Number.isFinite(beta) || beta < 0 || beta > 1) throw new Error(`combineScores: beta must be a number in [0, 1], got ${beta}`);
  if (typeof flow === 'number' && typeof recon === 'number') return beta * flow + (1 - beta) * recon;
  if (typeof flow === 'number' || typeof recon === 'number') throw new Error('combineScores: flow and recon must both be numbers or both tensors');
  return tf.tidy(() => tf.add<tf.Tensor1D>(tf.mul(flow, beta), tf.mul(recon, 1 - beta)));
}

/** The scores of one image, as plain numbers. */
export interface ImageScore {
  flow: number;
  recon: number;
  total: number;
  /** H·W row-major. */
  residual: Float32Array;
  width: number;
  height: number;
}

const LOG_2PI = Math.log(2 * Math.PI);

function denormalizer(n: Normalization): { scale: number[]; offset: number[] } {
  if (n.kind === 'imagenet') return { scale: [...n.std], offset: [...n.mean] };
  return { scale: [0.5, 0.5, 0.5], offset: [0.5, 0.5, 0.5] }; // [-1, 1] → [0, 1]
}

/**
 * AE-FLOW: a frozen encoder, a normalizing flow on its features and a decoder from the flow's
 * output back to the image. Also the two baselines of the paper's Table 1 (`config.model`):
 * `ae` (encoder → decoder, no flow) and `fastflow` (encoder → flow, no decoder), and `knn`: no
 * flow, no decoder, nothing trained — a memory of the training images' pooled features, scored
 * by the distance to the k nearest (the bar every learned model is measured against).
 *
 * Images enter as NHWC in [0, 1] (what `@aeflow/datasets` yields); the encoder normalises them.
 * The decoder predicts the normalised image, so the MSE compares normalised images, while SSIM
 * (training loss option and score) compares images mapped back to [0, 1] with data range 1.
 */
export class AEFlow {
  readonly config: RunConfig;
  readonly encoder: Encoder;
  readonly tap: string;
  /** Feature channels, stride and the feature map size at `config.size`. */
  readonly featureChannels: number;
  readonly stride: number;
  readonly featureSize: number;
  readonly flowModel: FlowModel | undefined;
  readonly decoder: AEFlowDecoder | undefined;
  private readonly denorm: { scale: tf.Tensor1D; offset: tf.Tensor1D };
  /** The flow's condition with `flow.positional` > 0: the positional encoding of the feature map, [1, h, w, P]. */
  private readonly position: tf.Tensor4D | undefined;
  private disposed = false;
  private scoreBeta: number;
  private noiseCalls = 0;
  /** The memory of training images (see {@link hasMemory}), in the chunks they were added; `memoryBank` is their concatenation, made when first needed. */
  private memoryChunks: tf.Tensor2D[] = [];
  private memoryBank: tf.Tensor2D | undefined;

  constructor(config: RunConfig, encoder: Encoder, parts: { flow?: FlowModel; decoder?: AEFlowDecoder } = {}) {
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
    const seed = config.train.seed;
    if (config.model !== 'ae' && config.model !== 'knn') {
      this.flowModel =
        parts.flow ??
        (createAllInOneFlow({
          channels,
          blocks: config.flow.blocks,
          subnet: config.flow.subnet,
          ...(config.flow.hiddenChannels !== null ? { hiddenChannels: config.flow.hiddenChannels } : {}),
          clamp: config.flow.clamp,
          clampMode: config.flow.clampMode,
          permutation: config.flow.permutation,
          conditionChannels: config.flow.positional,
          seed: seed + 1,
        }));
      if (config.flow.positional > 0) this.position = positionalEncoding2d(this.featureSize, this.featureSize, config.flow.positional);
    }
    if (config.model !== 'fastflow' && config.model !== 'knn') {
      this.decoder =
        parts.decoder ??
        new AEFlowDecoder({
          inChannels: channels,
          stride,
          ...(config.decoder.widths !== null ? { widths: config.decoder.widths } : {}),
          outChannels: 3,
          seed: seed + 2,
        });
    }
    const d = denormalizer(encoder.normalization);
    this.denorm = { scale: tf.tensor1d(d.scale), offset: tf.tensor1d(d.offset) };
  }

  /**
   * The β of the total score: `config.score.beta`, or with `'auto'` the β chosen on validation
   * (set by `trainRun` and `loadRun`; the paper's 0.9 until then).
   */
  get beta(): number {
    return this.scoreBeta;
  }

  /** Sets the β of the total score (a number in [0, 1]), e.g. the one `chooseBeta` picked. */
  setBeta(beta: number): void {
    if (!Number.isFinite(beta) || beta < 0 || beta > 1) throw new Error(`AEFlow.setBeta: beta must be a number in [0, 1], got ${beta}`);
    this.scoreBeta = beta;
  }

  /** Everything an optimiser updates: flow then decoder. */
  get trainableVariables(): tf.Variable[] {
    return [...(this.flowModel?.trainableVariables ?? []), ...(this.decoder?.trainableVariables ?? [])];
  }

  /** Frozen encoder features of images in [0, 1]: [N, H/stride, W/stride, C]. */
  encode(images: tf.Tensor4D): tf.Tensor4D {
    this.checkAlive();
    this.checkImages(images, 'encode');
    return tf.tidy(() => {
      const feats = this.encoder.features(this.encoder.normalize(images));
      return feats[this.tap]!;
    });
  }

  /**
   * The encoder features as the flow sees them: unchanged, or with `flow.featureNorm: 'l2'` each
   * position's vector scaled to norm √C (a zero vector stays zero).
   */
  flowInput(features: tf.Tensor4D): tf.Tensor4D {
    if (this.config.flow.featureNorm === 'none') return tf.clone(features);
    return tf.tidy(() => {
      const norm = tf.sqrt(tf.add(tf.sum(tf.square(features), 3, true), 1e-12));
      return tf.mul<tf.Tensor4D>(tf.div(features, norm), Math.sqrt(features.shape[3]));
    });
  }

  /**
   * The flow's output z′ and log-det per image (the identity for the `ae` baseline), from encoder
   * features (`flowInput` is applied here).
   */
  flow(features: tf.Tensor4D, training = false): { z: tf.Tensor4D; logDet: tf.Tensor1D } {
    this.checkAlive();
    if (this.config.flow.featureNorm !== 'none') {
      const input = this.flowInput(features);
      try {
        return this.flowOfInput(input, training);
      } finally {
        input.dispose();
      }
    }
    return this.flowOfInput(features, training);
  }

  private flowOfInput(features: tf.Tensor4D, training: boolean): { z: tf.Tensor4D; logDet: tf.Tensor1D } {
    if (!this.flowModel) return tf.tidy(() => ({ z: tf.clone(features), logDet: tf.zeros<tf.Rank.R1>([features.shape[0]]) }));
    const [, h, w] = features.shape;
    if (this.position && (this.position.shape[1] !== h || this.position.shape[2] !== w)) {
      throw new Error(`AEFlow.flow: features of ${h}×${w} positions, but the flow is conditioned on the ${this.featureSize}×${this.featureSize} grid of size ${this.config.size}; resize images to ${this.config.size} px`);
    }
    const { y, logDet } = this.flowModel.forward(features, { training, checkFinite: false, ...(this.position ? { condition: this.position } : {}) });
    return { z: y as tf.Tensor4D, logDet };
  }

  /** Decoder output: the reconstructed image, ImageNet/encoder-normalised, [N, H, W, 3]. */
  decode(z: tf.Tensor4D): tf.Tensor4D {
    this.checkAlive();
    if (!this.decoder) throw new Error(`AEFlow.decode: the "${this.config.model}" model has no decoder`);
    return this.decoder.forward(z);
  }

  /** Maps a normalised image (the decoder's output) back to [0, 1] pixel units (not clipped). */
  toPixels(normalized: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.add(tf.mul(normalized, this.denorm.scale), this.denorm.offset));
  }

  /** The training loss of a batch, from precomputed features (the feature cache) and the images. */
  lossFromFeatures(features: tf.Tensor4D, images: tf.Tensor4D, training = true, options: LossOptions = {}): LossTensors {
    this.checkAlive();
    const { alpha } = this.config.loss;
    const sigma = this.config.train.featureNoise;
    const noiseSeed = training && sigma > 0 && this.flowModel ? (options.noiseSeed ?? this.config.train.seed * 7919 + ++this.noiseCalls) : undefined;
    return tf.tidy(() => {
      let input = this.flowInput(features);
      // the noise smooths the flow's training data only; the decoder's target stays the image
      if (noiseSeed !== undefined) input = tf.add(input, tf.randomNormal(input.shape, 0, sigma, 'float32', noiseSeed));
      const { z, logDet } = this.flowOfInput(input, training);
      const flowNll = this.flowModel ? tf.mean(this.nllPerDim(z, logDet)) : tf.scalar(0);
      let recon: tf.Scalar = tf.scalar(0);
      if (this.decoder) {
        const xHat = this.decode(z);
        if (this.config.loss.recon === 'mse') {
          recon = tf.mean(tf.squaredDifference(xHat, this.encoder.normalize(images)));
        } else {
          recon = tf.sub(1, tf.mean(tf.mean(ssimMap(this.toPixels(xHat), this.asRgb(images), { dataRange: 1 }), [1, 2, 3])));
        }
      }
      const total = tf.add<tf.Scalar>(tf.mul(flowNll, alpha), tf.mul(recon, 1 - alpha));
      return { total, flowNll: flowNll as tf.Scalar, recon };
    });
  }

  /** The training loss of a batch of images in [0, 1]. */
  loss(images: tf.Tensor4D, training = true): LossTensors {
    const features = this.encode(images);
    try {
      return this.lossFromFeatures(features, images, training);
    } finally {
      features.dispose();
    }
  }

  /** NLL per dimension per image: −(log N(z′) + log|det|) / D, [N]. */
  nllPerDim(z: tf.Tensor, logDet: tf.Tensor1D): tf.Tensor1D {
    return tf.tidy(() => {
      const d = z.size / z.shape[0];
      const logPrior = tf.sum(tf.reshape(tf.mul(tf.add(tf.square(z), LOG_2PI), -0.5), [z.shape[0], -1]), 1);
      return tf.div<tf.Tensor1D>(tf.neg(tf.add(logPrior, logDet)), d);
    });
  }

  /** Scores of a batch from precomputed features (eval mode). */
  scoreFromFeatures(features: tf.Tensor4D, images: tf.Tensor4D, options: ScoreOptions = {}): ScoreTensors {
    this.checkAlive();
    const beta = this.scoreBeta;
    const [n, h, w] = images.shape;
    if (this.config.model === 'knn') {
      return tf.tidy(() => {
        const { distance, map } = this.memoryScores(features);
        const residual = tf.squeeze<tf.Tensor3D>(tf.image.resizeBilinear(map, [h, w], false), [3]);
        return { flow: distance, recon: tf.zeros<tf.Rank.R1>([n]), total: combineScores(distance, tf.zeros([n]), beta), residual };
      });
    }
    return tf.tidy(() => {
      const { z, logDet } = this.flow(features, false);
      let flow: tf.Tensor1D = tf.zeros([n]);
      if (this.flowModel) {
        if (this.config.score.flow === 'nll') flow = this.nllPerDim(z, logDet);
        else if (this.config.score.flow === 'knn') flow = this.nearest(tf.mean<tf.Tensor2D>(z, [1, 2]), this.bank('scoreFromFeatures'), false).distance;
        else {
          // −exp(mean over dimensions of log N(z′; 0, I)): the prior density per dimension, no Jacobian
          const meanLog = tf.mean(tf.reshape(tf.mul(tf.add(tf.square(z), LOG_2PI), -0.5), [n, -1]), 1);
          flow = tf.neg(tf.exp(meanLog)) as tf.Tensor1D;
        }
      }
      let recon: tf.Tensor1D = tf.zeros([n]);
      let residual: tf.Tensor3D;
      let reconstruction: tf.Tensor4D | undefined;
      if (this.decoder) {
        const xHat = tf.clipByValue<tf.Tensor4D>(this.toPixels(this.decode(z)), 0, 1);
        if (options.reconstruction) reconstruction = xHat;
        const x = this.asRgb(images);
        recon = tf.neg(tf.mean(ssimMap(xHat, x, { dataRange: 1 }), [1, 2, 3])) as tf.Tensor1D;
        residual = tf.mean<tf.Tensor3D>(tf.abs(tf.sub(x, xHat)), 3);
      } else {
        // FastFlow's map: −exp(−½·mean_c z′²) per feature position, bilinearly upsampled
        const map = tf.neg(tf.exp(tf.mul(tf.mean(tf.square(z), 3, true), -0.5))) as tf.Tensor4D;
        residual = tf.squeeze(tf.image.resizeBilinear(map, [h, w], false), [3]);
        if (this.flowModel && this.config.score.flow === 'density') flow = tf.mean(map, [1, 2, 3]);
      }
      const total = combineScores(flow, recon, beta);
      return { flow, recon, total, residual, ...(reconstruction ? { reconstruction } : {}) };
    });
  }

  /**
   * Scores of a batch of images in [0, 1] (eval mode), as tensors; with `{ reconstruction: true }`
   * also x′. The caller disposes them all.
   */
  scoreTensors(images: tf.Tensor4D, options: ScoreOptions = {}): ScoreTensors {
    const features = this.encode(images);
    try {
      return this.scoreFromFeatures(features, images, options);
    } finally {
      features.dispose();
    }
  }

  /**
   * The reconstruction x′ of images in [0, 1]: encode → flow → decode, mapped back to [0, 1] and
   * clipped, [N, H, W, 3] — the image the reconstruction score compares with. Models without a
   * decoder (`fastflow`) have none: an error.
   */
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

  /** Scores of a batch of images in [0, 1], one record per image (higher = more anomalous). */
  async score(images: tf.Tensor4D): Promise<ImageScore[]> {
    const s = this.scoreTensors(images);
    try {
      return await scoresToRecords(s);
    } finally {
      tf.dispose([s.flow, s.recon, s.total, s.residual]);
    }
  }

  /** Images in the 'knn' model's memory. */
  get memorySize(): number {
    return this.memoryChunks.reduce((s, c) => s + c.shape[0], 0);
  }

  /**
   * The 'knn' model's embedding of an image: its encoder feature map averaged over positions,
   * scaled to unit length, [N, C]; also the average's length (for {@link memoryScores}' map).
   * `flow.featureNorm` does not apply: the kNN has no flow.
   */
  private pooledEmbedding(features: tf.Tensor4D): { unit: tf.Tensor2D; length: tf.Tensor2D } {
    return tf.tidy(() => {
      const pooled = tf.mean<tf.Tensor2D>(features, [1, 2]);
      const length = tf.sqrt(tf.add<tf.Tensor2D>(tf.sum(tf.square(pooled), 1, true), 1e-12));
      return { unit: tf.div<tf.Tensor2D>(pooled, length), length };
    });
  }

  /**
   * Whether the model keeps a memory of training images: the 'knn' model (pooled, unit-length
   * encoder features), or a flow scored with `score.flow: 'knn'` (pooled z′).
   */
  get hasMemory(): boolean {
    return this.config.model === 'knn' || (this.flowModel !== undefined && this.config.score.flow === 'knn');
  }

  /** The pooled z′ of a batch (eval mode), [N, C]: what `score.flow: 'knn'` compares. */
  private pooledLatent(features: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => tf.mean<tf.Tensor2D>(this.flow(features, false).z, [1, 2]));
  }

  /** Adds a batch of training images (their encoder features) to the memory (see {@link hasMemory}). */
  addToMemory(features: tf.Tensor4D): void {
    this.checkAlive();
    if (!this.hasMemory) throw new Error(`AEFlow.addToMemory: only the "knn" model, or a flow scored with score.flow "knn", has a memory (this is "${this.config.model}" with score.flow "${this.config.score.flow}")`);
    let row: tf.Tensor2D;
    if (this.config.model === 'knn') {
      const { unit, length } = this.pooledEmbedding(features);
      length.dispose();
      row = unit;
    } else {
      row = this.pooledLatent(features);
    }
    this.memoryChunks.push(tf.keep(row));
    this.memoryBank?.dispose();
    this.memoryBank = undefined;
  }

  /** Empties the memory (a flow's memory is rebuilt after every epoch, its z′ having moved). */
  clearMemory(): void {
    tf.dispose(this.memoryChunks);
    this.memoryChunks = [];
    this.memoryBank?.dispose();
    this.memoryBank = undefined;
  }

  /** The memory as one [images, C] tensor (kept: it may be built inside a caller's tidy and outlives it). */
  private bank(fn: string): tf.Tensor2D {
    if (this.memoryChunks.length === 0) throw new Error(`AEFlow.${fn}: the memory is empty; fill it with trainRun (or addToMemory), or load a trained run`);
    this.memoryBank ??= tf.keep(this.memoryChunks.length === 1 ? tf.clone(this.memoryChunks[0]!) : tf.concat(this.memoryChunks, 0));
    return this.memoryBank;
  }

  /**
   * The k nearest memory rows of each row of `queries` [N, C]: their mean Euclidean distance [N]
   * and their indices [N, k]. `unit`: every row has length 1, so |q − m|² = 2 − 2·q·m.
   */
  private nearest(queries: tf.Tensor2D, bank: tf.Tensor2D, unit: boolean): { distance: tf.Tensor1D; indices: tf.Tensor2D } {
    return tf.tidy(() => {
      const k = Math.min(this.config.knn.k, bank.shape[0]);
      const twice = tf.mul(tf.matMul(queries, bank, false, true), 2);
      // |q − m|² = |q|² + |m|² − 2·q·m
      const lengths = unit ? tf.scalar(2) : tf.add(tf.sum(tf.square(queries), 1, true), tf.reshape(tf.sum(tf.square(bank), 1), [1, -1]));
      const top = tf.topk(tf.neg(tf.relu(tf.sub(lengths, twice))), k, true);
      return { distance: tf.mean<tf.Tensor1D>(tf.sqrt(tf.neg(top.values)), 1), indices: top.indices as tf.Tensor2D };
    });
  }

  /**
   * The 'knn' model's scores: the mean Euclidean distance from each image's embedding to its k
   * nearest in memory (unit vectors: d² = 2 − 2·cos), [N]; and where the image differs from those
   * neighbours, [N, h, w, 1] at the feature resolution: each position's share
   * c_p = ⟨f_p / |ḡ|, ĝ − m̄⟩ (ḡ the pooled features, ĝ = ḡ/|ḡ|, m̄ the neighbours' mean). The map
   * averages to the mean of d²/2 over the neighbours exactly, so it splits the score over the image.
   */
  memoryScores(features: tf.Tensor4D): { distance: tf.Tensor1D; map: tf.Tensor4D } {
    this.checkAlive();
    if (this.config.model !== 'knn') throw new Error(`AEFlow.memoryScores: only the "knn" model has a memory of pooled features (this is "${this.config.model}")`);
    const bank = this.bank('memoryScores');
    return tf.tidy(() => {
      const { unit, length } = this.pooledEmbedding(features);
      const { distance, indices } = this.nearest(unit, bank, true);
      const neighbours = tf.mean<tf.Tensor2D>(tf.gather(bank, indices), 1);
      const direction = tf.div(tf.sub(unit, neighbours), length);
      const [n, fh, fw, c] = features.shape;
      const map = tf.reshape<tf.Rank.R4>(tf.matMul(tf.reshape(features, [n, fh * fw, c]), tf.reshape(direction, [n, c, 1])), [n, fh, fw, 1]);
      return { distance, map };
    });
  }

  /**
   * Flow and decoder weights with PyTorch-like keys: `flow.<key>` (the flow's own names) and
   * `decoder.<key>` (PyTorch layout); the 'knn' model's memory as `memory.bank` [images, C] (absent
   * while empty). New tensors: the caller disposes them.
   */
  getWeights(): Record<string, tf.Tensor> {
    this.checkAlive();
    const out: Record<string, tf.Tensor> = {};
    if (this.memoryChunks.length > 0) out['memory.bank'] = tf.concat(this.memoryChunks, 0);
    // The flow's getWeights returns new tensors (PyTorch layout), which pass to the caller as they are.
    if (this.flowModel) for (const [k, v] of Object.entries(this.flowModel.getWeights())) out[`flow.${k}`] = v;
    if (this.decoder) for (const [k, v] of Object.entries(this.decoder.getWeights())) out[`decoder.${k}`] = v;
    return out;
  }

  /** Loads weights as {@link getWeights} returns them; a missing or extra key is an error. */
  setWeights(weights: Record<string, tf.Tensor>): void {
    this.checkAlive();
    const flow: Record<string, tf.Tensor> = {};
    const dec: Record<string, tf.Tensor> = {};
    let bank: tf.Tensor | undefined;
    for (const [k, v] of Object.entries(weights)) {
      if (k.startsWith('flow.')) flow[k.slice(5)] = v;
      else if (k.startsWith('decoder.')) dec[k.slice(8)] = v;
      else if (k === 'memory.bank') bank = v;
      else throw new Error(`AEFlow.setWeights: unexpected key "${k}"; keys start with flow. or decoder. (or are memory.bank)`);
    }
    if (bank && !this.hasMemory) throw new Error(`AEFlow.setWeights: the "${this.config.model}" model (score.flow "${this.config.score.flow}") has no memory, but the weights have memory.bank`);
    if (this.hasMemory) {
      if (bank && (bank.rank !== 2 || bank.shape[1] !== this.featureChannels)) {
        throw new Error(`AEFlow.setWeights: memory.bank must be [images, ${this.featureChannels}] (the encoder's ${this.tap} channels), got [${bank.shape.join(', ')}]`);
      }
      this.clearMemory();
      // without memory.bank: empty (the state before the first batch, as a checkpoint may hold it)
      if (bank) this.memoryChunks = [tf.keep(tf.clone(bank) as tf.Tensor2D)];
    }
    if (this.flowModel) this.flowModel.setWeights(flow);
    else if (Object.keys(flow).length > 0) throw new Error(`AEFlow.setWeights: the "${this.config.model}" model has no flow, but the weights have flow.* keys`);
    if (this.decoder) this.decoder.setWeights(dec);
    else if (Object.keys(dec).length > 0) throw new Error(`AEFlow.setWeights: the "${this.config.model}" model has no decoder, but the weights have decoder.* keys`);
  }

  /** Multiply-adds per image of one forward pass of the trained parts (flow + decoder). */
  trainedMultiplyAdds(): number {
    const positions = this.featureSize * this.featureSize;
    const flowMacs = (this.flowModel as { multiplyAdds?: (h: number, w: number) => number } | undefined)?.multiplyAdds?.(this.featureSize, this.featureSize);
    // Fallback when the flow does not report its cost: its parameter count per position.
    const flowCost = flowMacs ?? (this.flowModel ? positions * this.flowModel.trainableVariables.reduce((s, v) => s + v.size, 0) : 0);
    return flowCost + (this.decoder?.multiplyAdds(this.featureSize, this.featureSize) ?? 0);
  }

  /** Disposes the flow, the decoder and (unless `keepEncoder`) the encoder. */
  dispose(keepEncoder = false): void {
    if (this.disposed) return;
    this.flowModel?.dispose();
    this.decoder?.dispose();
    this.clearMemory();
    tf.dispose([this.denorm.scale, this.denorm.offset]);
    this.position?.dispose();
    if (!keepEncoder) this.encoder.dispose();
    this.disposed = true;
  }

  private asRgb(images: tf.Tensor4D): tf.Tensor4D {
    return images.shape[3] === 3 ? images : tf.tile<tf.Tensor4D>(images, [1, 1, 1, 3]);
  }

  private checkImages(images: tf.Tensor4D, fn: string): void {
    const [, h, w, c] = images.shape;
    if (images.rank !== 4 || (c !== 1 && c !== 3)) {
      throw new Error(`AEFlow.${fn}: expected NHWC images with 1 or 3 channels, got shape [${images.shape.join(', ')}]`);
    }
    if (h !== this.config.size || w !== this.config.size) {
      throw new Error(`AEFlow.${fn}: images are ${h}×${w}, the model was configured for ${this.config.size}×${this.config.size} (config.size)`);
    }
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('AEFlow: used after dispose()');
  }
}

/** Reads score tensors into one record per image (does not dispose them). */
export async function scoresToRecords(s: ScoreTensors): Promise<ImageScore[]> {
  const [flow, recon, total, residual] = await Promise.all([s.flow.data(), s.recon.data(), s.total.data(), s.residual.data()]);
  const [n, h, w] = s.residual.shape;
  const out: ImageScore[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      flow: flow[i]!,
      recon: recon[i]!,
      total: total[i]!,
      residual: (residual as Float32Array).slice(i * h * w, (i + 1) * h * w),
      width: w,
      height: h,
    });
  }
  return out;
}
