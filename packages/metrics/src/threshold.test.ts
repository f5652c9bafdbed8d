import { describe, expect, it } from 'vitest';
import { readGolden, syntheticScores, TestRandom, type MetricsCase } from '../test/helpers.js';
import { atThreshold, bestF1 } from './threshold.js';

const golden = readGolden<MetricsCase>('metrics.json');
const fields = ['threshold', 'f1', 'accuracy', 'sensitivity', 'specificity', 'tp', 'fp', 'tn', 'fn'] as const;

describe('bestF1', () => {
  it.each(golden.cases.map((c, i) => [i, c] as const))('matches every golden best-F1 field exactly (case %i)', (_i, c) => {
    const result = bestF1(c.labels, c.scores);
    for (const field of fields) expect(result[field], field).toBe(c.best_f1[field]);
  });

  it('is the maximum F1 over all distinct-score thresholds (brute force)', () => {
    const random = new TestRandom(21);
    for (let trial = 0; trial < 15; trial++) {
      const { labels, scores } = syntheticScores(random, 3 + random.int(30), 3 + random.int(30), random.next() * 2);
      const rounded = scores.map((s) => Math.round(s * 2) / 2);
      const best = bestF1(labels, rounded);
      let bruteBest = -1;
      let bruteThreshold = NaN;
      for (const t of [...new Set(rounded)].sort((a, b) => b - a)) {
        const f1 = atThreshold(labels, rounded, t).f1;
        if (f1 >= bruteBest) {
          bruteBest = f1;
          bruteThreshold = t;
        }
      }
      expect(best.f1).toBe(bruteBest);
      expect(best.threshold).toBe(bruteThreshold);
      expect(best).toEqual(atThreshold(labels, rounded, best.threshold));
    }
  });

  it('picks the lowest threshold among equal F1', () => {
    // t = 4: tp 1 fp 0 fn 1 → F1 2/3. t = 2: tp 2 fp 2 fn 0 → F1 4/6 = 2/3. t = 3: tp 1 fp 1 → ½; t = 1: 4/7.
    const result = bestF1([1, 0, 0, 1, 0], [4, 3, 2, 2, 1]);
    expect(result.f1).toBe(2 / 3);
    expect(result.threshold).toBe(2);
    expect([result.tp, result.fp, result.tn, result.fn]).toEqual([2, 2, 1, 0]);
    expect(result.accuracy).toBe(3 / 5);
    expect(result.sensitivity).toBe(1);
    expect(result.specificity).toBe(1 / 3);
    expect(result.precision).toBe(1 / 2);
  });

  it('rejects a single class and non-finite scores', () => {
    expect(() => bestF1([1, 1], [1, 2])).toThrow(/bestF1: only one class is present/);
    expect(() => bestF1([1, 0], [1, NaN])).toThrow(/scores\[1\] is NaN/);
  });
});

describe('atThreshold', () => {
  it('counts score >= threshold as anomalous', () => {
    const result = atThreshold([1, 1, 0, 0, 1], [0.9, 0.5, 0.5, 0.1, 0.2], 0.5);
    expect([result.tp, result.fp, result.tn, result.fn]).toEqual([2, 1, 1, 1]);
    expect(result.f1).toBe(4 / 6);
    expect(result.accuracy).toBe(3 / 5);
    expect(result.sensitivity).toBe(2 / 3);
    expect(result.specificity).toBe(1 / 2);
    expect(result.threshold).toBe(0.5);
  });

  it('works with one class present (a validation split), with NaN for undefined rates', () => {
    const result = atThreshold([0, 0, 0], [0.1, 0.7, 0.3], 0.5);
    expect([result.tp, result.fp, result.tn, result.fn]).toEqual([0, 1, 2, 0]);
    expect(result.specificity).toBe(2 / 3);
    expect(result.sensitivity).toBeNaN();
  });

  it('rejects a NaN threshold and length mismatch', () => {
    expect(() => atThreshold([0, 1], [0.1, 0.2], NaN)).toThrow(/threshold is NaN/);
    expect(() => atThreshold([0, 1], [0.1], 0.5)).toThrow(/labels has 2 entries but scores has 1/);
    expect(() => atThreshold([0, 3], [0.1, 0.2], 0.5)).toThrow(/labels\[1\] is 3/);
  });
});
