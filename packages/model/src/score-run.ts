import * as tf from '@tensorflow/tfjs-core';
import type { Encoder } from '@aeflow/backbone';
import { loadImageBatch, type SkippedFile } from '@aeflow/datasets';
import { atThreshold, auroc, aurocConfidence, averagePrecision, bestF1, type ThresholdMetrics } from '@aeflow/metrics';
import { BETA_GRID } from './beta.js';
import { combineScores } from './model.js';
import { yieldToEventLoop } from './event-loop.js';
import { resolveSplit, type DataSplit } from './feature-batches.js';
import { loadRun } from './load-run.js';
import { scoreColumns, type MetricsFile, type ScoreRow } from './run-files.js';
import { RunFolder } from './run-folder.js';

export interface ScoreRunOptions {
  runDir: string;
  data: DataSplit;
  encoder?: Encoder;
  /** Decision threshold on the total score; default: the best-F1 threshold when labels allow it. */
  threshold?: number;
  batchSize?: number;
  /** Write scores.csv and metrics.json into the run folder (default true). */
  write?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface ScoreRunResult {
  rows: ScoreRow[];
  /** Files left out because they failed to decode (`dataset.skipInvalid`); the dataset is not changed. */
  skipped: SkippedFile[];
  metrics: { auroc: number; averagePrecision: number; bestF1: ThresholdMetrics; normals: number; anomalies: number } | null;
}

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** metrics.json of scored rows with both classes, at a threshold (the one form of the file, see `metricsFileSchema`). */
function metricsFile(rows: readonly ScoreRow[], threshold: number, thresholdRule: 'best-f1' | 'value', beta: number, betaRule: 'run' | 'auto'): MetricsFile {
  const labelled = rows.filter((r) => r.label !== null);
  const labels = labelled.map((r) => r.label!);
  const scores = labelled.map((r) => r.total);
  const normal = labels.filter((l) => l === 0).length;
  const anomalous = labels.length - normal;
  const at = atThreshold(labels, scores, threshold);
  // DeLong's variance needs two images of each class
  const ci = normal >= 2 && anomalous >= 2 ? aurocConfidence(labels, scores, 0.95) : null;
  return {
    auroc: auroc(labels, scores),
    aurocCI: ci ? { low: ci.low, high: ci.high } : null,
    ap: averagePrecision(labels, scores),
    threshold,
    f1: finiteOrNull(at.f1),
    accuracy: finiteOrNull(at.accuracy),
    sensitivity: finiteOrNull(at.sensitivity),
    specificity: finiteOrNull(at.specificity),
    counts: { images: rows.length, normal, anomalous, unlabeled: rows.length - labelled.length, tp: at.tp, fp: at.fp, tn: at.tn, fn: at.fn, predictedAnomalous: rows.filter((r) => r.total >= threshold).length },
    thresholdRule,
    beta,
    betaRule,
    betaSweep: BETA_GRID.map((b) => ({ beta: b, auroc: auroc(labels, labelled.map((r) => combineScores(r.flow, r.recon, b))) })),
  };
}

/** Scores a dataset with a run's best model; writes scores.csv and metrics.json. */
export async function scoreRun(options: ScoreRunOptions): Promise<ScoreRunResult> {
  const model = await loadRun(options.runDir, options.encoder ? { encoder: options.encoder } : {});
  try {
    const split = resolveSplit(options.data, 'score');
    const batchSize = options.batchSize ?? model.config.train.batchSize;
    const rows: ScoreRow[] = [];
    const skipped: SkippedFile[] = [];
    for (let i = 0; i < split.items.length; i += batchSize) {
      const loaded = await loadImageBatch(split.dataset, split.items.slice(i, i + batchSize), { size: model.config.size });
      const { images, items: chunk } = loaded;
      skipped.push(...loaded.skipped);
      if (chunk.length === 0) {
        images.dispose();
        continue;
      }
      const s = model.scoreTensors(images);
      const [f, r, t] = await Promise.all([s.flow.data(), s.recon.data(), s.total.data()]);
      tf.dispose([images, s.flow, s.recon, s.total, s.residual]);
      chunk.forEach((it, k) => rows.push({ id: it.id, label: it.label, flow: f[k]!, recon: r[k]!, total: t[k]!, predicted: null }));
      options.onProgress?.(Math.min(i + batchSize, split.items.length), split.items.length);
      await yieldToEventLoop();
    }
    const labelled = rows.filter((r) => r.label !== null);
    let metrics: ScoreRunResult['metrics'] = null;
    let threshold = options.threshold;
    if (labelled.some((r) => r.label === 1) && labelled.some((r) => r.label === 0)) {
      const labels = labelled.map((r) => r.label!);
      const scores = labelled.map((r) => r.total);
      const f1 = bestF1(labels, scores);
      threshold ??= f1.threshold;
      metrics = {
        auroc: auroc(labels, scores),
        averagePrecision: averagePrecision(labels, scores),
        bestF1: f1,
        normals: labels.filter((l) => l === 0).length,
        anomalies: labels.filter((l) => l === 1).length,
      };
    }
    if (threshold !== undefined) for (const r of rows) r.predicted = r.total >= threshold ? 1 : 0;
    if (options.write !== false) {
      const folder = new RunFolder(options.runDir);
      await folder.write('scores', { rows, columns: scoreColumns(model.config) });
      if (metrics) await folder.write('metrics', metricsFile(rows, threshold!, options.threshold !== undefined ? 'value' : 'best-f1', model.beta, model.config.score.beta === 'auto' ? 'auto' : 'run'));
    }
    return { rows, skipped, metrics };
  } finally {
    model.dispose(options.encoder !== undefined);
  }
}
