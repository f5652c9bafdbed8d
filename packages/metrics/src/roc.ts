import { binaryCurve } from './curve.js';
import { splitSorted, type NumericArray } from './validate.js';

/**
 * Area under the ROC curve: the probability that a random anomalous sample (label 1) scores higher
 * than a random normal one (label 0), ties counted half (the Mann–Whitney U statistic divided by
 * the number of pairs). Equals scikit-learn's `roc_auc_score(labels, scores)`.
 *
 * Computed exactly: the count of ordered pairs is an integer or half-integer below 2^53 for up to
 * ~9.4e7 samples, so the only rounding is the final division.
 */
export function auroc(labels: NumericArray, scores: NumericArray): number {
  const { positive, negative } = splitSorted('auroc', labels, scores, 'AUROC');
  return pairsOrderedCorrectly(positive, negative) / (positive.length * negative.length);
}

/** Σ over positives of (#negatives below it + ½ #negatives equal to it), by a merge of the sorted classes. */
export function pairsOrderedCorrectly(positive: Float64Array, negative: Float64Array): number {
  let sum = 0;
  let j = 0;
  let i = 0;
  while (i < positive.length) {
    const x = positive[i] as number;
    while (j < negative.length && (negative[j] as number) < x) j++;
    const below = j; // negatives strictly below x
    let equal = 0;
    while (j + equal < negative.length && negative[j + equal] === x) equal++;
    // All positives with this same score share the count.
    let same = 0;
    while (i < positive.length && positive[i] === x) {
      i++;
      same++;
    }
    sum += same * (below + 0.5 * equal);
  }
  return sum;
}

export interface RocCurve {
  /** False-positive rate (1 − specificity) at each threshold, increasing from 0 to 1. */
  fpr: Float64Array;
  /** True-positive rate (sensitivity) at each threshold, increasing from 0 to 1. */
  tpr: Float64Array;
  /**
   * Decreasing: the point k predicts anomalous where score >= thresholds[k]. The first threshold
   * is +Infinity (nothing predicted anomalous: the (0, 0) corner), as scikit-learn >= 1.3.
   */
  thresholds: Float64Array;
}

export interface RocCurveOptions {
  /**
   * Drop thresholds whose point lies on a straight segment between its neighbours with equal steps,
   * which do not change the curve's shape or area (scikit-learn's `drop_intermediate`, default true).
   */
  dropIntermediate?: boolean;
}

/** The ROC curve as scikit-learn's `roc_curve(labels, scores)`, one point per distinct score. */
export function rocCurve(labels: NumericArray, scores: NumericArray, options: RocCurveOptions = {}): RocCurve {
  const { positive, negative } = splitSorted('rocCurve', labels, scores, 'the ROC curve');
  const curve = binaryCurve(positive, negative);
  const { tps, fps, thresholds } = curve;
  const keep: number[] = [];
  if (options.dropIntermediate !== false && curve.length > 2) {
    // scikit-learn keeps a point when the second difference of fps or of tps is non-zero there,
    // i.e. where the curve turns or changes step length; counts are exact, so this is exact too.
    keep.push(0);
    for (let k = 1; k < curve.length - 1; k++) {
      const dfp = (fps[k + 1] as number) - 2 * (fps[k] as number) + (fps[k - 1] as number);
      const dtp = (tps[k + 1] as number) - 2 * (tps[k] as number) + (tps[k - 1] as number);
      if (dfp !== 0 || dtp !== 0) keep.push(k);
    }
    keep.push(curve.length - 1);
  } else {
    for (let k = 0; k < curve.length; k++) keep.push(k);
  }
  const size = keep.length + 1;
  const fpr = new Float64Array(size);
  const tpr = new Float64Array(size);
  const outThresholds = new Float64Array(size);
  outThresholds[0] = Infinity;
  for (let k = 0; k < keep.length; k++) {
    const index = keep[k] as number;
    fpr[k + 1] = (fps[index] as number) / curve.negatives;
    tpr[k + 1] = (tps[index] as number) / curve.positives;
    outThresholds[k + 1] = thresholds[index] as number;
  }
  return { fpr, tpr, thresholds: outThresholds };
}
