import * as tf from '@tensorflow/tfjs-core';
import type { Encoder } from '@aeflow/backbone';
import { readSafetensorsHeader } from '@aeflow/tensor/node';
import { encoderFromConfig } from './encoder-config.js';
import { createModel, isModelWeightKey } from './model.js';
import type { AnomalyModel } from './model-types.js';
import type { LoopState } from './run-files.js';
import { RunFolder } from './run-folder.js';

/**
 * Loads a trained model from a run folder (`model.safetensors`, or `checkpoint.safetensors` with
 * `which: 'last'`), with the β chosen on validation when the run has `score.beta: 'auto'`.
 */
export async function loadRun(runDir: string, options: { encoder?: Encoder; which?: 'best' | 'last' } = {}): Promise<AnomalyModel> {
  const folder = new RunFolder(runDir);
  const config = await folder.read('config');
  const which = options.which === 'last' ? 'checkpoint' : 'model';
  const file = folder.path(which);
  let chosenBeta: number | undefined;
  if (config.score.beta === 'auto') {
    const meta = (await readSafetensorsHeader(file)).metadata;
    const fromState = meta.state ? (JSON.parse(meta.state) as Partial<LoopState>).beta : undefined;
    chosenBeta = meta.beta !== undefined ? Number(meta.beta) : fromState;
    if (chosenBeta === undefined || !Number.isFinite(chosenBeta)) {
      throw new Error(`${file}: the run has score.beta "auto" but the file records no chosen β (no validation with anomalies has run yet)`);
    }
  }
  const tensors = await folder.readWeights(which, { filter: isModelWeightKey });
  const adapted = config.encoder.batchNorm === 'train-normals';
  if (options.encoder && adapted && options.encoder.batchNormStatisticsHash === null) {
    tf.dispose(Object.values(tensors));
    throw new Error(`loadRun ${runDir}: the run re-estimated its encoder's BatchNorm statistics (encoder.batchNorm "train-normals") but the encoder passed in has the weights' own; leave out options.encoder`);
  }
  let encoder: Encoder;
  try {
    encoder = options.encoder ?? (await encoderFromConfig(config, adapted ? await folder.readBatchNormStatistics() : undefined));
  } catch (err) {
    tf.dispose(Object.values(tensors));
    throw err;
  }
  const model = createModel(config, encoder);
  try {
    if (chosenBeta !== undefined) model.setBeta(chosenBeta);
    model.setWeights(tensors);
  } catch (err) {
    model.dispose(options.encoder !== undefined);
    throw err;
  } finally {
    tf.dispose(Object.values(tensors));
  }
  return model;
}
