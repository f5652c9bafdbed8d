import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '@aeflow/tensor/node';
import { chestXrayDataset, folderDataset } from '@aeflow/datasets/node';
import { metricsSummary, type ScoreMetrics } from './evaluate.js';
import { scoreToFolder } from './score-to-folder.js';
import { parseScoresCsv } from '@aeflow/model';
import { syntheticImage, TINY_CONFIG, writeFolderDataset } from './test-helpers.js';
import { chosenOnFinalPart, crossValidationFolds, RunFolderError, trainAndEvaluate, type WorkflowEvent } from './train-and-evaluate.js';
import { resolveConfig } from '@aeflow/model';

let root: string;
let data: string;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
  root = await mkdtemp(join(tmpdir(), 'aeflow-eval-workflow-'));
  data = join(root, 'data');
  // train/ normals and a test/ split with both classes: validated on and scored on test/
  await writeFolderDataset(data, { train: 10, testNormal: 4, testAnomalous: 4 });
});

describe('what a run chose on its final part', () => {
  const aeflow = resolveConfig({});
  const auto = resolveConfig({ score: { beta: 'auto' } });
  const knn = resolveConfig({ model: 'knn', score: { beta: 'auto' } });
  it('lists the epoch (several validated), β (auto) and the threshold when the final part is the validation part; nothing when held out', () => {
    expect(chosenOnFinalPart({ config: auto, epochs: 5, validated: true, finalIsValidation: true, thresholdOnFinal: true })).toEqual(['epoch', 'beta', 'threshold']);
    expect(chosenOnFinalPart({ config: aeflow, epochs: 1, validated: true, finalIsValidation: true, thresholdOnFinal: true })).toEqual(['threshold']);
    // a kNN has one score part (β is fixed at 1) and no epochs to choose from
    expect(knn.score.beta).toBe(1);
    expect(chosenOnFinalPart({ config: knn, epochs: 1, validated: true, finalIsValidation: true, thresholdOnFinal: true })).toEqual(['threshold']);
    expect(chosenOnFinalPart({ config: auto, epochs: 5, validated: true, finalIsValidation: false, thresholdOnFinal: false })).toEqual([]);
    // normals only: a threshold from the final part's scores
    expect(chosenOnFinalPart({ config: aeflow, epochs: 5, validated: true, finalIsValidation: false, thresholdOnFinal: true })).toEqual(['threshold']);
  });
  it('cross-validates with 5 folds, fewer when a class has under 10 images, none under 4', () => {
    const part = (normal: number, anomalous: number) =>
      ({ items: [...Array.from({ length: normal }, (_, i) => ({ id: `n${i}`, label: 0 })), ...Array.from({ length: anomalous }, (_, i) => ({ id: `a${i}`, label: 1 }))] }) as unknown as Parameters<typeof crossValidationFolds>[0];
    expect(crossValidationFolds(part(47, 78))).toBe(5);
    expect(crossValidationFolds(part(8, 30))).toBe(4);
    expect(crossValidationFolds(part(4, 4))).toBe(2);
    expect(crossValidationFolds(part(3, 30))).toBeNull();
  });
});

