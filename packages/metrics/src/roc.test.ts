import { describe, expect, it } from 'vitest';
import { readGolden, syntheticScores, TestRandom, type MetricsCase } from '../test/helpers.js';
import { auroc, rocCurve } from './roc.js';
import { MetricInputError } from './validate.js';

const golden = readGolden<MetricsCase>('metrics.json');

describe('auroc', () => {
  it('uses the convention the golden file was made with', () => {
    expect(golden.source).toBe('scikit-learn 1.2.1');
    expect(golden.convention).toMatch(/label 1 = anomalous, higher score = more anomalous/);
    expect(golden.cases.length).toBeGreaterThan(0);
  });

  it.each(golden.cases.map((c, i) => [i, c] as const))('matches scikit-learn roc_auc_score within 1e-12 (case %i)', (_i, c) => {
    expect(Math.abs(auroc(c.labels, c.scores) - c.auroc)).toBeLessThanOrEqual(1e-12);
  });

  it('counts ties half, including -0 and +0 as one score', () => {
    // Positives {1, -0}, negatives {0, 1}: 1 > 0 → 1; 1 = 1 → ½; -0 = 0 → ½; -0 < 1 → 0. Sum 2 of 4 pairs.
    expect(auroc([1, 1, 0, 0], [1, -0, 0, 1])).toBe(0.5);
    expect(auroc([1, 0, 0, 0], [3, 3, 3, 3])).toBe(0.5);
    expect(auroc([1, 1, 0], [2, 1, 1])).toBe(0.75);
  });

  it('accepts typed arrays for labels and scores', () => {
    const c = golden.cases[2]!;
    const value = auroc(Uint8Array.from(c.labels), Float64Array.from(c.scores));
    expect(value).toBe(auroc(c.labels, c.scores));
    // Float32 scores change the values (rounding) but it must run and stay a probability.
    const f32 = auroc(Int32Array.from(c.labels), Float32Array.from(c.scores));
    expect(f32).toBeGreaterThan(0);
    expect(f32).toBeLessThan(1);
  });

  it('property: reversing the scores gives 1 − AUROC', () => {
    const random = new TestRandom(7);
    for (let trial = 0; trial < 20; trial++) {
      // Rounded scores so there are ties too.
      const { labels, scores } = syntheticScores(random, 5 + random.int(40), 5 + random.int(60), random.next() * 2);
      const rounded = scores.map((s) => Math.round(s * 4) / 4);
      for (const s of [scores, rounded]) {
        const forward = auroc(labels, s);
        const reversed = auroc(labels, s.map((v) => -v));
        expect(Math.abs(reversed - (1 - forward))).toBeLessThanOrEqual(1e-15);
      }
    }
  });

  it('property: invariant to strictly increasing transforms of the scores', () => {
    const random = new TestRandom(11);
    for (let trial = 0; trial < 20; trial++) {
      const { labels, scores } = syntheticScores(random, 3 + random.int(50), 3 + random.int(50), 1);
      const base = auroc(labels, scores);
      expect(auroc(labels, scores.map((s) => Math.exp(s)))).toBe(base);
      expect(auroc(labels, scores.map((s) => 3 * s - 7))).toBe(base);
      expect(auroc(labels, scores.map((s) => Math.atan(s)))).toBe(base);
      expect(auroc(labels, scores.map((s) => s ** 3))).toBe(base);
    }
  });

  it('equals the brute-force pair count on random inputs with many ties', () => {
    const random = new TestRandom(3);
    for (let trial = 0; trial < 10; trial++) {
      const n = 30 + random.int(40);
      const labels = Array.from({ length: n }, (_, i) => (i < 2 ? i : random.int(2)));
      const scores = Array.from({ length: n }, () => random.int(6));
      let pairs = 0;
      let correct = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          if (labels[i] !== 1 || labels[j] !== 0) continue;
          pairs++;
          correct += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
        }
      }
      expect(auroc(labels, scores)).toBe(correct / pairs);
    }
  });

  it('rejects bad input with errors that name the problem', () => {
    expect(() => auroc([0, 1, 1], [0.1, 0.2])).toThrow(MetricInputError);
    expect(() => auroc([0, 1, 1], [0.1, 0.2])).toThrow(/labels has 3 entries but scores has 2/);
    expect(() => auroc([0, 2, 1], [0.1, 0.2, 0.3])).toThrow(/labels\[1\] is 2; labels must be 0 \(normal\) or 1 \(anomalous\)/);
    expect(() => auroc([0, -1, 1], [0.1, 0.2, 0.3])).toThrow(/labels\[1\] is -1/);
    expect(() => auroc([0, 0, 0], [0.1, 0.2, 0.3])).toThrow(/only one class is present \(all 3 labels are normal \(0\)\), so AUROC is undefined/);
    expect(() => auroc([1, 1], [0.1, 0.2])).toThrow(/all 2 labels are anomalous \(1\)/);
    expect(() => auroc([], [])).toThrow(/labels is empty/);
    expect(() => auroc([0, 1, 1], [0.1, NaN, 0.3])).toThrow(/scores\[1\] is NaN; scores must be finite numbers/);
    expect(() => auroc([0, 1, 1], [0.1, Infinity, 0.3])).toThrow(/scores\[1\] is Infinity/);
    expect(() => auroc([0, 1, 1], [0.1, -Infinity, 0.3])).toThrow(/scores\[1\] is -Infinity/);
    expect(() => auroc(null as unknown as number[], [1])).toThrow(/labels must be an array or typed array/);
  });
});

