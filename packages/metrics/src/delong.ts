import { normalCdf, normalQuantile } from './normal.js';
import { argsortFloat64 } from './sort.js';
import { MetricInputError, checkBothClasses, checkLabels, checkScores, type NumericArray } from './validate.js';

/**
 * DeLong, DeLong & Clarke-Pearson (1988): the AUROC is a two-sample U statistic, and its variance
 * follows from the "placement values" of each sample —
 *   V10(x_i) = fraction of negatives below positive x_i (ties ½),
 *   V01(y_j) = fraction of positives above negative y_j (ties ½),
 *   Var(AUROC) ≈ S10 / m + S01 / n   (S = sample variances, m positives, n negatives).
 * Placements come from one sort of all scores and a walk over its tie groups — the midrank
 * formulation of Sun & Xu (2014), O(n log n) — instead of the O(m·n) pair comparisons.
 */
interface Placements {
  /** Σ over positives of (#negatives below + ½ #negatives equal): AUROC · m · n, exact. */
  pairs: number;
  /** Per sample, in input order: V10 for a positive, V01 for a negative. */
  values: Float64Array;
}

/**
 * Placement values from one stable sort of all scores: walking the tie groups upwards, a positive
 * is placed above the negatives already passed plus half of those in its group, a negative below
 * the positives not yet reached plus half of those in its group.
 */
function placements(labels: NumericArray, scores: NumericArray, positives: number): Placements {
  const total = labels.length;
  const m = positives;
  const n = total - positives;
  const normalised = new Float64Array(total);
  for (let i = 0; i < total; i++) normalised[i] = (scores[i] as number) + 0; // -0 → +0: one tie group
  const { sorted, order } = argsortFloat64(normalised);
  const values = new Float64Array(total);
  let pairs = 0;
  let negativesBelow = 0;
  let positivesBelow = 0;
  for (let start = 0; start < total; ) {
    const score = sorted[start] as number;
    let end = start;
    let groupPositives = 0;
    while (end < total && sorted[end] === score) {
      if (labels[order[end] as number] === 1) groupPositives++;
      end++;
    }
    const groupNegatives = end - start - groupPositives;
    const positiveCount = negativesBelow + 0.5 * groupNegatives;
    const v10 = positiveCount / n;
    const v01 = (m - positivesBelow - groupPositives + 0.5 * groupPositives) / m;
    for (let k = start; k < end; k++) {
      const item = order[k] as number;
      values[item] = labels[item] === 1 ? v10 : v01;
    }
    pairs += groupPositives * positiveCount;
    negativesBelow += groupNegatives;
    positivesBelow += groupPositives;
    start = end;
  }
  return { pairs, values };
}

/**
 * The DeLong covariance of two AUROC estimates from their placement values:
 * cov10 / m + cov01 / n, with sample covariances (m − 1, n − 1) over positives and negatives.
 */
function delongCovariance(labels: NumericArray, a: Float64Array, aucA: number, b: Float64Array, aucB: number, m: number): number {
  const n = labels.length - m;
  let positive = 0;
  let negative = 0;
  for (let i = 0; i < labels.length; i++) {
    const product = ((a[i] as number) - aucA) * ((b[i] as number) - aucB);
    if (labels[i] === 1) positive += product;
    else negative += product;
  }
  return positive / (m - 1) / m + negative / (n - 1) / n;
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
  const variance = delongCovariance(labels, placed.values, auc, placed.values, auc, m);
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
  const varA = delongCovariance(labels, a.values, aurocA, a.values, aurocA, m);
  const varB = delongCovariance(labels, b.values, aurocB, b.values, aurocB, m);
  const cov = delongCovariance(labels, a.values, aurocA, b.values, aurocB, m);
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
