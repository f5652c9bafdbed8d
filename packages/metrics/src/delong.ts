import { normalCdf, normalQuantile } from './normal.js';
import { MetricInputError, checkBothClasses, checkLabels, checkScores, type NumericArray } from './validate.js';

/**
 * DeLong, DeLong & Clarke-Pearson (1988): the AUROC is a two-sample U statistic, and its variance
 * follows from the "placement values" of each sample —
 *   V10(x_i) = fraction of negatives below positive x_i (ties ½),
 *   V01(y_j) = fraction of positives above negative y_j (ties ½),
 *   Var(AUROC) ≈ S10 / m + S01 / n   (S = sample variances, m positives, n negatives).
 * Placements come from binary searches in the sorted other class: O(n log n), the same cost as the
 * midrank formulation of Sun & Xu (2014), without a comparator sort.
 */
interface Placements {
  /** Σ over positives of (#negatives below + ½ #negatives equal): AUROC · m · n, exact. */
  pairs: number;
  /** V10 of each positive, in input order. */
  positive: Float64Array;
  /** V01 of each negative, in input order. */
  negative: Float64Array;
}

/** Index of the first element >= x (strict: false) or > x (strict: true) in an ascending array. */
function bound(sorted: Float64Array, x: number, strict: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid] as number;
    if (v < x || (strict && v === x)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function placements(labels: NumericArray, scores: NumericArray, positives: number): Placements {
  const m = positives;
  const n = labels.length - positives;
  const sortedPositive = new Float64Array(m);
  const sortedNegative = new Float64Array(n);
  for (let i = 0, p = 0, q = 0; i < labels.length; i++) {
    if (labels[i] === 1) sortedPositive[p++] = scores[i] as number;
    else sortedNegative[q++] = scores[i] as number;
  }
  sortedPositive.sort();
  sortedNegative.sort();
  const positive = new Float64Array(m);
  const negative = new Float64Array(n);
  let pairs = 0;
  for (let i = 0, p = 0, q = 0; i < labels.length; i++) {
    const x = scores[i] as number;
    if (labels[i] === 1) {
      const below = bound(sortedNegative, x, false);
      const equal = bound(sortedNegative, x, true) - below;
      const count = below + 0.5 * equal;
      pairs += count;
      positive[p++] = count / n;
    } else {
      const notAbove = bound(sortedPositive, x, true);
      const equal = notAbove - bound(sortedPositive, x, false);
      negative[q++] = (m - notAbove + 0.5 * equal) / m;
    }
  }
  return { pairs, positive, negative };
}

/** Sample covariance (n − 1 denominator) of two equally long series with known means. */
function covariance(a: Float64Array, meanA: number, b: Float64Array, meanB: number): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += ((a[i] as number) - meanA) * ((b[i] as number) - meanB);
  return sum / (a.length - 1);
}

function checkDeLongInput(fn: string, labels: NumericArray, positives: number): void {
  checkBothClasses(fn, positives, labels.length, 'AUROC');
  const negatives = labels.length - positives;
  if (positives < 2 || negatives < 2) {
    throw new MetricInputError(
      `${fn}: DeLong's variance needs at least 2 samples of each class (got ${positives} anomalous, ${negatives} normal); ` +
        'with fewer, no uncertainty can be estimated — evaluate on more samples.',
    );
  }
}

export interface AurocConfidence {
  auroc: number;
  /** Lower end of the interval, clipped to [0, 1]. */
  low: number;
  /** Upper end of the interval, clipped to [0, 1]. */
  high: number;
  /** DeLong standard error of the AUROC. */
  se: number;
  /** The confidence level the interval was computed for. */
  level: number;
}

function checkLevel(level: number): void {
  if (typeof level !== 'number' || !(level > 0 && level < 1)) {
    throw new MetricInputError(`aurocConfidence: level is ${String(level)}; pass a confidence level between 0 and 1, e.g. 0.95.`);
  }
}

/**
 * AUROC with a DeLong confidence interval: auroc ± z·se with z = Φ⁻¹((1 + level)/2) (normal
 * approximation, as pROC's `ci.auc(method = "delong")`), clipped to [0, 1]. Needs at least two
 * samples of each class.
 */
export function aurocConfidence(labels: NumericArray, scores: NumericArray, level = 0.95): AurocConfidence {
  const fn = 'aurocConfidence';
  const positives = checkLabels(fn, labels);
  checkScores(fn, scores, labels.length);
  checkDeLongInput(fn, labels, positives);
  checkLevel(level);
  const m = positives;
  const n = labels.length - positives;
  const placed = placements(labels, scores, positives);
  const auc = placed.pairs / (m * n);
  const variance =
    covariance(placed.positive, auc, placed.positive, auc) / m + covariance(placed.negative, auc, placed.negative, auc) / n;
  const se = Math.sqrt(variance);
  const z = normalQuantile(0.5 + level / 2);
  return { auroc: auc, low: Math.max(0, auc - z * se), high: Math.min(1, auc + z * se), se, level };
}

export interface DeLongTest {
  aurocA: number;
  aurocB: number;
  /** aurocA − aurocB. */
  difference: number;
  /** Standard error of the difference, from the paired covariance of the two detectors. */
  se: number;
  /** difference / se (0 when both are 0; ±Infinity for a non-zero difference with se 0). */
  z: number;
  /** Two-sided p-value of "both detectors have the same AUROC". */
  pValue: number;
  /** Correlation of the two AUROC estimates (NaN where one has zero variance). */
  correlation: number;
}

/**
 * DeLong's test for two detectors scored on the same samples (paired): is AUROC(A) different
 * from AUROC(B)? Two-sided, normal approximation, as pROC's `roc.test(method = "delong", paired = TRUE)`.
 */
export function delongTest(labels: NumericArray, scoresA: NumericArray, scoresB: NumericArray): DeLongTest {
  const fn = 'delongTest';
  const positives = checkLabels(fn, labels);
  checkScores(fn, scoresA, labels.length, 'scoresA');
  checkScores(fn, scoresB, labels.length, 'scoresB');
  checkDeLongInput(fn, labels, positives);
  const m = positives;
  const n = labels.length - positives;
  const a = placements(labels, scoresA, positives);
  const b = placements(labels, scoresB, positives);
  const aurocA = a.pairs / (m * n);
  const aurocB = b.pairs / (m * n);
  const varA = covariance(a.positive, aurocA, a.positive, aurocA) / m + covariance(a.negative, aurocA, a.negative, aurocA) / n;
  const varB = covariance(b.positive, aurocB, b.positive, aurocB) / m + covariance(b.negative, aurocB, b.negative, aurocB) / n;
  const cov = covariance(a.positive, aurocA, b.positive, aurocB) / m + covariance(a.negative, aurocA, b.negative, aurocB) / n;
  const difference = aurocA - aurocB;
  // Rounding can leave a tiny negative variance when A and B rank identically.
  const se = Math.sqrt(Math.max(0, varA + varB - 2 * cov));
  let z: number;
  let pValue: number;
  if (se > 0) {
    z = difference / se;
    pValue = 2 * normalCdf(-Math.abs(z));
  } else {
    z = difference === 0 ? 0 : difference > 0 ? Infinity : -Infinity;
    pValue = difference === 0 ? 1 : 0;
  }
  return { aurocA, aurocB, difference, se, z, pValue: Math.min(1, pValue), correlation: varA > 0 && varB > 0 ? cov / Math.sqrt(varA * varB) : NaN };
}
