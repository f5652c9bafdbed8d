import * as tf from '@tensorflow/tfjs-core';
import type { Encoder } from '@aeflow/backbone';
import type { AEFlowDecoder } from '@aeflow/decoder';
import type { ModelKind, RunConfig } from './config.js';
import type { MemoryBank } from './memory-bank.js';
import type { ScoreColumns } from './run-files.js';
import type { SyntheticHead } from './synthetic-head.js';

/** The flow as the model uses it (what `@aeflow/flows`' `createAllInOneFlow` returns). */
export interface FlowModel {
  forward(x: tf.Tensor, options?: { training?: boolean; checkFinite?: boolean; condition?: tf.Tensor }): { y: tf.Tensor; logDet: tf.Tensor1D };
  readonly trainableVariables: tf.Variable[];
  /** The flow's weights, dotted keys (the model's getWeights hands them to its caller as they are). */
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
  /** The score's first part per image, [N]: what it holds is the model's `scoreParts.flow` (S_flow, or the knn model's kNN distance; 0 for the ae kind). */
  flow: tf.Tensor1D;
  /** The second part, −SSIM(x, x′) per image on [0, 1] images, [N] (`scoreParts.recon`; 0 for kinds without a decoder). */
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

/** Options of {@link AnomalyModel.lossFromFeatures}. */
export interface LossOptions {
  /**
   * Seed of this step's `train.featureNoise` (the training loop passes one from the run's seed and
   * the step number, so a resumed run draws the same noise). Without it, a counter of the model's
   * own calls is used.
   */
  noiseSeed?: number;
}

/** Options of {@link AnomalyModel.scoreTensors}. */
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

/** What a validation pass measured (per image and mean losses), from which a model picks its validation loss. */
export interface ValidationMeasures {
  total: Float32Array;
  loss: number;
  flowNll: number;
  reconLoss: number;
}

/**
 * One interface, four kinds (`config.model`): AE-FLOW (`AEFlowModel`: flow + decoder), the plain
 * autoencoder (`AutoencoderModel`), FastFlow (`FastFlowModel`: flow only) and the kNN bar
 * (`KnnModel`: a memory of pooled features). Build one with `createModel(config, encoder)`.
 *
 * Images enter as NHWC in [0, 1]; every score is "higher = more anomalous". The score has two parts
 * (S = β·flow + (1 − β)·recon, the paper's S_flow and S_recon slots); `scoreParts` names what each
 * holds for this kind (e.g. the kNN model's `flow` is a kNN distance), as scores.csv's columns do.
 */
export interface AnomalyModel {
  readonly kind: ModelKind;
  readonly config: RunConfig;
  readonly encoder: Encoder;
  readonly tap: string;
  /** Feature channels, stride and the feature map size at `config.size`. */
  readonly featureChannels: number;
  readonly stride: number;
  readonly featureSize: number;
  /** The flow (aeflow, fastflow), else undefined. */
  readonly flowModel: FlowModel | undefined;
  /** The decoder (aeflow, ae), else undefined. */
  readonly decoder: AEFlowDecoder | undefined;
  /** The memory of training images (knn; a flow with `score.flow: 'knn'`), else undefined. */
  readonly memory: MemoryBank | undefined;
  /** `score.synthetic: 'nsa'`: the fitted synthetic-anomaly head, else undefined. */
  readonly synthetic: SyntheticHead | undefined;
  /** Sets the synthetic-anomaly head (the model takes the tensors over). */
  setSyntheticHead(head: SyntheticHead): void;
  /** How it is fitted: `gradient` steps on `lossFromFeatures`, or `memory`: one pass of `addToMemory` (knn). */
  readonly fitting: 'gradient' | 'memory';
  /** What the two score parts hold (null: the kind has no such part, and it scores 0). */
  readonly scoreParts: ScoreColumns;
  /** The β of the total score (`config.score.beta`, or the one chosen on validation). */
  readonly beta: number;
  setBeta(beta: number): void;
  /** Everything an optimiser updates (empty for the knn model). */
  readonly trainableVariables: tf.Variable[];

  /** Frozen encoder features of images in [0, 1]: [N, H/stride, W/stride, C]. */
  encode(images: tf.Tensor4D): tf.Tensor4D;
  /** The encoder features as the flow (or the decoder) sees them (`flow.featureNorm`). */
  flowInput(features: tf.Tensor4D): tf.Tensor4D;
  /** z′ and log-det per image (the identity for kinds without a flow). */
  flow(features: tf.Tensor4D, training?: boolean): { z: tf.Tensor4D; logDet: tf.Tensor1D };
  /** Decoder output (normalised image); an error for kinds without a decoder. */
  decode(z: tf.Tensor4D): tf.Tensor4D;
  /** A normalised image back in [0, 1] pixel units (not clipped). */
  toPixels(normalized: tf.Tensor4D): tf.Tensor4D;
  /** NLL per dimension per image: −(log N(z′) + log|det|) / D, [N]. */
  nllPerDim(z: tf.Tensor, logDet: tf.Tensor1D): tf.Tensor1D;
  /** The training loss of a batch from precomputed features and the images. */
  lossFromFeatures(features: tf.Tensor4D, images: tf.Tensor4D, training?: boolean, options?: LossOptions): LossTensors;
  /** The training loss of a batch of images in [0, 1]. */
  loss(images: tf.Tensor4D, training?: boolean): LossTensors;
  /** Scores (and the anomaly map) of a batch from precomputed features (eval mode). */
  scoreFromFeatures(features: tf.Tensor4D, images: tf.Tensor4D, options?: ScoreOptions): ScoreTensors;
  /** Scores of a batch of images in [0, 1] (eval mode); the caller disposes them. */
  scoreTensors(images: tf.Tensor4D, options?: ScoreOptions): ScoreTensors;
  /** The reconstruction x′ in [0, 1]; an error for kinds without a decoder. */
  reconstruct(images: tf.Tensor4D): tf.Tensor4D;
  /** Scores of a batch of images, one record per image. */
  score(images: tf.Tensor4D): Promise<ImageScore[]>;
  /** The loss model selection uses when the validation images have no anomalies (lower is better). */
  validationLoss(measures: ValidationMeasures): number;

  /** Whether it keeps a memory (see `memory`). */
  readonly hasMemory: boolean;
  /** Images in the memory. */
  readonly memorySize: number;
  /** Adds a batch of training images (their encoder features) to the memory. */
  addToMemory(features: tf.Tensor4D): void;
  /** Empties the memory. */
  clearMemory(): void;
  /** The knn model's distances and their map at the feature resolution. */
  memoryScores(features: tf.Tensor4D): { distance: tf.Tensor1D; map: tf.Tensor4D };

  /** Weights with PyTorch-like keys (`flow.*`, `decoder.*`, `memory.bank`); new tensors. */
  getWeights(): Record<string, tf.Tensor>;
  /** Loads weights as `getWeights` returns them; a missing or extra key is an error. */
  setWeights(weights: Record<string, tf.Tensor>): void;
  /** Multiply-adds per image of one forward pass of the trained parts. */
  trainedMultiplyAdds(): number;
  /** Disposes everything it owns (and, unless `keepEncoder`, the encoder). */
  dispose(keepEncoder?: boolean): void;
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
