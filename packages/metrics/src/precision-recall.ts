import { binaryCurve } from './curve.js';
import { splitSorted, type NumericArray } from './validate.js';

export interface PrCurve {
  /** Precision at each threshold, then a final 1 (scikit-learn's convention for the recall-0 end). */
  precision: Float64Array;
  /** Recall at each threshold (decreasing), then a final 0. */
  recall: Float64Array;
  /** The distinct scores, increasing; one shorter than `precision` and `recall`. */
  thresholds: Float64Array;
}

/**
 * Precision–recall curve as scikit-learn (>= 1.1) `precision_recall_curve(labels, scores)`:
 * one point per distinct score (predict anomalous where score >= threshold), thresholds
 * increasing, plus the end point (recall 0, precision 1).
 */
export function prCurve(labels: NumericArray, scores: NumericArray): PrCurve {
  const { positive, negative } = splitSorted('prCurve', labels, scores, 'the precision-recall curve');
  const curve = binaryCurve(positive, negative);
  const size = curve.length;
  const precision = new Float64Array(size + 1);
  const recall = new Float64Array(size + 1);
  const thresholds = new Float64Array(size);
  for (let k = 0; k < size; k++) {
    // The curve runs from the highest threshold down; the output runs the other way.
    const tp = curve.tps[k] as number;
    const fp = curve.fps[k] as number;
    const out = size - 1 - k;
    precision[out] = tp / (tp + fp);
    recall[out] = tp / curve.positives;
    thresholds[out] = curve.thresholds[k] as number;
  }
  precision[size] = 1;
  recall[size] = 0;
  return { precision, recall, thresholds };
}

/**
 * Average precision as scikit-learn `average_precision_score(labels, scores)`:
 * Σ_k (R_k − R_{k−1}) · P_k over the distinct thresholds from the highest down — a step function,
 * no interpolation (so it differs from the trapezoidal area under the PR curve).
 */
export function averagePrecision(labels: NumericArray, scores: NumericArray): number {
  const { positive, negative } = splitSorted('averagePrecision', labels, scores, 'average precision');
  const curve = binaryCurve(positive, negative);
  let sum = 0;
  let previousRecall = 0;
  for (let k = 0; k < curve.length; k++) {
    const tp = curve.tps[k] as number;
    const fp = curve.fps[k] as number;
    // Recall as tp / P, then differenced, the same floating-point steps as scikit-learn.
    const recall = tp / curve.positives;
    sum += (recall - previousRecall) * (tp / (tp + fp));
    previousRecall = recall;
  }
  return sum;
}
