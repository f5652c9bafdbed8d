import { atThreshold, auroc, aurocConfidence, averagePrecision, bestF1 } from '@aeflow/metrics';
import type { ReportMetrics, ReportRow } from './report.js';

// The shared synthetic test data (tests/fixtures).
export { syntheticHistory, syntheticImage, syntheticRows } from '@aeflow/test-fixtures';

/**
 * The metrics of rows at their best-F1 threshold, with a β sweep of β·flow + (1 − β)·recon: what
 * @aeflow/eval's evaluateScores writes to metrics.json (the report package cannot use eval, which
 * depends on it).
 */
export function syntheticMetrics(rows: readonly ReportRow[], beta = 0.9): ReportMetrics {
  const kept = rows.filter((r) => r.label !== null);
  const labels = Uint8Array.from(kept, (r) => r.label as number);
  const scores = Float64Array.from(kept, (r) => r.total);
  const normal = kept.filter((r) => r.label === 0).length;
  const anomalous = kept.length - normal;
  const both = normal > 0 && anomalous > 0;
  const threshold = both ? bestF1(labels, scores).threshold : null;
  const at = threshold !== null ? atThreshold(labels, scores, threshold) : null;
  const ci = both ? aurocConfidence(labels, scores, 0.95) : null;
  const sweep = both
    ? Array.from({ length: 21 }, (_, i) => {
        const b = i / 20;
        return { beta: b, auroc: auroc(labels, Float64Array.from(kept, (r) => b * r.flow + (1 - b) * r.recon)) };
      })
    : null;
  return {
    auroc: both ? auroc(labels, scores) : null,
    aurocCI: ci ? { low: ci.low, high: ci.high } : null,
    ap: both ? averagePrecision(labels, scores) : null,
    threshold,
    f1: at?.f1 ?? null,
    accuracy: at?.accuracy ?? null,
    sensitivity: at?.sensitivity ?? null,
    specificity: at?.specificity ?? null,
    counts: { images: rows.length, normal, anomalous, unlabeled: rows.length - kept.length, tp: at?.tp ?? null, fp: at?.fp ?? null, tn: at?.tn ?? null, fn: at?.fn ?? null },
    thresholdRule: 'best-f1',
    beta,
    betaRule: 'run',
    betaSweep: sweep,
  };
}
