import { describe, expect, it } from 'vitest';
import { resolveConfig } from './config.js';
import {
  calibrationFromLegacyThreshold,
  formatHistory,
  formatScoresCsv,
  parseCheckpointMetadata,
  parseConfigFile,
  parseHistory,
  parseMetrics,
  parseScoresCsv,
  RUN_FILE_CODECS,
  RunFileError,
  scoreColumns,
  type HistoryRecord,
  type MetricsFile,
  type ScoreRow,
} from './run-files.js';

const rows: ScoreRow[] = [
  { id: 'NORMAL/a.jpeg', label: 0, flow: -0.1 - 0.2, recon: -0.9876543210123, total: 0.30000000000000004, predicted: 0 },
  { id: 'odd, "quoted"\nname ', label: 1, flow: -1e-30, recon: 5e-324, total: 1.7976931348623157e308, predicted: 1 },
  { id: ' lead', label: null, flow: 2, recon: 3, total: 4, predicted: null },
];

function thrown(fn: () => unknown): RunFileError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RunFileError);
    return err as RunFileError;
  }
  throw new Error('expected a RunFileError');
}

describe('scores.csv', () => {
  it('columns are named for what the parts hold, per model kind and score.flow', () => {
    const c = (o: object) => scoreColumns(resolveConfig(o));
    expect(c({ score: { flow: 'density' } })).toEqual({ flow: 'flow_density', recon: 'neg_ssim' });
    expect(c({})).toEqual({ flow: 'latent_knn_nsa', recon: 'neg_ssim' }); // the cpu preset (issue 14)
    expect(c({ score: { flow: 'nll' } })).toEqual({ flow: 'flow_nll', recon: 'neg_ssim' });
    expect(c({ score: { flow: 'knn', synthetic: 'none' } })).toEqual({ flow: 'latent_knn_distance', recon: 'neg_ssim' });
    expect(c({ model: 'ae' })).toEqual({ flow: null, recon: 'neg_ssim' });
    expect(c({ model: 'fastflow', score: { flow: 'density' } })).toEqual({ flow: 'flow_density', recon: null });
    expect(c({ model: 'fastflow' })).toEqual({ flow: 'latent_knn_nsa', recon: null });
    expect(c({ model: 'knn' })).toEqual({ flow: 'feature_knn_distance', recon: null });
  });

  it('round-trips every row exactly, ids with commas, quotes, line breaks and edge spaces included', () => {
    const text = formatScoresCsv(rows, { flow: 'flow_density', recon: 'neg_ssim' });
    expect(text.split('\n')[0]).toBe('id,label,flow_density,neg_ssim,total,predicted');
    expect(parseScoresCsv(text)).toEqual({ rows, columns: { flow: 'flow_density', recon: 'neg_ssim' } });
  });

  it('a model without a part has no column for it; it reads back as 0, as the model computes it', () => {
    const knnRows = rows.map((r) => ({ ...r, recon: 0 }));
    const text = formatScoresCsv(knnRows, { flow: 'feature_knn_distance', recon: null });
    expect(text.split('\n')[0]).toBe('id,label,feature_knn_distance,total,predicted');
    expect(parseScoresCsv(text).rows).toEqual(knnRows);
    const ae = formatScoresCsv(rows.map((r) => ({ ...r, flow: 0 })), { flow: null, recon: 'neg_ssim' });
    expect(ae.split('\n')[0]).toBe('id,label,neg_ssim,total,predicted');
    expect(parseScoresCsv(ae).rows.map((r) => r.flow)).toEqual([0, 0, 0]);
  });

  it('reads both headers of the previous release (the scorer\'s and scoreRun\'s JSON-quoted ids)', () => {
    const scorer = 'id,label,flow,recon,total,predicted\nNORMAL/a.jpeg,0,-0.5,-0.25,-0.475,0\n"b,c",1,1,2,1.1,1\nu,,1,1,1,\n';
    const a = parseScoresCsv(scorer, 'old/scores.csv');
    expect(a.columns).toEqual({ flow: 'flow', recon: 'recon' });
    expect(a.rows).toEqual([
      { id: 'NORMAL/a.jpeg', label: 0, flow: -0.5, recon: -0.25, total: -0.475, predicted: 0 },
      { id: 'b,c', label: 1, flow: 1, recon: 2, total: 1.1, predicted: 1 },
      { id: 'u', label: null, flow: 1, recon: 1, total: 1, predicted: null },
    ]);
    const scoreRun = 'id,label,flow_score,recon_score,total_score,predicted\n"x/y.png",1,-0.5,-0.25,-0.475,\n';
    expect(parseScoresCsv(scoreRun).rows).toEqual([{ id: 'x/y.png', label: 1, flow: -0.5, recon: -0.25, total: -0.475, predicted: null }]);
  });

  it('errors name the file, the line and the column', () => {
    const head = 'id,label,flow_density,neg_ssim,total,predicted\n';
    expect(thrown(() => parseScoresCsv(head + 'a,0,x,1,1,0\n', 'r/scores.csv')).message).toBe(
      'r/scores.csv: line 2, column "flow_density": "x" is not a number; score the run again (aeflow-score) to rewrite it',
    );
    expect(thrown(() => parseScoresCsv(head + 'a,2,1,1,1,0\n', 'r/scores.csv')).field).toBe('line 2, column "label"');
    expect(thrown(() => parseScoresCsv(head + 'a,0,1,1\n', 'r/scores.csv')).message).toContain('line 2: 4 fields, the header has 6');
    expect(thrown(() => parseScoresCsv('id,label,flow_density\n', 'r/scores.csv')).message).toContain('no "total" column');
    expect(thrown(() => parseScoresCsv('id,label,total\n', 'r/scores.csv')).message).toContain('no score part column');
    expect(thrown(() => parseScoresCsv('', 'r/scores.csv')).message).toContain('empty');
    expect(thrown(() => parseScoresCsv(head + '"a,0,1,1,1,0\n', 'r/scores.csv')).message).toContain('never closed');
  });
});

