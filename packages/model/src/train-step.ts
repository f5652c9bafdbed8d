import * as tf from '@tensorflow/tfjs-core';
import { Adam } from './adam.js';
import type { AnomalyModel } from './model-types.js';

/** What one training step did. */
export interface StepResult {
  loss: number;
  flowNll: number;
  recon: number;
  gradSquaredNorm: number;
  /** false: the loss or a gradient was NaN/Inf and the update was not applied. */
  finite: boolean;
}

/**
 * One optimisation step at a time on the trained parts (flow + decoder) of a model: loss,
 * gradients, a finiteness check (one read per step), and the Adam update only when everything is
 * finite. Every tensor of a step is disposed: the tensor count stays flat.
 */
export class Trainer {
  readonly optimizer: Adam;
  private readonly vars: tf.Variable[];

  constructor(
    readonly model: AnomalyModel,
    config: { lr: number; weightDecay: number },
  ) {
    this.vars = model.trainableVariables;
    this.optimizer = new Adam(this.vars, config);
  }

  /** A step on a batch of features (from the encoder or the cache) and its images in [0, 1]. */
  async step(features: tf.Tensor4D, images: tf.Tensor4D, options: { poison?: boolean; noiseSeed?: number } = {}): Promise<StepResult> {
    const parts: tf.Tensor[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const l = this.model.lossFromFeatures(features, images, true, options.noiseSeed !== undefined ? { noiseSeed: options.noiseSeed } : {});
      parts.push(tf.keep(l.flowNll), tf.keep(l.recon));
      return options.poison ? tf.mul<tf.Scalar>(l.total, Number.NaN) : l.total;
    }, this.vars);
    const ordered = this.vars.map((v) => grads[v.name] ?? tf.zerosLike(v));
    const check = tf.tidy(() => tf.stack([value, parts[0]!, parts[1]!, tf.addN(ordered.map((g) => tf.tidy(() => tf.sum(tf.square(g)))))]));
    try {
      const [loss, flowNll, recon, gradSquaredNorm] = Array.from(await check.data()) as [number, number, number, number];
      const finite = [loss, flowNll, recon, gradSquaredNorm].every((v) => Number.isFinite(v));
      if (finite) this.optimizer.apply(ordered);
      return { loss, flowNll, recon, gradSquaredNorm, finite };
    } finally {
      tf.dispose([value, check, ...parts, ...Object.values(grads)]);
      tf.dispose(ordered.filter((g) => !Object.values(grads).includes(g)));
    }
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

