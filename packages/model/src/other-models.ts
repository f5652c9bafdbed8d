import * as tf from '@tensorflow/tfjs-core';
import type { Encoder } from '@aeflow/backbone';
import type { AEFlowDecoder } from '@aeflow/decoder';
import type { RunConfig } from './config.js';
import { EncoderModel } from './encoder-model.js';
import { buildDecoder, reconstructionLoss, reconstructionScore, totalLoss } from './flow-models.js';
import { MemoryBank } from './memory-bank.js';
import { combineScores, type LossOptions, type LossTensors, type ScoreOptions, type ScoreTensors, type ValidationMeasures } from './model-types.js';
import type { ScoreColumns } from './run-files.js';

/**
 * The plain autoencoder (the paper's Table 1 baseline): encoder → decoder, no flow. Loss and score
 * are the reconstruction's (MSE or 1 − SSIM; −SSIM).
 */
export class AutoencoderModel extends EncoderModel {
  readonly kind = 'ae' as const;
  readonly fitting = 'gradient' as const;
  readonly scoreParts: ScoreColumns = { flow: null, recon: 'neg_ssim' };
  override readonly decoder: AEFlowDecoder;

  constructor(config: RunConfig, encoder: Encoder, parts: { decoder?: AEFlowDecoder } = {}) {
    super(config, encoder);
    this.decoder = parts.decoder ?? buildDecoder(config, this.featureChannels, this.stride);
  }

  lossFromFeatures(features: tf.Tensor4D, images: tf.Tensor4D, _training = true, _options: LossOptions = {}): LossTensors {
    this.checkAlive();
    return tf.tidy(() => {
      const { z } = this.flow(features, false);
      const flowNll: tf.Scalar = tf.scalar(0);
      const recon = reconstructionLoss(this, z, images, this.asRgb(images));
      return { total: totalLoss(flowNll, recon, this.config.loss.alpha), flowNll, recon };
    });
  }

  scoreFromFeatures(features: tf.Tensor4D, images: tf.Tensor4D, options: ScoreOptions = {}): ScoreTensors {
    this.checkAlive();
    const beta = this.beta;
    const n = images.shape[0];
    return tf.tidy(() => {
      const { z } = this.flow(features, false);
      const flow: tf.Tensor1D = tf.zeros([n]);
      const { recon, residual, xHat } = reconstructionScore(this, z, this.asRgb(images));
      return { flow, recon, total: combineScores(flow, recon, beta), residual, ...(options.reconstruction ? { reconstruction: xHat } : {}) };
    });
  }

  /** Without anomalies, model selection takes the reconstruction loss. */
  validationLoss(measures: ValidationMeasures): number {
    return measures.reconLoss;
  }
}

/**
 * The kNN bar: nothing trained — a memory of the training images' pooled, unit-length encoder
 * features, scored by the mean distance to the `knn.k` nearest. One pass of `addToMemory` fits it.
 * `flow.featureNorm` does not apply: it has no flow.
 */
export class KnnModel extends EncoderModel {
  readonly kind = 'knn' as const;
  readonly fitting = 'memory' as const;
  readonly scoreParts: ScoreColumns = { flow: 'feature_knn_distance', recon: null };
  override readonly memory: MemoryBank;

  constructor(config: RunConfig, encoder: Encoder) {
    super(config, encoder);
    this.memory = new MemoryBank(this.featureChannels, `the encoder's ${this.tap} channels`);
  }

  /** Nothing is trained: zero losses (the validation passes still ask). */
  lossFromFeatures(_features: tf.Tensor4D, _images: tf.Tensor4D, _training = true, _options: LossOptions = {}): LossTensors {
    this.checkAlive();
    return tf.tidy(() => {
      const flowNll: tf.Scalar = tf.scalar(0);
      const recon: tf.Scalar = tf.scalar(0);
      return { total: totalLoss(flowNll, recon, this.config.loss.alpha), flowNll, recon };
    });
  }

  /**
   * The embedding of an image: its encoder feature map averaged over positions, scaled to unit
   * length, [N, C]; also the average's length (for {@link memoryScores}' map).
   */
  private pooledEmbedding(features: tf.Tensor4D): { unit: tf.Tensor2D; length: tf.Tensor2D } {
    return tf.tidy(() => {
      const pooled = tf.mean<tf.Tensor2D>(features, [1, 2]);
      const length = tf.sqrt(tf.add<tf.Tensor2D>(tf.sum(tf.square(pooled), 1, true), 1e-12));
      return { unit: tf.div<tf.Tensor2D>(pooled, length), length };
    });
  }

  protected override memoryRows(features: tf.Tensor4D): tf.Tensor2D {
    const { unit, length } = this.pooledEmbedding(features);
    length.dispose();
    return unit;
  }

  /**
   * The mean Euclidean distance from each image's embedding to its k nearest in memory (unit
   * vectors: d² = 2 − 2·cos), [N]; and where the image differs from those neighbours, [N, h, w, 1]
   * at the feature resolution: each position's share c_p = ⟨f_p / |ḡ|, ĝ − m̄⟩ (ḡ the pooled
   * features, ĝ = ḡ/|ḡ|, m̄ the neighbours' mean). The map averages to the mean of d²/2 over the
   * neighbours exactly, so it splits the score over the image.
   */
  override memoryScores(features: tf.Tensor4D): { distance: tf.Tensor1D; map: tf.Tensor4D } {
    this.checkAlive();
    const bank = this.memory.tensor('AEFlow.memoryScores');
    return tf.tidy(() => {
      const { unit, length } = this.pooledEmbedding(features);
      const { distance, indices } = this.memory.nearest(unit, this.config.knn.k, true, 'AEFlow.memoryScores');
      const neighbours = tf.mean<tf.Tensor2D>(tf.gather(bank, indices), 1);
      const direction = tf.div(tf.sub(unit, neighbours), length);
      const [n, fh, fw, c] = features.shape;
      const map = tf.reshape<tf.Rank.R4>(tf.matMul(tf.reshape(features, [n, fh * fw, c]), tf.reshape(direction, [n, c, 1])), [n, fh, fw, 1]);
      return { distance, map };
    });
  }

  scoreFromFeatures(features: tf.Tensor4D, images: tf.Tensor4D, _options: ScoreOptions = {}): ScoreTensors {
    this.checkAlive();
    const beta = this.beta;
    const [n, h, w] = images.shape;
    return tf.tidy(() => {
      const { distance, map } = this.memoryScores(features);
      const residual = tf.squeeze<tf.Tensor3D>(tf.image.resizeBilinear(map, [h, w], false), [3]);
      return { flow: distance, recon: tf.zeros<tf.Rank.R1>([n]), total: combineScores(distance, tf.zeros([n]), beta), residual };
    });
  }

  /** Without anomalies, model selection takes the mean distance of the validation normals to their neighbours. */
  validationLoss(measures: ValidationMeasures): number {
    return measures.total.reduce((a, b) => a + b, 0) / Math.max(1, measures.total.length);
  }
}