describe('history.jsonl', () => {
  const records: HistoryRecord[] = [
    { kind: 'cache', computed: 10, cached: 0, seconds: 1.5 },
    { kind: 'epoch', epoch: 1, step: 3, lr: 1e-3, loss: 0.5, flowNll: 0.7, recon: 0.3, seconds: 2, cpuSeconds: 3, imagesPerSecond: 10, validation: { metric: 'auroc', value: 0.75, beta: 0.9 }, best: true },
    { kind: 'nonfinite', epoch: 2, step: 5, lr: 5e-4, message: 'loss NaN' },
  ];

  it('round-trips; a NaN (written as null) reads back as NaN', () => {
    expect(parseHistory(formatHistory(records))).toEqual({ records, truncated: null });
    const nan = { ...records[1]!, loss: Number.NaN } as HistoryRecord;
    expect((parseHistory(formatHistory([nan])).records[0] as { loss: number }).loss).toBeNaN();
    expect(formatHistory([])).toBe('');
  });

  it('a bad line is an error naming its number; a cut last line is reported when tolerated', () => {
    const text = formatHistory(records);
    expect(thrown(() => parseHistory(text + '{"kind":"epo', 'run/history.jsonl')).field).toBe('line 4');
    expect(parseHistory(text + '{"kind":"epo', 'h', { tolerateTruncatedEnd: true })).toEqual({ records, truncated: '{"kind":"epo' });
    const bad = text.replace('"step":3', '"step":-1');
    const err = thrown(() => parseHistory(bad, 'run/history.jsonl'));
    expect(err.file).toBe('run/history.jsonl');
    expect(err.field).toBe('line 2: step');
  });
});

