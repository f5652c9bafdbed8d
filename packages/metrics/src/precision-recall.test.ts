import { describe, expect, it } from 'vitest';
import { readGolden, syntheticScores, TestRandom, type MetricsCase } from '../test/helpers.js';
import { averagePrecision, prCurve } from './precision-recall.js';

const golden = readGolden<MetricsCase>('metrics.json');

describe('averagePrecision', () => {
  it.each(golden.cases.map((c, i) => [i, c] as const))('matches scikit-learn average_precision_score within 1e-12 (case %i)', (_i, c) => {
    expect(Math.abs(averagePrecision(c.labels, c.scores) - c.average_precision)).toBeLessThanOrEqual(1e-12);
  });

  it('is the step sum over the PR curve', () => {
    // Hand-worked: descending scores 0.9(1) 0.8(0) 0.7(1) 0.6(0), 2 positives.
    // Thresholds: 0.9 → P 1, R ½; 0.8 → P ½, R ½; 0.7 → P ⅔, R 1; 0.6 → P ½, R 1.
    // AP = ½·1 + 0·½ + ½·⅔ + 0·½ = ½ + ⅓.
    expect(averagePrecision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6])).toBeCloseTo(0.5 + 1 / 3, 15);
    // A perfect ranking has AP 1 whatever the class balance.
    expect(averagePrecision([0, 0, 0, 1, 1], [1, 2, 3, 4, 5])).toBe(1);
  });

  it('property: invariant to strictly increasing transforms', () => {
    const random = new TestRandom(5);
    for (let trial = 0; trial < 10; trial++) {
      const { labels, scores } = syntheticScores(random, 4 + random.int(30), 4 + random.int(30), 1);
      expect(averagePrecision(labels, scores.map((s) => Math.exp(2 * s)))).toBe(averagePrecision(labels, scores));
    }
  });

  it('rejects a single class', () => {
    expect(() => averagePrecision([0, 0], [0.3, 0.4])).toThrow(/averagePrecision: only one class is present.*average precision is undefined/);
  });
});

describe('prCurve', () => {
  it('follows scikit-learn precision_recall_curve: thresholds increasing, final point (recall 0, precision 1)', () => {
    const curve = prCurve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6]);
    expect(Array.from(curve.thresholds)).toEqual([0.6, 0.7, 0.8, 0.9]);
    expect(Array.from(curve.precision)).toEqual([0.5, 2 / 3, 0.5, 1, 1]);
    expect(Array.from(curve.recall)).toEqual([1, 1, 0.5, 0.5, 0]);
  });

  it('groups tied scores into one threshold, and its step sum is averagePrecision', () => {
    for (const c of golden.cases) {
      const curve = prCurve(c.labels, c.scores);
      expect(curve.thresholds.length).toBe(new Set(c.scores.map((s) => s + 0)).size);
      expect(curve.precision.length).toBe(curve.thresholds.length + 1);
      let ap = 0;
      for (let k = 0; k < curve.thresholds.length; k++) ap += (curve.recall[k]! - curve.recall[k + 1]!) * curve.precision[k]!;
      expect(Math.abs(ap - c.average_precision)).toBeLessThanOrEqual(1e-12);
    }
  });
});
