import type * as tf from '@tensorflow/tfjs-core';
import type { AnomalyModel } from './model-types.js';
import { standInSyntheticHead } from './synthetic-head.js';

/**
 * Gives an untrained model what its score needs, for speed benchmarks: a kNN memory of `features`
 * (model `knn`, `score.flow: 'knn'`) and a stand-in synthetic-anomaly head (`score.synthetic`).
 * Its scores mean nothing; their cost is a trained model's (the memory's search up to its size).
 */
export function prepareUntrainedForScoring(model: Pick<AnomalyModel, 'config' | 'hasMemory' | 'addToMemory' | 'setSyntheticHead' | 'featureChannels'>, features: tf.Tensor4D): void {
  if (model.hasMemory) model.addToMemory(features);
  if (model.config.score.synthetic !== 'none') model.setSyntheticHead(standInSyntheticHead(model.featureChannels));
}
