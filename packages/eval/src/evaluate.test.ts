import { describe, expect, it } from 'vitest';
import { auroc, averagePrecision, bestF1 } from '@aeflow/metrics';
import { crossValidate, evaluateScores, EvaluationError, metricsSummary, THRESHOLD_TOLERANCE, type ScoreRow } from './evaluate.js';
import { syntheticRows } from './test-helpers.js';
import { combineScores, parseThresholdOption, safeFileStem } from './outputs.js';

const FIXED_KEYS = ['auroc', 'aurocCI', 'ap', 'threshold', 'f1', 'accuracy', 'sensitivity', 'specificity', 'counts'];

describe('evaluateScores', () => {
  const rows = syntheticRows(30, 20, 5);
  const labels = rows.map((r) => r.label as number);
  const totals = rows.map((r) => r.total);

  it('writes the fixed keys, agreeing with the metrics package, and fills predicted', () => {
    const { metrics, rows: out } = evaluateScores(rows, { threshold: { rule: 'best-f1' }, beta: 0.9, combine: combineScores });
    for (const k of FIXED_KEYS) expect(metrics).toHaveProperty(k);
    expect(metrics.auroc).toBeCloseTo(auroc(labels, totals), 12);
    expect(metrics.ap).toBeCloseTo(averagePrecision(labels, totals), 12);
    expect(metrics.aurocCI!.low).toBeLessThanOrEqual(metrics.auroc!);
    expect(metrics.aurocCI!.high).toBeGreaterThanOrEqual(metrics.auroc!);
    const t = metrics.threshold!;
    expect(out.every((r) => r.predicted === (r.total >= t ? 1 : 0))).toBe(true);
    const c = metrics.counts;
    expect([c.images, c.normal, c.anomalous, c.unlabeled]).toEqual([50, 30, 20, 0]);
    expect(c.tp! + c.fn!).toBe(20);
    expect(c.tn! + c.fp!).toBe(30);
    expect(metrics.sensitivity).toBeCloseTo(c.tp! / 20, 12);
  });

  it('best F1: the same images flagged as bestF1, the threshold just below the lowest flagged score (1e-4 relative, at most midway down), so a re-score a little off flags the same', () => {
    const { metrics } = evaluateScores(rows, { threshold: { rule: 'best-f1' } });
    const ref = bestF1(labels, totals);
    expect([metrics.sensitivity, metrics.specificity, metrics.f1]).toEqual([ref.sensitivity, ref.specificity, ref.f1]);
    const t = metrics.threshold!;
    expect(Math.min(...totals.filter((s) => s >= t))).toBe(ref.threshold);
    expect(t).toBeCloseTo(ref.threshold - THRESHOLD_TOLERANCE * Math.max(1, Math.abs(ref.threshold)), 12);
    // the image at the cut, 1e-5 relative lower (another runtime's last digits): still flagged
    const nudged = rows.map((r) => ({ ...r, total: r.total === ref.threshold ? r.total - 1e-5 * Math.max(1, Math.abs(r.total)) : r.total }));
    expect(evaluateScores(nudged, { threshold: { rule: 'value', value: t } }).rows.map((r) => r.predicted)).toEqual(rows.map((r) => (r.total >= ref.threshold ? 1 : 0)));
    // a lower score closer than the tolerance: midway to it, never past it
    const close = [{ ...rows[0]!, label: 1 as const, total: 2 }, { ...rows[1]!, label: 0 as const, total: 2 - 1e-5 }, { ...rows[2]!, label: 0 as const, total: 0 }];
    expect(evaluateScores(close, { threshold: { rule: 'best-f1' } }).metrics.threshold).toBeCloseTo(2 - 0.5e-5, 12);
  });

  it('sweeps β from the stored parts: the ends are flow-only and recon-only AUROC', () => {
    const { metrics } = evaluateScores(rows, { threshold: { rule: 'best-f1' }, beta: 0.9, combine: combineScores });
    const sweep = metrics.betaSweep!;
    expect(sweep).toHaveLength(21);
    expect(sweep[0]!.auroc).toBeCloseTo(auroc(labels, rows.map((r) => r.recon)), 12);
    expect(sweep[20]!.auroc).toBeCloseTo(auroc(labels, rows.map((r) => r.flow)), 12);
  });

  it('applies a given threshold and keeps null where a metric is undefined', () => {
    const normals = rows.filter((r) => r.label === 0);
    const { metrics } = evaluateScores(normals, { threshold: { rule: 'value', value: -0.2 } });
    expect(metrics.auroc).toBeNull();
    expect(metrics.aurocCI).toBeNull();
    expect(metrics.ap).toBeNull();
    expect(metrics.sensitivity).toBeNull(); // no anomalies: tp / (tp + fn) is 0/0
    expect(metrics.specificity).not.toBeNull();
    expect(metrics.threshold).toBe(-0.2);
    expect(metrics.thresholdRule).toBe('value');
  });

  it('keeps the AUROC but no interval with fewer than two images of a class', () => {
    const few = [...rows.filter((r) => r.label === 0), rows.find((r) => r.label === 1)!];
    const { metrics } = evaluateScores(few, { threshold: { rule: 'best-f1' } });
    expect(metrics.auroc).toBeCloseTo(auroc(few.map((r) => r.label as number), few.map((r) => r.total)), 12);
    expect(metrics.aurocCI).toBeNull();
  });

  it('refuses best-F1 without both classes, and says what to use instead', () => {
    const unlabeled: ScoreRow[] = rows.map((r) => ({ ...r, label: null }));
    expect(() => evaluateScores(unlabeled, { threshold: { rule: 'best-f1' } })).toThrow(EvaluationError);
    expect(() => evaluateScores(unlabeled, { threshold: { rule: 'best-f1' } })).toThrow(/--threshold from-val .* or --threshold <number>/);
  });
});

