import { describe, expect, it } from 'vitest';
import { valTestFolds, type ImageItem } from '@aeflow/datasets';
import { atThreshold, auroc, averagePrecision, bestF1 } from '@aeflow/metrics';
import { chooseBeta } from '@aeflow/model';
import { crossValidate, EvaluationError, type CrossValidation, type ScoreRow } from './evaluate.js';
import { syntheticRows } from './test-helpers.js';

const METRICS = ['auroc', 'ap', 'f1', 'accuracy', 'sensitivity', 'specificity'] as const;

function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, std: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) };
}

/** The folds crossValidate must have used, rebuilt from the datasets package directly. */
function directFolds(rows: readonly ScoreRow[], k: number, seed: number) {
  return valTestFolds(rows.filter((r) => r.label !== null) as unknown as (ScoreRow & ImageItem)[], { k, seed });
}

describe('crossValidate (the paper\'s appendix protocol)', () => {
  it('perfectly separated scores: every fold, and so the mean, is exactly 1 with std 0 (checked by hand)', () => {
    // 8 normal at total 0, 8 anomalous at total 1: any validation part cuts just below 1 (best F1 at 1, less the 1e-4 tolerance), exact on any test part.
    const rows: ScoreRow[] = Array.from({ length: 16 }, (_, i) => ({ id: `img${i}`, label: i < 8 ? 0 : 1, flow: 0, recon: 0, total: i < 8 ? 0 : 1, predicted: null }));
    const cv = crossValidate(rows, { k: 4, seed: 0, chooseBeta: false, beta: 0.9 });
    expect(cv.folds).toHaveLength(4);
    for (const f of cv.folds) {
      expect(f.threshold).toBe(1 - 1e-4);
      // 16 / 4 = 4 per validation part, 2 of each class; 12 in the test part, 6 of each
      expect(f.val).toEqual({ normal: 2, anomalous: 2 });
      expect(f.test).toEqual({ normal: 6, anomalous: 6 });
      for (const m of METRICS) expect(f[m]).toBe(1);
      expect(f.beta).toBe(0.9);
    }
    for (const m of METRICS) {
      expect(cv.mean[m]).toBe(1);
      expect(cv.std[m]).toBe(0);
    }
    expect(cv.mean.beta).toBe(0.9);
    expect(cv.std.beta).toBe(0);
  });

  it('matches a direct computation fold by fold; every labelled image is in exactly one validation part and the test part is the rest', () => {
    const rows = [...syntheticRows(23, 17, 11), { id: 'unknown.png', label: null, flow: 0, recon: 0, total: 0, predicted: null } satisfies ScoreRow];
    const k = 5;
    const cv: CrossValidation = crossValidate(rows, { k, seed: 7, chooseBeta: false, beta: 0.9 });
    expect(cv).toMatchObject({ k, seed: 7, chooseBeta: false, images: 40 });
    const folds = directFolds(rows, k, 7);
    const seen = new Map<string, number>();
    folds.forEach(({ val, test }, i) => {
      for (const r of val) seen.set(r.id, (seen.get(r.id) ?? 0) + 1);
      const valIds = new Set(val.map((r) => r.id));
      expect(test.some((r) => valIds.has(r.id))).toBe(false);
      expect(val.length + test.length).toBe(40);
      // stratified: 23 normal / 17 anomalous over 5 folds → 4 or 5 normal, 3 or 4 anomalous in each validation part (about 20 %)
      const vn = val.filter((r) => r.label === 0).length;
      expect(vn === 4 || vn === 5).toBe(true);
      expect(val.length - vn === 3 || val.length - vn === 4).toBe(true);
      const f = cv.folds[i]!;
      expect(f.val).toEqual({ normal: vn, anomalous: val.length - vn });
      const yv = val.map((r) => r.label!);
      const yt = test.map((r) => r.label!);
      const st = test.map((r) => r.total);
      // best F1's cut, lowered by 1e-4 relative, never past midway to the highest validation score it leaves unflagged
      const sv = val.map((r) => r.total);
      const cut = bestF1(yv, sv).threshold;
      const below = sv.filter((s) => s < cut);
      const lowered = cut - 1e-4 * Math.max(1, Math.abs(cut));
      const t = below.length > 0 ? Math.max(lowered, (cut + Math.max(...below)) / 2) : lowered;
      const at = atThreshold(yt, st, t);
      expect(f.threshold).toBe(t);
      expect(f.auroc).toBeCloseTo(auroc(yt, st), 12);
      expect(f.ap).toBeCloseTo(averagePrecision(yt, st), 12);
      expect([f.f1, f.accuracy, f.sensitivity, f.specificity]).toEqual([at.f1, at.accuracy, at.sensitivity, at.specificity]);
    });
    expect(seen.size).toBe(40);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(seen.has('unknown.png')).toBe(false);
    for (const m of METRICS) {
      const s = meanStd(cv.folds.map((f) => f[m]));
      expect(cv.mean[m]).toBeCloseTo(s.mean, 12);
      expect(cv.std[m]).toBeCloseTo(s.std, 12);
    }
    // the folds differ, so the spread is real
    expect(cv.std.auroc).toBeGreaterThan(0);
    // another seed, other folds
    expect(crossValidate(rows, { k, seed: 8, chooseBeta: false }).folds.map((f) => f.threshold)).not.toEqual(cv.folds.map((f) => f.threshold));
  });

  it('chooseBeta picks β per fold on its validation part only (chooseBeta of @aeflow/model) and scores the test part at it', () => {
    // flow separates the classes; recon points the wrong way, strongly: only β = 1 reaches AUROC 1.
    const rows: ScoreRow[] = syntheticRows(20, 20, 3).map((r) => ({ ...r, flow: r.label! + 0.1 * Math.sin(r.id.length + r.flow), recon: -100 * r.label!, total: 0 }));
    const cv = crossValidate(rows, { k: 4, seed: 1, chooseBeta: true, beta: 0.9 });
    const folds = directFolds(rows, 4, 1);
    folds.forEach(({ val }, i) => {
      const expected = chooseBeta(val.map((r) => r.label!), val.map((r) => r.flow), val.map((r) => r.recon), { prefer: 0.9 }).beta;
      expect(cv.folds[i]!.beta).toBe(expected);
      expect(expected).toBe(1);
      expect(cv.folds[i]!.auroc).toBe(1);
    });
    expect(cv.mean.beta).toBe(1);
    expect(cv.std.beta).toBe(0);
    // without choosing, the stored totals (all 0 here) are used: no separation at all
    expect(crossValidate(rows, { k: 4, seed: 1, chooseBeta: false }).mean.auroc).toBe(0.5);
    expect(crossValidate(rows, { k: 4, seed: 1, chooseBeta: false }).mean.beta).toBeNull();
  });

  it('refuses data without both classes, folds with fewer than 2 of a class, and k outside 2..20', () => {
    const oneClass = syntheticRows(12, 0, 1);
    expect(() => crossValidate(oneClass, { k: 2, seed: 0, chooseBeta: false })).toThrow(EvaluationError);
    expect(() => crossValidate(oneClass, { k: 2, seed: 0, chooseBeta: false })).toThrow(/--folds 2: cross-validation needs labelled normal and anomalous images \(found 12 normal, 0 anomalous/);
    const few = syntheticRows(20, 7, 1);
    expect(() => crossValidate(few, { k: 4, seed: 0, chooseBeta: false })).toThrow(/--folds 4: a fold would have fewer than 2 anomalous images \(20 normal, 7 anomalous in 4 folds\); use --folds 3 or fewer/);
    expect(crossValidate(few, { k: 3, seed: 0, chooseBeta: false }).folds).toHaveLength(3);
    expect(() => crossValidate(few, { k: 1, seed: 0, chooseBeta: false })).toThrow(/from 2 to 20, got 1/);
    expect(() => crossValidate(few, { k: 21, seed: 0, chooseBeta: false })).toThrow(/from 2 to 20, got 21/);
  });
});
