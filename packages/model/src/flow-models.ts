import * as tf from '@tensorflow/tfjs-core';
import type { Encoder } from '@aeflow/backbone';
import { AEFlowDecoder } from '@aeflow/decoder';
import { createAllInOneFlow, positionalEncoding2d } from '@aeflow/flows';
import type { RunConfig } from './config.js';
import { EncoderModel } from './encoder-model.js';
import { MemoryBank } from './memory-bank.js';
import { combineScores, type FlowModel, type LossOptions, type LossTensors, type ScoreOptions, type ScoreTensors, type ValidationMeasures } from './model-types.js';
import { scoreColumns, type PrimaryScoreColumn, type ScoreColumns } from './run-files.js';
import { syntheticPooling, syntheticScore } from './synthetic-head.js';
import { ssimMap } from './ssim.js';

const LOG_2PI = Math.log(2 * Math.PI);

/** The decoder of the kinds that reconstruct (aeflow, ae). */
export function buildDecoder(config: RunConfig, channels: number, stride: number): AEFlowDecoder {
  return new AEFlowDecoder({
    inChannels: channels,
    stride,
    ...(config.decoder.widths !== null ? { widths: config.decoder.widths } : {}),
    outChannels: 3,
    seed: config.train.seed + 2,
  });
}

/** The reconstruction loss of a decoded batch: MSE on normalised images, or 1 − SSIM on [0, 1] images. */
export function reconstructionLoss(model: EncoderModel, z: tf.Tensor4D, images: tf.Tensor4D, rgb: tf.Tensor4D): tf.Scalar {
  const xHat = model.decode(z);
  if (model.config.loss.recon === 'mse') return tf.mean(tf.squaredDifference(xHat, model.encoder.normalize(images)));
  return tf.sub(1, tf.mean(tf.mean(ssimMap(model.toPixels(xHat), rgb, { dataRange: 1 }), [1, 2, 3])));
}

/** The reconstruction score and map: −SSIM(x, x′) per image and |x − x′| averaged over channels, with x′ clipped to [0, 1]. */
export function reconstructionScore(model: EncoderModel, z: tf.Tensor4D, rgb: tf.Tensor4D): { recon: tf.Tensor1D; residual: tf.Tensor3D; xHat: tf.Tensor4D } {
  const xHat = tf.clipByValue<tf.Tensor4D>(model.toPixels(model.decode(z)), 0, 1);
  const recon = tf.neg(tf.mean(ssimMap(xHat, rgb, { dataRange: 1 }), [1, 2, 3])) as tf.Tensor1D;
  const residual = tf.mean<tf.Tensor3D>(tf.abs(tf.sub(rgb, xHat)), 3);
  return { recon, residual, xHat };
}

/** L = α·flowNll + (1 − α)·recon. */
export function totalLoss(flowNll: tf.Scalar, recon: tf.Scalar, alpha: number): tf.Scalar {
  return tf.add<tf.Scalar>(tf.mul(flowNll, alpha), tf.mul(recon, 1 - alpha));
}

/**
 * What the flow kinds share (AE-FLOW and FastFlow): the normalizing flow on the encoder features
 * (optionally conditioned on position), its NLL, the feature noise of training, the flow part of
 * the score (`score.flow`: prior density, NLL, or the kNN distance of the pooled z′ to a memory of
 * the training images — the memory-bank mixin).
 */
export abstract class FlowModelBase extends EncoderModel {
  override readonly flowModel: FlowModel;
  override readonly memory: MemoryBank | undefined;
  /** The flow's condition with `flow.positional` > 0: the positional encoding of the feature map, [1, h, w, P]. */
  private readonly position: tf.Tensor4D | undefined;
  private noiseCalls = 0;

  constructor(config: RunConfig, encoder: Encoder, flow?: FlowModel) {
    super(config, encoder);
    this.flowModel =
      flow ??
      createAllInOneFlow({
        channels: this.featureChannels,
        blocks: config.flow.blocks,
        subnet: config.flow.subnet,
        ...(config.flow.hiddenChannels !== null ? { hiddenChannels: config.flow.hiddenChannels } : {}),
        clamp: config.flow.clamp,
        clampMode: config.flow.clampMode,
        permutation: config.flow.permutation,
        conditionChannels: config.flow.positional,
        seed: config.train.seed + 1,
      });
    if (config.flow.positional > 0) this.position = positionalEncoding2d(this.featureSize, this.featureSize, config.flow.positional);
    const regions = config.knn.regions === 'left-right' ? 2 : 1;
    this.memory = config.score.flow === 'knn' ? new MemoryBank(this.featureChannels * regions, `the encoder's ${this.tap} channels${regions > 1 ? `, per half (knn.regions "${config.knn.regions}")` : ''}`, regions) : undefined;
  }