describe('trainAndEvaluate', () => {
  it('trains, scores the held-out part and writes the run folder, reporting progress as events (no console)', async () => {
    const out = join(root, 'run');
    const events: WorkflowEvent[] = [];
    const stdout = vi.spyOn(process.stdout, 'write');
    const stderr = vi.spyOn(process.stderr, 'write');
    const log = vi.spyOn(console, 'log');
    const warn = vi.spyOn(console, 'warn');
    const r = await trainAndEvaluate({ out, data: { data }, config: { ...TINY_CONFIG, train: { ...TINY_CONFIG.train, epochs: 1 } }, cacheDir: null, onEvent: (e) => events.push(e) });
    for (const spy of [stdout, stderr, log, warn]) {
      expect(spy).not.toHaveBeenCalled();
      spy.mockRestore();
    }
    expect(r.stopped).toBe('done');
    expect(r.epoch).toBe(1);
    expect(r.data).toMatchObject({ train: 10, validation: 8, final: 8 });
    for (const f of ['config.json', 'model.safetensors', 'history.jsonl', 'split.json', 'scores.csv', 'metrics.json', 'report.html', 'calibration.json']) expect(existsSync(join(out, f)), f).toBe(true);
    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as ScoreMetrics;
    expect(metrics).toEqual(r.metrics);
    expect(metrics.counts).toMatchObject({ images: 8, normal: 4, anomalous: 4 });
    expect(metrics.thresholdRule).toBe('best-f1');
    expect(parseScoresCsv(await readFile(join(out, 'scores.csv'), 'utf8')).rows).toHaveLength(8);
    expect(JSON.parse(await readFile(join(out, 'calibration.json'), 'utf8'))).toMatchObject({ threshold: metrics.threshold, thresholdRule: 'best-f1', fittedOn: { images: 8, scores: 'scores.csv' } });
    const types = new Set(events.map((e) => e.type));
    for (const t of ['data', 'step', 'history', 'scoring']) expect(types, t).toContain(t);
    const scoring = events.filter((e): e is Extract<WorkflowEvent, { type: 'scoring' }> => e.type === 'scoring');
    expect(scoring.at(-1)).toMatchObject({ part: 'final', done: 8, total: 8 });

    // the same folder again: refused (never overwritten), and resume continues it
    await expect(trainAndEvaluate({ out, data: { data }, config: TINY_CONFIG, cacheDir: null })).rejects.toThrow(RunFolderError);
    // the run stored its data options: resume needs only the folder
    const resumed = await trainAndEvaluate({ out, resume: true, epochs: 2, cacheDir: null });
    expect(resumed.epoch).toBe(2);
    expect(resumed.metrics?.counts.images).toBe(8);
  });

  it('a re-score of the images its calibration was fitted on says what was chosen on them (same id, or the same file); a superset says on how many; other images nothing', async () => {
    const out = join(root, 'run-rescore');
    await trainAndEvaluate({ out, data: { data }, config: TINY_CONFIG, cacheDir: null });
    const rescore = async (dataset: Awaited<ReturnType<typeof folderDataset>>, name: string) => (await scoreToFolder({ runDir: out, dataset, out: join(root, 'rescore', name) })).metrics;
    // test/ was the run's validation part (no other): epoch (2 validated) and threshold chosen on it, β fixed
    const again = await rescore(await chestXrayDataset(data, { split: 'test' }), 'again');
    expect(again.thresholdRule).toBe('from-val');
    expect(again.chosenOnTheseImages).toEqual(['epoch', 'threshold']);
    expect(again.chosenOnImages).toBeUndefined();
    expect(metricsSummary(again, 'test')).toMatch(/epoch and threshold chosen on these images: optimistic/);
    // the split's own folder as the root: its ids lack the "test/" the run's have
    const own = await rescore(await chestXrayDataset(join(data, 'test')), 'own');
    expect(own.chosenOnTheseImages).toEqual(['epoch', 'threshold']);
    // a copy with two more anomalous images: 8 of 10
    const bigger = join(root, 'bigger');
    await cp(join(data, 'test'), join(bigger, 'test'), { recursive: true });
    const sharp = (await import('sharp')).default;
    for (let i = 0; i < 2; i++) {
      const img = syntheticImage(32, true, 100 + i).original;
      await sharp(Buffer.from(Array.from(img.data, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255))), { raw: { width: 32, height: 32, channels: 1 } }).png().toFile(join(bigger, 'test', 'PNEUMONIA', `extra_${i}.png`));
    }
    const superset = await rescore(await chestXrayDataset(bigger, { split: 'test' }), 'bigger');
    expect(superset.counts.images).toBe(10);
    expect(superset.chosenOnImages).toBe(8);
    expect(metricsSummary(superset, 'test')).toMatch(/chosen on 8 of these 10 images: optimistic/);
    // the training normals: nothing was chosen on them
    const train = await rescore(await folderDataset(data, { split: 'train', normalClasses: ['NORMAL'] }), 'train');
    expect(train.chosenOnTheseImages).toBeUndefined();
  });

  it('--beta auto on a fixed-β run chooses β and the threshold on its validation scores: scoring those images again says so', async () => {
    const withVal = join(root, 'data-val');
    await cp(data, withVal, { recursive: true });
    await cp(join(data, 'test'), join(withVal, 'val'), { recursive: true });
    const out = join(root, 'run-val');
    const r = await trainAndEvaluate({ out, data: { data: withVal }, config: TINY_CONFIG, cacheDir: null });
    expect(r.data).toMatchObject({ validation: 8, final: 8 });
    expect(existsSync(join(out, 'validation', 'scores.csv'))).toBe(true);
    const rescore = async (split: string) =>
      (await scoreToFolder({ runDir: out, dataset: await chestXrayDataset(withVal, { split }), out: join(root, 'rescore-val', split), beta: 'auto' })).metrics;
    const val = await rescore('val');
    expect(val.betaRule).toBe('auto');
    expect(val.chosenOnTheseImages).toEqual(['epoch', 'beta', 'threshold']);
    // the test part was held out from those choices (the same pictures, other files)
    expect((await rescore('test')).chosenOnTheseImages).toBeUndefined();
  });

  it('stops at the abort signal with the checkpoint kept and nothing scored', async () => {
    const out = join(root, 'aborted');
    const controller = new AbortController();
    const r = await trainAndEvaluate({
      out,
      data: { data },
      config: { ...TINY_CONFIG, train: { ...TINY_CONFIG.train, epochs: 3, batchSize: 2 } },
      cacheDir: null,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'step' && e.step === 2) controller.abort();
      },
    });
    expect(r.stopped).toBe('aborted');
    expect(r.metrics).toBeNull();
    expect(r.step).toBe(2);
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'scores.csv'))).toBe(false);
  });
});