describe('outputs', () => {
  it('makes safe, unique file names from any id', () => {
    expect(safeFileStem('test/PNEUMONIA/scan 1.PNG', 3)).toBe('003_test_PNEUMONIA_scan_1');
    expect(safeFileStem('../../etc/passwd', 1)).toBe('001_etc_passwd');
    expect(safeFileStem('Röntgen/肺.jpg', 2)).toBe('002_Röntgen_肺');
  });

  it('parses --threshold', () => {
    expect(parseThresholdOption('best-f1')).toBe('best-f1');
    expect(parseThresholdOption('-0.25')).toBe(-0.25);
    expect(parseThresholdOption('quantile:0.95')).toEqual({ quantile: 0.95 });
    expect(() => parseThresholdOption('quantile:1')).toThrow(/between 0 and 1/);
    expect(() => parseThresholdOption('quantile:')).toThrow(/between 0 and 1/);
    expect(() => parseThresholdOption('high')).toThrow(/not best-f1, from-val, auto, quantile:<q> or a number/);
  });
});

describe('metricsSummary', () => {
  const rows = syntheticRows(30, 20, 5);
  it('calls an AUROC "held-out" only when nothing was chosen on the images, else says what was and adds the cross-validation', () => {
    const { metrics } = evaluateScores(rows, { threshold: { rule: 'from-val', value: 0.5 } });
    expect(metricsSummary(metrics, 'test')).toMatch(/^held-out AUROC \d\.\d{4} \[\d\.\d{4}, \d\.\d{4}\] on test, AP .*\(threshold: from-val\)$/);
    const chosen = { ...evaluateScores(rows, { threshold: { rule: 'best-f1' } }).metrics, chosenOnTheseImages: ['beta' as const, 'threshold' as const] };
    expect(metricsSummary(chosen, 'val')).toMatch(/^AUROC \d\.\d{4} .* on val, AP .* — β and threshold chosen on these images: optimistic$/);
    const cv = crossValidate(rows, { k: 5, seed: 0, chooseBeta: false });
    const line = metricsSummary({ ...chosen, chosenOnTheseImages: ['epoch', 'threshold'], crossValidation: cv }, 'val');
    expect(line).toContain('— epoch and threshold chosen on these images: optimistic; 5-fold cross-validation inside them (threshold chosen on 1/5, measured on the rest; the epoch still chosen on all): ');
    expect(line).toContain(`AUROC ${cv.mean.auroc.toFixed(3)} ± ${cv.std.auroc.toFixed(3)}, sensitivity ${cv.mean.sensitivity.toFixed(3)} ± ${cv.std.sensitivity.toFixed(3)}`);
  });
});