  /** The flow part's name: what `score.flow` makes it hold. */
  protected get flowPart(): PrimaryScoreColumn {
    return scoreColumns(this.config).flow!;
  }

  /** z′ and the log-det per image, from encoder features (`flowInput` is applied here). */
  override flow(features: tf.Tensor4D, training = false): { z: tf.Tensor4D; logDet: tf.Tensor1D } {
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

  protected flowOfInput(features: tf.Tensor4D, training: boolean): { z: tf.Tensor4D; logDet: tf.Tensor1D } {
    const [, h, w] = features.shape;
    if (this.position && (this.position.shape[1] !== h || this.position.shape[2] !== w)) {
      throw new Error(`AEFlow.flow: features of ${h}×${w} positions, but the flow is conditioned on the ${this.featureSize}×${this.featureSize} grid of size ${this.config.size}; resize images to ${this.config.size} px`);
    }
    const { y, logDet } = this.flowModel.forward(features, { training, checkFinite: false, ...(this.position ? { condition: this.position } : {}) });
    return { z: y as tf.Tensor4D, logDet };
  }

  /**
   * z′ and the mean NLL per dimension of a training (or evaluation) batch, inside the caller's
   * tidy: the flow input, with `train.featureNoise` added when training (seeded by
   * `options.noiseSeed`, else a counter of the model's calls).
   */
  protected flowLoss(features: tf.Tensor4D, training: boolean, options: LossOptions): { z: tf.Tensor4D; flowNll: tf.Scalar } {
    const sigma = this.config.train.featureNoise;
    const noiseSeed = training && sigma > 0 ? (options.noiseSeed ?? this.config.train.seed * 7919 + ++this.noiseCalls) : undefined;
    let input = this.flowInput(features);
    // the noise smooths the flow's training data only; the decoder's target stays the image
    if (noiseSeed !== undefined) input = tf.add(input, tf.randomNormal(input.shape, 0, sigma, 'float32', noiseSeed));
    const { z, logDet } = this.flowOfInput(input, training);
    return { z, flowNll: tf.mean(this.nllPerDim(z, logDet)) };
  }

  /**
   * The flow part of the score per image from z′ (eval mode), as `score.flow` says; inside the
   * caller's tidy. `score.flow: 'knn'`: the latent kNN distance (per half with `knn.regions:
   * 'left-right'`, averaged). With `score.synthetic: 'nsa'`: that distance and
   * the synthetic-anomaly head's logit on the encoder `features`, each standardised on the
   * training normals (the kNN by leave-one-out over the memory), summed.
   */
  protected flowScore(z: tf.Tensor4D, logDet: tf.Tensor1D, features: tf.Tensor4D): tf.Tensor1D {
    const n = z.shape[0];
    if (this.config.score.flow === 'nll') return this.nllPerDim(z, logDet);
    if (this.config.score.flow === 'knn') {
      const fn = 'AEFlow.scoreFromFeatures';
      const distance = this.memory!.regionDistance(this.pooledLatent(z), this.config.knn.k, fn);
      const synthetic = this.config.score.synthetic;
      if (synthetic === 'none') return distance;
      const head = this.synthetic;
      if (!head) throw new Error(`${fn}: score.synthetic "${synthetic}" needs the fitted synthetic-anomaly head (trainRun fits it; a run's weights hold it as synthetic.head.*)`);
      const loo = this.memory!.leaveOneOut(this.config.knn.k, fn);
      return tf.add<tf.Tensor1D>(tf.div(tf.sub(distance, loo.mean), loo.sd), syntheticScore(head, features, syntheticPooling(synthetic)));
    }
    // −exp(mean over dimensions of log N(z′; 0, I)): the prior density per dimension, no Jacobian
    const meanLog = tf.mean(tf.reshape(tf.mul(tf.add(tf.square(z), LOG_2PI), -0.5), [n, -1]), 1);
    return tf.neg(tf.exp(meanLog)) as tf.Tensor1D;
  }

  /** `score.flow: 'knn'` remembers the pooled z′ of each training image (eval mode), [N, C] (or [N, 2C], `knn.regions`). */
  protected override memoryRows(features: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.pooledLatent(this.flow(features, false).z));
  }

  /**
   * z′ [N, h, w, C] pooled as `knn.regions` says (inside the caller's tidy): 'whole', the mean over
   * positions, [N, C]; 'left-right', the mean over the left ⌈w/2⌉ columns, then over the right
   * ⌈w/2⌉, side by side, [N, 2C].
   */
  private pooledLatent(z: tf.Tensor4D): tf.Tensor2D {
    if (this.config.knn.regions === 'whole') return tf.mean<tf.Tensor2D>(z, [1, 2]);
    const w = z.shape[2];
    const half = Math.ceil(w / 2);
    const left = tf.mean<tf.Tensor2D>(tf.slice(z, [0, 0, 0, 0], [-1, -1, half, -1]), [1, 2]);
    const right = tf.mean<tf.Tensor2D>(tf.slice(z, [0, 0, w - half, 0], [-1, -1, half, -1]), [1, 2]);
    return tf.concat([left, right], 1);
  }

