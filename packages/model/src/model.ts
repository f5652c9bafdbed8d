import type { Encoder } from '@aeflow/backbone';
import type { AEFlowDecoder } from '@aeflow/decoder';
import type { RunConfig } from './config.js';
import { AEFlowModel, FastFlowModel } from './flow-models.js';
import type { AnomalyModel, FlowModel } from './model-types.js';
import { AutoencoderModel, KnnModel } from './other-models.js';

export { combineScores, scoresToRecords } from './model-types.js';
export type { AnomalyModel, FlowModel, ImageScore, LossOptions, LossTensors, ScoreOptions, ScoreTensors, ValidationMeasures } from './model-types.js';
export { EncoderModel, isModelWeightKey } from './encoder-model.js';
export { AEFlowModel, FastFlowModel, FlowModelBase } from './flow-models.js';
export { AutoencoderModel, KnnModel } from './other-models.js';
export { MemoryBank } from './memory-bank.js';

/** Ready-made parts to build a model with (else built from the configuration, seeded). */
export interface ModelParts {
  flow?: FlowModel;
  decoder?: AEFlowDecoder;
}

/**
 * The model `config.model` names, on a frozen encoder: `aeflow` → {@link AEFlowModel}, `ae` →
 * {@link AutoencoderModel}, `fastflow` → {@link FastFlowModel}, `knn` → {@link KnnModel}. The one
 * place that branches on the kind.
 */
export function createModel(config: RunConfig, encoder: Encoder, parts: ModelParts = {}): AnomalyModel {
  switch (config.model) {
    case 'aeflow':
      return new AEFlowModel(config, encoder, parts);
    case 'ae':
      return new AutoencoderModel(config, encoder, parts.decoder ? { decoder: parts.decoder } : {});
    case 'fastflow':
      return new FastFlowModel(config, encoder, parts.flow ? { flow: parts.flow } : {});
    case 'knn':
      return new KnnModel(config, encoder);
  }
}

/** A model of any kind (the name before the kinds had their own classes). */
export type AEFlow = AnomalyModel;

/**
 * `new AEFlow(config, encoder, parts?)`: the previous release's constructor, kept so code written
 * for it runs — it returns {@link createModel}'s model of the kind `config.model` names.
 * @deprecated use `createModel(config, encoder, parts)`.
 */
export const AEFlow = function AEFlow(config: RunConfig, encoder: Encoder, parts: ModelParts = {}): AnomalyModel {
  return createModel(config, encoder, parts);
} as unknown as new (config: RunConfig, encoder: Encoder, parts?: ModelParts) => AnomalyModel;