describe('metrics.json', () => {
  const current: MetricsFile = {
    auroc: 0.9,
    aurocCI: { low: 0.8, high: 1 },
    ap: 0.85,
    threshold: 0.1,
    f1: 0.8,
    accuracy: 0.8,
    sensitivity: 0.75,
    specificity: 0.85,
    counts: { images: 10, normal: 5, anomalous: 5, unlabeled: 0, tp: 4, fp: 1, tn: 4, fn: 1, predictedAnomalous: 5 },
    thresholdRule: 'best-f1',
    beta: 0.9,
    betaRule: 'run',
    betaSweep: [{ beta: 0, auroc: 0.5 }],
  };

  it('reads the current form and scoreRun\'s form of the previous release', () => {
    expect(parseMetrics(JSON.parse(JSON.stringify(current)))).toEqual(current);
    const old = { auroc: 0.9, averagePrecision: 0.85, bestF1: { threshold: 0.1, f1: 0.8, accuracy: 0.8, sensitivity: 0.75, specificity: 0.85, precision: 0.8, tp: 4, fp: 1, tn: 4, fn: 1 }, normals: 5, anomalies: 5, threshold: 0.1, beta: 0.9 };
    const m = parseMetrics(old);
    expect(m).toMatchObject({ auroc: 0.9, ap: 0.85, threshold: 0.1, f1: 0.8, thresholdRule: 'best-f1', counts: { images: 10, tp: 4, predictedAnomalous: 5 }, aurocCI: null, betaSweep: null });
    expect(m.migratedFrom).toContain('previous release');
    // at another threshold the best-F1 numbers do not apply
    expect(parseMetrics({ ...old, threshold: 0.5 })).toMatchObject({ threshold: 0.5, thresholdRule: 'value', f1: null, counts: { tp: null } });
  });

  it('a wrong field is named', () => {
    const err = thrown(() => parseMetrics({ ...current, counts: { ...current.counts, normal: 'five' } }, 'r/metrics.json'));
    expect(err.file).toBe('r/metrics.json');
    expect(err.field).toBe('counts.normal');
  });
});

describe('calibration.json', () => {
  it('a previous release\'s threshold.json becomes a calibration (β and threshold together)', () => {
    const c = calibrationFromLegacyThreshold({ threshold: 0.2, rule: 'best-f1', split: 'chest val', beta: 0.9, images: 125 }, 'r/threshold.json', '2026-01-01T00:00:00.000Z');
    expect(c).toEqual({
      beta: 0.9,
      betaRule: 'run',
      threshold: 0.2,
      thresholdRule: 'best-f1',
      fittedOn: { split: 'chest val', images: 125, scores: 'validation/scores.csv' },
      date: '2026-01-01T00:00:00.000Z',
      migratedFrom: 'threshold.json',
    });
    expect(RUN_FILE_CODECS.calibration.parse(RUN_FILE_CODECS.calibration.format(c), 'c')).toEqual(c);
    expect(thrown(() => calibrationFromLegacyThreshold({ threshold: 0.2, rule: 'best-f1', split: 's', beta: 2, images: 1 }, 'r/threshold.json', 'd')).field).toBe('beta');
  });
});

describe('config.json and the checkpoint metadata', () => {
  it('a bad setting names the field and the fix', () => {
    const config = JSON.parse(JSON.stringify(resolveConfig({}))) as Record<string, unknown>;
    const err = thrown(() => parseConfigFile({ ...config, size: -3 }, 'r/config.json'));
    expect(err.file).toBe('r/config.json');
    expect(err.field).toBe('size');
    expect(err.message).toContain('correct the value');
  });

  it('the loop state and the history a checkpoint carries are validated', () => {
    const state = { epoch: 1, step: 3, lr: 0.001, optimizerStep: 3, rng: [1, 2, 3, 4], best: null };
    const history: HistoryRecord[] = [{ kind: 'epoch', epoch: 1, step: 3, lr: 0.001, loss: 1, flowNll: 1, recon: 1, seconds: 1, cpuSeconds: 1, imagesPerSecond: 1 }];
    expect(parseCheckpointMetadata({ format: 'aeflow-checkpoint', epoch: '1', state: JSON.stringify(state), history: formatHistory(history) })).toEqual({ state, history });
    expect(parseCheckpointMetadata({ format: 'aeflow-checkpoint', epoch: '1', state: JSON.stringify(state) }).history).toBeNull();
    expect(thrown(() => parseCheckpointMetadata({ format: 'aeflow-checkpoint', epoch: '1', state: JSON.stringify({ ...state, step: 'x' }) }, 'r/checkpoint.safetensors')).field).toBe('metadata.state.step');
    expect(thrown(() => parseCheckpointMetadata({ format: 'aeflow-model', epoch: '1', state: '{}' }, 'r/checkpoint.safetensors')).field).toBe('metadata.format');
  });
});
