import { describe, expect, it } from 'vitest';
import { resolveConfig, type CalibrationFile } from '@aeflow/model';
import { describeRun } from './run-info.js';

const calibration: CalibrationFile = {
  beta: 1,
  betaRule: 'auto',
  threshold: -0.2425198,
  thresholdRule: 'best-f1',
  fittedOn: { split: 'chest-xray/val', images: 16, normal: 8, anomalous: 8 },
  date: '2026-12-06T13:01:00.000Z',
};

describe('describeRun', () => {
  it('names the calibration behind the threshold: value, rule, data, date', () => {
    const info = describeRun('chest', resolveConfig({ score: { flow: 'density' } }), calibration, 0.9);
    expect(info.threshold).toBe(-0.2425198);
    expect(info.beta).toBe(1);
    expect(info.thresholdDescription).toBe('-0.2425 — chosen by best F1 on chest-xray/val (16 images: 8 normal, 8 anomalous), 2026-12-06');
    expect(info.scoreDescription).toMatch(/β = 1 \(chosen by AUROC on validation\)/);
    expect(info.modelDescription).toMatch(/^AE-FLOW .*MobileNet V1 \(ImageNet weights, conv_pw_11_relu\)/);
    expect(info.parts).toEqual(['Flow part (density)', 'Reconstruction part (−SSIM)']);
    expect(info.size).toBe(128);
  });

  it('shows no verdict threshold without a calibration, and uses the model β', () => {
    const info = describeRun('r', resolveConfig({}), null, 0.9);
    expect(info.threshold).toBeNull();
    expect(info.beta).toBe(0.9);
    expect(info.thresholdDescription).toMatch(/^none: the run has no calibration/);
  });

  it('lists only the score parts a model kind has, named for what they hold', () => {
    expect(describeRun('r', resolveConfig({ model: 'ae' }), null, 0).parts).toEqual([null, 'Reconstruction part (−SSIM)']);
    expect(describeRun('r', resolveConfig({ model: 'fastflow', score: { flow: 'density' } }), null, 1).parts).toEqual(['Flow part (density)', null]);
    expect(describeRun('r', resolveConfig({ model: 'knn' }), null, 1).parts).toEqual(['kNN distance', null]);
    expect(describeRun('r', resolveConfig({ score: { flow: 'knn', synthetic: 'none' }, knn: { regions: 'whole' } }), null, 1).parts[0]).toBe('Flow part (kNN on z′)');
    expect(describeRun('r', resolveConfig({ knn: { regions: 'whole' } }), null, 1).parts[0]).toBe('Flow part (kNN on z′ + synthetic-anomaly head)');
    expect(describeRun('r', resolveConfig({}), null, 1).parts[0]).toBe('Flow part (kNN on z′ per half + synthetic-anomaly head)');
    expect(describeRun('r', resolveConfig({ model: 'knn' }), null, 1).scoreDescription).not.toMatch(/β/);
  });
});