describe('rocCurve', () => {
  it.each(golden.cases.map((c, i) => [i, c] as const))('matches scikit-learn roc_curve points within 1e-12 (case %i)', (_i, c) => {
    const { fpr, tpr, thresholds } = rocCurve(c.labels, c.scores);
    expect(fpr.length).toBe(c.roc.fpr.length);
    expect(tpr.length).toBe(c.roc.tpr.length);
    expect(thresholds.length).toBe(fpr.length);
    for (let k = 0; k < fpr.length; k++) {
      expect(Math.abs(fpr[k]! - c.roc.fpr[k]!)).toBeLessThanOrEqual(1e-12);
      expect(Math.abs(tpr[k]! - c.roc.tpr[k]!)).toBeLessThanOrEqual(1e-12);
    }
  });

  it('keeps every distinct score without dropIntermediate, and the area equals auroc', () => {
    for (const c of golden.cases) {
      const full = rocCurve(c.labels, c.scores, { dropIntermediate: false });
      expect(full.thresholds.length).toBe(new Set(c.scores.map((s) => s + 0)).size + 1);
      const dropped = rocCurve(c.labels, c.scores);
      for (const curve of [full, dropped]) {
        let area = 0;
        for (let k = 1; k < curve.fpr.length; k++) area += ((curve.fpr[k]! - curve.fpr[k - 1]!) * (curve.tpr[k]! + curve.tpr[k - 1]!)) / 2;
        expect(Math.abs(area - auroc(c.labels, c.scores))).toBeLessThanOrEqual(1e-12);
      }
    }
  });

  it('gives thresholds from +Infinity down, and each point is the rate at score >= threshold', () => {
    const labels = [0, 0, 1, 1, 0, 1];
    const scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9];
    const curve = rocCurve(labels, scores, { dropIntermediate: false });
    expect(Array.from(curve.thresholds)).toEqual([Infinity, 0.9, 0.8, 0.4, 0.35, 0.1]);
    for (let k = 0; k < curve.thresholds.length; k++) {
      const t = curve.thresholds[k]!;
      const tp = labels.filter((l, i) => l === 1 && scores[i]! >= t).length;
      const fp = labels.filter((l, i) => l === 0 && scores[i]! >= t).length;
      expect(curve.tpr[k]).toBe(tp / 3);
      expect(curve.fpr[k]).toBe(fp / 3);
    }
  });

  it('drops collinear points as scikit-learn does (equal steps only)', () => {
    // Thresholds 5 4 3 2 1 → tps 1 2 3 3 3, fps 0 0 0 1 2. The second difference is zero at
    // threshold 4 (tps) and 2 (tps and fps): those points go; the corner at 3 stays.
    const curve = rocCurve([1, 1, 1, 0, 0], [5, 4, 3, 2, 1]);
    expect(Array.from(curve.fpr)).toEqual([0, 0, 0, 1]);
    expect(Array.from(curve.tpr)).toEqual([0, 1 / 3, 1, 1]);
    expect(Array.from(curve.thresholds)).toEqual([Infinity, 5, 3, 1]);
  });

  it('rejects a single class', () => {
    expect(() => rocCurve([1, 1], [0.3, 0.4])).toThrow(/rocCurve: only one class is present/);
  });
});
