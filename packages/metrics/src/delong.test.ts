import { describe, expect, it } from 'vitest';
import { syntheticScores, TestRandom } from '../test/helpers.js';
import { aurocConfidence, delongTest } from './delong.js';
import { normalCdf } from './normal.js';
import { auroc } from './roc.js';

/** Standard deviation (n − 1) of a list. */
function sd(values: number[]): number {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  return Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1));
}

/** Resample each class with replacement (class sizes fixed, as DeLong's variance conditions on them). */
function stratifiedResample(random: TestRandom, labels: number[]): number[] {
  const positives = labels.flatMap((l, i) => (l === 1 ? [i] : []));
  const negatives = labels.flatMap((l, i) => (l === 0 ? [i] : []));
  return [...positives.map(() => positives[random.int(positives.length)]!), ...negatives.map(() => negatives[random.int(negatives.length)]!)];
}

describe('aurocConfidence', () => {
  it('matches a hand-worked case', () => {
    // Positives 0.9, 0.6, 0.4; negatives 0.7, 0.4, 0.3, 0.1 (m = 3, n = 4).
    // V10 (share of negatives below each positive, ties ½): 4/4, 3/4, 2.5/4 = 24/24, 18/24, 15/24.
    // V01 (share of positives above each negative, ties ½): 1/3, 2.5/3, 3/3, 3/3 = 8/24, 20/24, 24/24, 24/24.
    // AUROC = mean V10 = mean V01 = 19/24.
    // S10 = (5² + 1² + 4²)/24² / 2 = 21/576;  S01 = (11² + 1² + 5² + 5²)/24² / 3 = 172/1728.
    // Var = S10/3 + S01/4 = 7/576 + 43/1728 = 64/1728 = 1/27.
    const labels = [1, 0, 1, 0, 1, 0, 0];
    const scores = [0.9, 0.7, 0.6, 0.4, 0.4, 0.3, 0.1];
    const result = aurocConfidence(labels, scores);
    expect(result.auroc).toBeCloseTo(19 / 24, 15);
    expect(result.se).toBeCloseTo(Math.sqrt(1 / 27), 15);
    expect(result.low).toBeCloseTo(19 / 24 - 1.959963984540054 * Math.sqrt(1 / 27), 14);
    expect(result.high).toBe(1); // 19/24 + 0.377 > 1: clipped
    expect(result.level).toBe(0.95);
    const wide = aurocConfidence(labels, scores, 0.5);
    expect(wide.low).toBeCloseTo(19 / 24 - 0.6744897501960817 * Math.sqrt(1 / 27), 14);
    expect(wide.high).toBeCloseTo(19 / 24 + 0.6744897501960817 * Math.sqrt(1 / 27), 14);
  });

  it('agrees with auroc and with a bootstrap estimate of the standard error', () => {
    const random = new TestRandom(2024);
    const { labels, scores } = syntheticScores(random, 150, 250, 1);
    const result = aurocConfidence(labels, scores);
    expect(result.auroc).toBe(auroc(labels, scores));
    const replicates: number[] = [];
    for (let b = 0; b < 1000; b++) {
      const pick = stratifiedResample(random, labels);
      replicates.push(auroc(pick.map((i) => labels[i]!), pick.map((i) => scores[i]!)));
    }
    const bootstrapSe = sd(replicates);
    expect(Math.abs(result.se / bootstrapSe - 1)).toBeLessThan(0.1);
  });

  it('covers the true AUROC about `level` of the time', () => {
    // Normal scores shifted by d: true AUROC = Φ(d/√2).
    const random = new TestRandom(99);
    const d = 1;
    const truth = normalCdf(d / Math.SQRT2);
    let covered = 0;
    const trials = 300;
    for (let t = 0; t < trials; t++) {
      const { labels, scores } = syntheticScores(random, 60, 80, d);
      const { low, high } = aurocConfidence(labels, scores, 0.9);
      if (low <= truth && truth <= high) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.85);
    expect(covered / trials).toBeLessThan(0.95);
  });

  it('rejects too few samples per class and bad levels', () => {
    expect(() => aurocConfidence([1, 0, 0], [0.9, 0.1, 0.2])).toThrow(/at least 2 samples of each class \(got 1 anomalous, 2 normal\)/);
    expect(() => aurocConfidence([0, 0, 0], [0.9, 0.1, 0.2])).toThrow(/only one class is present/);
    expect(() => aurocConfidence([1, 1, 0, 0], [0.9, 0.5, 0.1, 0.2], 95)).toThrow(/level is 95; pass a confidence level between 0 and 1/);
    expect(() => aurocConfidence([1, 1, 0, 0], [0.9, Infinity, 0.1, 0.2])).toThrow(/scores\[1\] is Infinity/);
  });
});

