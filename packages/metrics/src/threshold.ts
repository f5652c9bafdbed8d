import { binaryCurve } from './curve.js';
import { MetricInputError, checkLabels, checkScores, splitSorted, type NumericArray } from './validate.js';

/**
 * Confusion counts and the rates derived from them, for "anomalous where score >= threshold".
 * A rate whose denominator is 0 (e.g. sensitivity on a set without anomalous samples) is NaN.
 */
export interface ThresholdMetrics {
  threshold: number;
  /** 2·tp / (2·tp + fp + fn), the harmonic mean of precision and sensitivity. */
  f1: number;
  /** (tp + tn) / n. */
  accuracy: number;
  /** Recall, true-positive rate: tp / (tp + fn). */
  sensitivity: number;
  /** True-negative rate: tn / (tn + fp). */
  specificity: number;
  /** Positive predictive value: tp / (tp + fp). */
  precision: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

function metricsFromCounts(threshold: number, tp: number, fp: number, tn: number, fn: number): ThresholdMetrics {
  // F1 as 2tp/(2tp+fp+fn): one rounding, so equal F1 values compare equal (the tie rule below
  // relies on that), and the golden values (scikit-learn) match bit for bit.
  return {
    threshold,
    f1: (2 * tp) / (2 * tp + fp + fn),
    accuracy: (tp + tn) / (tp + fp + tn + fn),
    sensitivity: tp / (tp + fn),
    specificity: tn / (tn + fp),
    precision: tp / (tp + fp),
    tp,
    fp,
    tn,
    fn,
  };
}

/**
 * The threshold with the best F1 and the metrics there — the paper's "threshold at the best F1".
 * Candidate thresholds are the distinct scores (predict anomalous where score >= threshold); among
 * thresholds with equal F1 the lowest is chosen. Choosing the threshold on the test set itself is
 * optimistic: for a fair estimate pick it on a validation split and apply it with `atThreshold`.
 */
export function bestF1(labels: NumericArray, scores: NumericArray): ThresholdMetrics {
  const { positive, negative } = splitSorted('bestF1', labels, scores, 'the best-F1 threshold');
  const curve = binaryCurve(positive, negative);
  const P = curve.positives;
  const N = curve.negatives;
  let best = -1;
  let bestIndex = 0;
  for (let k = 0; k < curve.length; k++) {
    const tp = curve.tps[k] as number;
    const fp = curve.fps[k] as number;
    const f1 = (2 * tp) / (tp + fp + P);
    // `>=` while walking from the highest threshold down keeps the lowest of equal-F1 thresholds.
    if (f1 >= best) {
      best = f1;
      bestIndex = k;
    }
  }
  const tp = curve.tps[bestIndex] as number;
  const fp = curve.fps[bestIndex] as number;
  return metricsFromCounts(curve.thresholds[bestIndex] as number, tp, fp, N - fp, P - tp);
}

/**
 * Metrics at a given threshold (chosen elsewhere, e.g. by `bestF1` on a validation split):
 * anomalous where score >= threshold. Works with a single class present; rates that would divide
 * by zero are NaN.
 */
export function atThreshold(labels: NumericArray, scores: NumericArray, threshold: number): ThresholdMetrics {
  checkLabels('atThreshold', labels);
  checkScores('atThreshold', scores, labels.length);
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) {
    throw new MetricInputError(`atThreshold: threshold is ${String(threshold)}; pass a number (±Infinity predicts all normal / all anomalous).`);
  }
  if (labels.length === 0) {
    throw new MetricInputError('atThreshold: labels is empty; pass at least one sample.');
  }
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const predicted = (scores[i] as number) >= threshold;
    if (labels[i] === 1) {
      if (predicted) tp++;
      else fn++;
    } else if (predicted) fp++;
    else tn++;
  }
  return metricsFromCounts(threshold, tp, fp, tn, fn);
}
