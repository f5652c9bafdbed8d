/**
 * Counts at every distinct score, from the highest down: at `thresholds[k]` the detector predicts
 * anomalous for every score >= thresholds[k] and gets `tps[k]` true and `fps[k]` false positives.
 * The same construction as scikit-learn's `_binary_clf_curve`; counts are exact integers.
 */
export interface BinaryCurve {
  thresholds: Float64Array;
  tps: Float64Array;
  fps: Float64Array;
  /** Number of distinct scores (the length of the three arrays). */
  length: number;
  positives: number;
  negatives: number;
}

/** Walks the two ascending-sorted class arrays from their tops down, one step per distinct score. */
export function binaryCurve(positive: Float64Array, negative: Float64Array): BinaryCurve {
  const total = positive.length + negative.length;
  const thresholds = new Float64Array(total);
  const tps = new Float64Array(total);
  const fps = new Float64Array(total);
  let i = positive.length - 1;
  let j = negative.length - 1;
  let tp = 0;
  let fp = 0;
  let k = 0;
  while (i >= 0 || j >= 0) {
    const p = i >= 0 ? (positive[i] as number) : -Infinity;
    const n = j >= 0 ? (negative[j] as number) : -Infinity;
    const t = p > n ? p : n;
    while (i >= 0 && (positive[i] as number) >= t) {
      i--;
      tp++;
    }
    while (j >= 0 && (negative[j] as number) >= t) {
      j--;
      fp++;
    }
    thresholds[k] = t;
    tps[k] = tp;
    fps[k] = fp;
    k++;
  }
  return {
    thresholds: thresholds.subarray(0, k),
    tps: tps.subarray(0, k),
    fps: fps.subarray(0, k),
    length: k,
    positives: positive.length,
    negatives: negative.length,
  };
}
