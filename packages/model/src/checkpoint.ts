import * as tf from '@tensorflow/tfjs-core';
import type { Adam } from './adam.js';
import type { AnomalyModel } from './model-types.js';
import { formatHistory, type HistoryRecord, type LoopState } from './run-files.js';
import type { RunFolder } from './run-folder.js';

/**
 * The weights of a model and its optimizer's moments as one record (optimizer tensors under
 * `optimizer.`): what a checkpoint holds and what the loop snapshots at the start of an epoch.
 * New tensors: the caller disposes them.
 */
export function trainingState(model: AnomalyModel, optimizer: Adam): Record<string, tf.Tensor> {
  const all: Record<string, tf.Tensor> = { ...model.getWeights() };
  for (const [k, v] of Object.entries(optimizer.getState())) all[`optimizer.${k}`] = v;
  return all;
}

/** Loads a {@link trainingState} record back into the model and the optimizer (at `optimizerStep`). */
export function restoreTrainingState(model: AnomalyModel, optimizer: Adam, from: Record<string, tf.Tensor>, optimizerStep: number): void {
  const weights: Record<string, tf.Tensor> = {};
  const opt: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(from)) {
    if (k.startsWith('optimizer.')) opt[k.slice('optimizer.'.length)] = v;
    else weights[k] = v;
  }
  model.setWeights(weights);
  optimizer.setState(opt, optimizerStep);
}

/**
 * Writes `checkpoint.safetensors`: weights + optimizer moments, and in its metadata the loop state
 * and the history up to this point — one atomic file, so weights, state and history never get out
 * of step. (history.jsonl is written after it; a kill in between is repaired by the resume, which
 * rewrites history.jsonl from the checkpoint.)
 */
export async function writeCheckpoint(folder: RunFolder, model: AnomalyModel, optimizer: Adam, state: LoopState, history: readonly HistoryRecord[]): Promise<void> {
  const tensors = trainingState(model, optimizer);
  try {
    await folder.writeWeights('checkpoint', tensors, { format: 'aeflow-checkpoint', epoch: String(state.epoch), state: JSON.stringify(state), history: formatHistory(history) });
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

/**
 * Reads a checkpoint into the model and optimizer; returns its loop state and the history it
 * carries (null for a checkpoint of the previous release, which had none).
 */
export async function readCheckpoint(folder: RunFolder, model: AnomalyModel, optimizer: Adam): Promise<{ state: LoopState; history: HistoryRecord[] | null }> {
  const { state, history } = await folder.readWeightsMetadata('checkpoint');
  const tensors = await folder.readWeights('checkpoint');
  try {
    restoreTrainingState(model, optimizer, tensors, state.optimizerStep);
  } finally {
    tf.dispose(Object.values(tensors));
  }
  return { state, history };
}

/**
 * The history a resumed run continues from, for a checkpoint without one (the previous release):
 * the records of history.jsonl up to the checkpoint — its completed epochs, and the non-finite
 * steps of its interrupted epoch up to its step.
 */
export function historyUpToCheckpoint(records: readonly HistoryRecord[], state: LoopState): HistoryRecord[] {
  return records.filter((r) => r.kind === 'cache' || r.epoch <= state.epoch || (r.kind === 'nonfinite' && r.epoch === state.partial?.epoch && r.step <= state.step));
}