  /** Without anomalies, model selection takes the flow's NLL per dimension. */
  validationLoss(measures: ValidationMeasures): number {
    return measures.flowNll;
  }

  protected override disposeParts(): void {
    super.disposeParts();
    this.position?.dispose();
  }
}

/**
 * AE-FLOW (the paper): a frozen encoder, a normalizing flow on its features and a decoder from the
 * flow's output back to the image. Loss α·NLL/dim + (1 − α)·recon; score β·S_flow + (1 − β)·(−SSIM).
 */
export class AEFlowModel extends FlowModelBase {
  readonly kind = 'aeflow' as const;
  readonly fitting = 'gradient' as const;
  override readonly decoder: AEFlowDecoder;

  constructor(config: RunConfig, encoder: Encoder, parts: { flow?: FlowModel; decoder?: AEFlowDecoder } = {}) {
    super(config, encoder, parts.flow);
    this.decoder = parts.decoder ?? buildDecoder(config, this.featureChannels, this.stride);
  }

  get scoreParts(): ScoreColumns {
    return { flow: this.flowPart, recon: 'neg_ssim' };
  }

  lossFromFeatures(features: tf.Tensor4D, images: tf.Tensor4D, training = true, options: LossOptions = {}): LossTensors {
    this.checkAlive();
    return tf.tidy(() => {
      const { z, flowNll } = this.flowLoss(features, training, options);
      const recon = reconstructionLoss(this, z, images, this.asRgb(images));
      return { total: totalLoss(flowNll, recon, this.config.loss.alpha), flowNll, recon };
    });
  }

  scoreFromFeatures(features: tf.Tensor4D, images: tf.Tensor4D, options: ScoreOptions = {}): ScoreTensors {
    this.checkAlive();
    const beta = this.beta;
    return tf.tidy(() => {
      const { z, logDet } = this.flow(features, false);
      const flow = this.flowScore(z, logDet, features);
      const { recon, residual, xHat } = reconstructionScore(this, z, this.asRgb(images));
      const total = combineScores(flow, recon, beta);
      return { flow, recon, total, residual, ...(options.reconstruction ? { reconstruction: xHat } : {}) };
    });
  }
}

/**
 * FastFlow (the paper's Table 1 baseline): the flow alone, no decoder. Loss NLL/dim; the map is
 * −exp(−½·mean_c z′²) per feature position, upsampled, and with `score.flow: 'density'` the score
 * is its mean.
 */
export class FastFlowModel extends FlowModelBase {
  readonly kind = 'fastflow' as const;
  readonly fitting = 'gradient' as const;

  constructor(config: RunConfig, encoder: Encoder, parts: { flow?: FlowModel } = {}) {
    super(config, encoder, parts.flow);
  }

  get scoreParts(): ScoreColumns {
    return { flow: this.flowPart, recon: null };
  }

  lossFromFeatures(features: tf.Tensor4D, _images: tf.Tensor4D, training = true, options: LossOptions = {}): LossTensors {
    this.checkAlive();
    return tf.tidy(() => {
      const { flowNll } = this.flowLoss(features, training, options);
      const recon: tf.Scalar = tf.scalar(0);
      return { total: totalLoss(flowNll, recon, this.config.loss.alpha), flowNll, recon };
    });
  }

  scoreFromFeatures(features: tf.Tensor4D, images: tf.Tensor4D, _options: ScoreOptions = {}): ScoreTensors {
    this.checkAlive();
    const beta = this.beta;
    const [n, h, w] = images.shape;
    return tf.tidy(() => {
      const { z, logDet } = this.flow(features, false);
      // FastFlow's map: −exp(−½·mean_c z′²) per feature position, bilinearly upsampled
      const map = tf.neg(tf.exp(tf.mul(tf.mean(tf.square(z), 3, true), -0.5))) as tf.Tensor4D;
      const residual = tf.squeeze<tf.Tensor3D>(tf.image.resizeBilinear(map, [h, w], false), [3]);
      const flow: tf.Tensor1D = this.config.score.flow === 'density' ? tf.mean(map, [1, 2, 3]) : this.flowScore(z, logDet, features);
      const recon: tf.Tensor1D = tf.zeros([n]);
      return { flow, recon, total: combineScores(flow, recon, beta), residual };
    });
  }
}