describe('delongTest', () => {
  it('matches a hand-worked case', () => {
    // Positives p1, p2; negatives n1, n2.  A: p 3, 1; n 2, 0.   B: p 2, 3; n 1, 4.
    // A: V10 = (1, ½), V01 = (½, 1), AUROC ¾.   B: V10 = (½, ½), V01 = (1, 0), AUROC ½.
    // S10: var A ⅛, var B 0, cov 0.   S01: var A ⅛, var B ½, cov (−¼·½ + ¼·(−½)) = −¼.
    // Var(A − B) = (⅛ + 0 − 0)/2 + (⅛ + ½ + ½)/2 = 0.625;  z = ¼/√0.625 = √0.1.
    const labels = [1, 1, 0, 0];
    const result = delongTest(labels, [3, 1, 2, 0], [2, 3, 1, 4]);
    expect(result.aurocA).toBe(0.75);
    expect(result.aurocB).toBe(0.5);
    expect(result.difference).toBe(0.25);
    expect(result.se).toBeCloseTo(Math.sqrt(0.625), 15);
    expect(result.z).toBeCloseTo(Math.sqrt(0.1), 15);
    expect(result.pValue).toBeCloseTo(0.7518296340458492, 14); // 2·(1 − Φ(√0.1))
    // cov(A, B) = 0/2 + (−¼)/2 = −⅛; var A = ⅛; var B = ¼.
    expect(result.correlation).toBeCloseTo(-0.125 / Math.sqrt(0.125 * 0.25), 14);
  });

  it('agrees with a paired bootstrap of the AUROC difference', () => {
    const random = new TestRandom(77);
    const m = 120;
    const n = 200;
    const labels: number[] = [];
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < m + n; i++) {
      const positive = i < m;
      const latent = random.normal() + (positive ? 1 : 0);
      labels.push(positive ? 1 : 0);
      a.push(latent + 0.5 * random.normal());
      b.push(latent + 0.9 * random.normal() + (positive ? 0.2 : 0));
    }
    const result = delongTest(labels, a, b);
    expect(result.aurocA).toBe(auroc(labels, a));
    expect(result.aurocB).toBe(auroc(labels, b));
    expect(result.correlation).toBeGreaterThan(0.3); // the shared latent score correlates them
    const differences: number[] = [];
    for (let r = 0; r < 1000; r++) {
      const pick = stratifiedResample(random, labels);
      const l = pick.map((i) => labels[i]!);
      differences.push(auroc(l, pick.map((i) => a[i]!)) - auroc(l, pick.map((i) => b[i]!)));
    }
    expect(Math.abs(result.se / sd(differences) - 1)).toBeLessThan(0.12);
    expect(result.pValue).toBeCloseTo(2 * normalCdf(-Math.abs(result.difference / result.se)), 15);
  });

  it('is symmetric in A and B, and gives p = 1 for identical rankings', () => {
    const random = new TestRandom(8);
    const { labels, scores } = syntheticScores(random, 30, 40, 0.8);
    const other = scores.map((s) => s + 0.7 * random.normal());
    const ab = delongTest(labels, scores, other);
    const ba = delongTest(labels, other, scores);
    expect(ba.z).toBeCloseTo(-ab.z, 12);
    expect(ba.pValue).toBeCloseTo(ab.pValue, 14);
    const same = delongTest(labels, scores, scores.map((s) => Math.exp(s)));
    expect(same.difference).toBe(0);
    expect(same.z).toBe(0);
    expect(same.pValue).toBe(1);
  });

  it('rejects mismatched score lists', () => {
    expect(() => delongTest([1, 1, 0, 0], [1, 2, 3, 4], [1, 2, 3])).toThrow(/labels has 4 entries but scoresB has 3/);
    expect(() => delongTest([1, 1, 0, 0], [1, 2, NaN, 4], [1, 2, 3, 4])).toThrow(/scoresA\[2\] is NaN/);
  });
});
