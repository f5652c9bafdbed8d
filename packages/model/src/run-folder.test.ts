import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from './config.js';
import { RunFolder } from './run-folder.js';
import { RunFileError, type CalibrationFile, type DataFile, type SplitFile } from './run-files.js';
import { trainingBackend } from './test-helpers.js';

let dir: string;
beforeAll(async () => {
  await trainingBackend();
  dir = await mkdtemp(join(tmpdir(), 'aeflow-run-folder-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<RunFileError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RunFileError);
    return err as RunFileError;
  }
  throw new Error('expected a RunFileError');
}

describe('RunFolder', () => {
  it('writes each file atomically and reads it back typed', async () => {
    const run = new RunFolder(join(dir, 'a'));
    const config = resolveConfig({ model: 'ae' });
    const split: SplitFile = { how: 'held out', data: '/data', dataset: 'folder', train: { name: 't', images: 3 }, validation: { name: 'v', ids: ['a', 'b'] }, final: null };
    const data: DataFile = { encoder: 'resnet18', encoderWeightsHash: 'abc', train: { dataset: 't', images: 3 }, validation: null, source: { data: '/data', dataset: 'folder', normalClasses: ['NORMAL'], holdout: 200, skipInvalid: false, seed: 0 } };
    const calibration: CalibrationFile = { beta: 0.9, betaRule: 'auto', threshold: 0.25, thresholdRule: 'best-f1', fittedOn: { split: 'v', images: 2, normal: 1, anomalous: 1, scores: 'validation/scores.csv' }, date: new Date(0).toISOString() };
    expect(await run.write('config', config)).toBe(join(dir, 'a', 'config.json'));
    await run.write('split', split);
    await run.write('data', data);
    await run.write('calibration', calibration);
    await run.write('skipped', { count: 1, skipped: [{ path: '/data/x.png', reason: 'truncated' }] });
    await run.write('history', [{ kind: 'cache', computed: 1, cached: 2, seconds: 3 }]);
    await run.write('report', '<html></html>');
    await run.validation().write('scores', { rows: [{ id: 'a', label: 1, flow: 0, recon: -0.5, total: -0.05, predicted: null }], columns: { flow: null, recon: 'neg_ssim' } });
    expect(await run.read('config')).toEqual(config);
    expect(await run.read('split')).toEqual(split);
    expect(await run.read('data')).toEqual(data);
    expect(await run.readCalibration()).toEqual(calibration);
    expect((await run.read('skipped')).count).toBe(1);
    expect(await run.read('history')).toEqual([{ kind: 'cache', computed: 1, cached: 2, seconds: 3 }]);
    expect(await run.read('report')).toBe('<html></html>');
    expect((await readFile(join(dir, 'a', 'validation', 'scores.csv'), 'utf8')).split('\n')[0]).toBe('id,label,neg_ssim,total,predicted');
    expect((await run.validation().read('scores')).rows[0]!.recon).toBe(-0.5);
    expect((await readdir(join(dir, 'a'))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses to write what it could not read back, and leaves the old file', async () => {
    const run = new RunFolder(join(dir, 'b'));
    await run.write('skipped', { count: 0, skipped: [] });
    const err = await rejection(run.write('skipped', { count: 2, skipped: [] }));
    expect(err.field).toBe('count');
    expect(err.file).toContain('about to be written');
    expect((await run.read('skipped')).count).toBe(0);
  });

  it('a missing or bad file: the error names the file, the field and the fix', async () => {
    const run = new RunFolder(join(dir, 'c'));
    const missing = await rejection(run.read('config'));
    expect(missing.message).toBe(`${join(dir, 'c', 'config.json')}: does not exist; ${join(dir, 'c')} is not a trained run: train one there (aeflow-train --out ${join(dir, 'c')}) or pass the right folder`);
    expect(await run.readIfExists('metrics')).toBeNull();
    expect(await run.readCalibration()).toBeNull();
    await mkdir(run.dir, { recursive: true });
    await writeFile(run.path('data'), '{"encoder": 1}');
    const bad = await rejection(run.read('data'));
    expect([bad.file, bad.field]).toEqual([run.path('data'), 'encoder']);
    await writeFile(run.path('metrics'), '{"auroc": ');
    expect((await rejection(run.read('metrics'))).message).toContain('not valid JSON');
    expect((await rejection(run.readWeightsMetadata('checkpoint'))).fix).toBe('start the run without resume');
  });

  it('reads the previous release\'s threshold.json as the calibration, dated by the file', async () => {
    const run = new RunFolder(join(dir, 'd'));
    await mkdir(run.dir, { recursive: true });
    await writeFile(run.path('legacyThreshold'), JSON.stringify({ threshold: 0.3, rule: 'best-f1', split: 'val', beta: 0.5, betaRule: 'auto', images: 9 }));
    const when = new Date('2026-03-04T05:06:07.000Z');
    await utimes(run.path('legacyThreshold'), when, when);
    expect(await run.readCalibration()).toMatchObject({ beta: 0.5, betaRule: 'auto', threshold: 0.3, thresholdRule: 'best-f1', date: when.toISOString(), migratedFrom: 'threshold.json' });
  });

  it('weights: metadata validated, NaN refused, tensors back', async () => {
    const run = new RunFolder(join(dir, 'e'));
    const config = resolveConfig({});
    const w = { 'flow.a': tf.tensor1d([1, 2, 3]) };
    await run.writeWeights('model', w, { format: 'aeflow-model', epoch: '2', model: 'aeflow', config: JSON.stringify(config) });
    expect(await run.readWeightsMetadata('model')).toMatchObject({ epoch: '2', model: 'aeflow' });
    const back = await run.readWeights('model');
    expect(Array.from(back['flow.a']!.dataSync())).toEqual([1, 2, 3]);
    const nan = { 'flow.a': tf.tensor1d([1, Number.NaN]) };
    await expect(run.writeWeights('model', nan, { format: 'aeflow-model', epoch: '3', model: 'aeflow', config: '{}' })).rejects.toThrow(/NaN or Inf/);
    expect((await rejection(run.writeWeights('checkpoint', w, { format: 'aeflow-checkpoint', epoch: '1', state: '{}' }))).field).toBe('metadata.state.epoch');
    expect((await run.readWeightsMetadata('model')).epoch).toBe('2');
    tf.dispose([...Object.values(w), ...Object.values(back), ...Object.values(nan)]);
  });

  it('removes temp files of killed writes (a process that no longer runs, or this one before it started), keeps live ones', async () => {
    const run = new RunFolder(join(dir, 'f'));
    await mkdir(join(run.dir, 'validation'), { recursive: true });
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(child.stdout);
    const stale = [join(run.dir, `.checkpoint.safetensors.${deadPid}.1700000000000.tmp`), join(run.dir, 'validation', `.scores.csv.${deadPid}.1700000000001.tmp`), join(run.dir, `.history.jsonl.${process.pid}.1.tmp`)];
    const live = [join(run.dir, `.model.safetensors.${process.ppid}.1700000000002.tmp`), join(run.dir, `.metrics.json.${process.pid}.${Date.now()}.tmp`)];
    for (const p of [...stale, ...live]) await writeFile(p, 'x');
    // this process's own temp file from before it started: a previous process with the same pid
    const before = new Date(Date.now() - process.uptime() * 1000 - 60_000);
    await utimes(stale[2]!, before, before);
    await writeFile(join(run.dir, 'notes.tmp'), 'kept: not a temp file of ours');
    const removed = await run.removeStaleTempFiles();
    expect(removed.sort()).toEqual([...stale].sort());
    const left = await readdir(run.dir);
    expect(left.sort()).toEqual(['.metrics.json.' + process.pid + '.' + live[1]!.split('.').at(-2)! + '.tmp', `.model.safetensors.${process.ppid}.1700000000002.tmp`, 'notes.tmp', 'validation'].sort());
    expect(await new RunFolder(join(dir, 'nothing-here')).removeStaleTempFiles()).toEqual([]);
  });
});
