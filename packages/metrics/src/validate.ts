import { sortFloat64 } from './sort.js';

/**
 * Anything indexable with numbers: `number[]`, `Float64Array`, `Float32Array`, `Uint8Array`,
 * `Int32Array`, ... Values are read as JavaScript numbers (float64) and never modified.
 */
export type NumericArray = ArrayLike<number>;

/** Thrown for inputs a metric cannot be computed on; the message names the argument and the fix. */
export class MetricInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricInputError';
  }
}

function describe(value: unknown): string {
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

function checkArrayLike(fn: string, name: string, value: unknown): asserts value is NumericArray {
  const length = (value as { length?: unknown } | null | undefined)?.length;
  if (value === null || typeof value !== 'object' || typeof length !== 'number') {
    throw new MetricInputError(`${fn}: ${name} must be an array or typed array of numbers, got ${value === null ? 'null' : typeof value}.`);
  }
}

/** Labels must be exactly 0 (normal) or 1 (anomalous); returns the number of 1s. */
export function checkLabels(fn: string, labels: NumericArray, name = 'labels'): number {
  checkArrayLike(fn, name, labels);
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (label === 1) positives++;
    else if (label !== 0) {
      throw new MetricInputError(
        `${fn}: ${name}[${i}] is ${describe(label)}; labels must be 0 (normal) or 1 (anomalous). ` +
          'Map other encodings (booleans, class names, -1/+1) to 0/1 first.',
      );
    }
  }
  return positives;
}

/** Scores must be finite: NaN or ±Infinity would make every rank-based metric meaningless. */
export function checkScores(fn: string, scores: NumericArray, expectedLength: number, name = 'scores', against = 'labels'): void {
  checkArrayLike(fn, name, scores);
  if (scores.length !== expectedLength) {
    throw new MetricInputError(
      `${fn}: ${against} has ${expectedLength} entries but ${name} has ${scores.length}; pass exactly one score per label, in the same order.`,
    );
  }
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i];
    if (typeof score !== 'number' || !Number.isFinite(score)) {
      throw new MetricInputError(
        `${fn}: ${name}[${i}] is ${describe(score)}; scores must be finite numbers. ` +
          'Find where the detector produced it (e.g. log of 0, division by 0) or drop that sample.',
      );
    }
  }
}

/** Both classes must be present for any rank-based metric (AUROC, AP, curves, best F1, DeLong). */
export function checkBothClasses(fn: string, positives: number, total: number, what = 'it'): void {
  if (total === 0) {
    throw new MetricInputError(`${fn}: labels is empty; pass at least one normal (0) and one anomalous (1) sample.`);
  }
  if (positives === 0 || positives === total) {
    const only = positives === 0 ? 'normal (0)' : 'anomalous (1)';
    throw new MetricInputError(
      `${fn}: only one class is present (all ${total} labels are ${only}), so ${what} is undefined. ` +
        'Evaluate on a set with both normal (0) and anomalous (1) samples.',
    );
  }
}

/**
 * Validates labels and scores for a binary ranking metric and returns the scores of each class,
 * sorted ascending as Float64Array. Everything rank-based in this package works on these two
 * arrays (sorted without index bookkeeping: see sort.ts).
 */
export function splitSorted(
  fn: string,
  labels: NumericArray,
  scores: NumericArray,
  what: string,
): { positive: Float64Array; negative: Float64Array } {
  const positives = checkLabels(fn, labels);
  checkScores(fn, scores, labels.length);
  checkBothClasses(fn, positives, labels.length, what);
  const positive = new Float64Array(positives);
  const negative = new Float64Array(labels.length - positives);
  let p = 0;
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    // Checked above: every score is a finite number; `+ 0` turns -0 into +0 so equal scores are
    // one group and reported thresholds never show up as -0.
    const score = (scores[i] as number) + 0;
    if (labels[i] === 1) positive[p++] = score;
    else negative[n++] = score;
  }
  return { positive: sortFloat64(positive), negative: sortFloat64(negative) };
}
