import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { filesDataset, folderDataset } from '@aeflow/datasets/node';
import { calibrationFileSchema, chooseBeta, parseScoresCsv, type CalibrationFile } from '@aeflow/model';
import { initBackend } from '@aeflow/tensor/node';
import { calibrateRun } from './calibrate.js';
import { describeCalibration } from './calibration.js';
import { EvaluationError, scoreQuantile } from './evaluate.js';
import { scoreToFolder } from './score-to-folder.js';
import { TINY_CONFIG, writeFolderDataset } from './test-helpers.js';
import { trainAndEvaluate } from './train-and-evaluate.js';

let root: string;
let runDir: string;
let site: string;

/** The site's training normals as loose files: labels unknown. */
async function unlabelledSample() {
  const dir = join(site, 'train', 'NORMAL');
  return filesDataset((await readdir(dir)).map((f) => join(dir, f)).sort());
}

async function readCalibration(dir: string): Promise<CalibrationFile> {
  return calibrationFileSchema.parse(JSON.parse(await readFile(join(dir, 'calibration.json'), 'utf8')));
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
  root = await mkdtemp(join(tmpdir(), 'aeflow-eval-calibrate-'));
  const data = join(root, 'data');
  await writeFolderDataset(data, { train: 10, testNormal: 4, testAnomalous: 4 });
  runDir = join(root, 'run');
  await trainAndEvaluate({ out: runDir, data: { data }, config: { ...TINY_CONFIG, train: { ...TINY_CONFIG.train, epochs: 1 } }, cacheDir: null });
  // "another site": other images (another seed), labelled
  site = join(root, 'site');
  await writeFolderDataset(site, { train: 6, testNormal: 5, testAnomalous: 5, seed: 101 });
}, 120_000);

describe('calibrateRun', () => {
  it("refits β and the best-F1 threshold on a labelled sample, stores them with their scores and keeps the trainer's calibration", async () => {
    const trainers = await readCalibration(runDir);
    const dataset = await folderDataset(join(site, 'test'), { normalClasses: ['NORMAL'] });
    const r = await calibrateRun({ runDir, dataset, dataName: 'site-b' });
    const stored = await readCalibration(runDir);
    expect(stored).toEqual(r.calibration);
    expect(stored).toMatchObject({ betaRule: 'fit', thresholdRule: 'best-f1', fittedOn: { split: 'site-b', images: 10, normal: 5, anomalous: 5, scores: 'calibrations/site-b/scores.csv' } });
    expect(Date.now() - Date.parse(stored.date)).toBeLessThan(60_000);
    // the trainer's calibration is kept, newest first
    expect(stored.previous).toEqual([trainers]);
    // what it was fitted on: the scores file it names, and β is the AUROC-best on those parts
    const rows = parseScoresCsv(await readFile(join(runDir, stored.fittedOn.scores!), 'utf8')).rows;
    expect(rows).toHaveLength(10);
    const best = chooseBeta(rows.map((x) => x.label!), rows.map((x) => x.flow), rows.map((x) => x.recon), { prefer: trainers.beta }).beta;
    expect(stored.beta).toBeCloseTo(best, 12);
    expect(r.metrics.threshold).toBe(stored.threshold);
    // the sample's report says that the calibration was fitted there
    const html = await readFile(join(r.out, 'report.html'), 'utf8');
    expect(html).toContain('Fitted on these images and stored as the run&#39;s calibration');

    // later scoring uses the site's β and threshold by default, and its report names the calibration
    const other = await folderDataset(join(site, 'train'), { normalClasses: ['NORMAL'] });
    const scored = await scoreToFolder({ runDir, dataset: other, out: join(root, 'scored-after') });
    expect(scored.metrics).toMatchObject({ threshold: stored.threshold, thresholdRule: 'from-val', beta: stored.beta, betaRule: 'fit' });
    const report = await readFile(join(root, 'scored-after', 'report.html'), 'utf8');
    expect(report).toContain(`The run&#39;s calibration: ${describeCalibration(stored).replace(/'/g, '&#39;')}`);
    // a second calibration keeps both earlier ones
    await calibrateRun({ runDir, dataset, dataName: 'site-b again', out: join(root, 'again') });
    expect((await readCalibration(runDir)).previous?.map((p) => p.fittedOn.split)).toEqual(['site-b', trainers.fittedOn.split]);
  }, 120_000);

  it('for unlabelled images of a new site: the threshold at a quantile of their scores, the run\'s β kept', async () => {
    const before = await readCalibration(runDir);
    const dataset = await unlabelledSample();
    expect(dataset.items.every((it) => it.label === null)).toBe(true);
    const r = await calibrateRun({ runDir, dataset, dataName: 'site-c normals', quantile: 0.8 });
    const stored = await readCalibration(runDir);
    expect(stored).toMatchObject({ thresholdRule: 'normal-quantile', quantile: 0.8, betaRule: 'run', fittedOn: { images: 6, normal: 0, anomalous: 0 } });
    expect(stored.threshold).toBe(scoreQuantile(r.rows.map((x) => x.total), 0.8));
    expect(stored.previous?.[0]).toMatchObject({ fittedOn: before.fittedOn, threshold: before.threshold, beta: before.beta });
    // flags about 1 − q of that population (here: at most ⌈0.2·6⌉ = 2 of 6)
    expect(r.rows.filter((x) => x.predicted === 1).length).toBeLessThanOrEqual(2);
    expect(describeCalibration(stored)).toContain('flags ≈ 20 % of a normal population');
    expect(existsSync(join(runDir, 'calibrations', 'site-c_normals', 'scores.csv'))).toBe(true);
  }, 120_000);

  it('refuses an unlabelled sample without a quantile, and a bad quantile, naming the fix; the stored calibration is untouched', async () => {
    const before = await readFile(join(runDir, 'calibration.json'), 'utf8');
    const dataset = await unlabelledSample();
    await expect(calibrateRun({ runDir, dataset })).rejects.toThrow(/needs labelled normal and anomalous images.*quantile:0\.95/);
    await expect(calibrateRun({ runDir, dataset, quantile: 1.5 })).rejects.toThrow(EvaluationError);
    expect(await readFile(join(runDir, 'calibration.json'), 'utf8')).toBe(before);
  });
});

describe('scoreQuantile', () => {
  it('is the ⌈q·n⌉-th order statistic (0-based, capped at the last)', () => {
    expect(scoreQuantile([5, 1, 4, 2, 3], 0.5)).toBe(4);
    expect(scoreQuantile([5, 1, 4, 2, 3], 0)).toBe(1);
    expect(scoreQuantile([5, 1, 4, 2, 3], 0.99)).toBe(5);
    expect(() => scoreQuantile([], 0.5)).toThrow(EvaluationError);
    expect(() => scoreQuantile([1], 2)).toThrow(/outside \[0, 1\]/);
  });
});
