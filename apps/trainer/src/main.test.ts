import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { MODEL_KINDS, runConfigSchema } from '@aeflow/model';
import { initBackend } from '@aeflow/tensor/node';
import { TINY_SETTINGS, writeFolderDataset } from './fixtures.test-helpers.js';
import { main } from './main.js';

const here = dirname(fileURLToPath(import.meta.url));
// The CLI as a program: src/cli.ts through tsx (the package's own dist may be being rebuilt while tests run).
const cliArgs = ['--import', 'tsx', join(here, 'cli.ts')];

/** A POSIX shell command line as words (plain words and '…' quoting, which is all resumeCommand writes). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /'((?:[^']|'\\'')*)'|(\S+)/g;
  let current = '';
  let last = 0;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    if (m.index > last && current !== '') {
      words.push(current);
      current = '';
    }
    current += m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!;
    last = m.index + m[0].length;
  }
  if (current !== '') words.push(current);
  return words;
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const readJson = async <T>(path: string): Promise<T> => JSON.parse(await readFile(path, 'utf8')) as T;

interface Metrics {
  auroc: number | null;
  aurocCI: { low: number; high: number } | null;
  threshold: number | null;
  thresholdRule: string;
  counts: { images: number; normal: number; anomalous: number };
}

let root: string;
let data: string;
let flat: string;
let tiny: string;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
  root = await mkdtemp(join(tmpdir(), 'aeflow-train-test-'));
  data = join(root, 'data');
  // train/ has normals and anomalies and there is no val/test split: the trainer holds some out.
  await writeFolderDataset(data, { train: { normal: 20, anomalous: 6 } });
  flat = join(root, 'flat');
  await writeFolderDataset(flat, { train: { normal: 10, anomalous: 0 }, test: { normal: 4, anomalous: 4 } });
  tiny = join(root, 'tiny.json');
  await writeFile(tiny, JSON.stringify(TINY_SETTINGS));
});

describe('aeflow-train', () => {
  it('trains, holds out an honest split, scores it and writes the run folder', async () => {
    const out = join(root, 'run-a');
    const r = await run(['--data', data, '--config', tiny, '--holdout', '5', '--out', out, '--backend', 'wasm', '--no-cache', '--quiet']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^trained 2 epochs in .*; held-out AUROC \d\.\d{4} \[[^\]]+\] on .*held-out test, AP /);
    for (const f of ['config.json', 'model.safetensors', 'checkpoint.safetensors', 'history.jsonl', 'scores.csv', 'metrics.json', 'report.html', 'split.json', 'calibration.json', 'data.json']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const split = await readJson<{ train: { images: number }; validation: { ids: string[] }; final: { ids: string[] } }>(join(out, 'split.json'));
    // --holdout 5, capped at 20 % of the 20 normals: 4 normal + 4 anomalous held out; 16 normals train.
    expect(split.train.images).toBe(16);
    expect(split.validation.ids.length + split.final.ids.length).toBe(8);
    expect(split.validation.ids.length).toBeGreaterThan(0);
    expect(split.validation.ids.filter((id) => split.final.ids.includes(id))).toEqual([]);
    const metrics = await readJson<Metrics>(join(out, 'metrics.json'));
    expect(metrics.counts.images).toBe(split.final.ids.length);
    expect(metrics.thresholdRule).toBe('from-val');
    expect(metrics.threshold).toBe((await readJson<{ threshold: number }>(join(out, 'calibration.json'))).threshold);
    expect(existsSync(join(out, 'threshold.json'))).toBe(false); // β and the threshold are stored once, in calibration.json
    const config = await readJson<{ size: number; train: { epochs: number } }>(join(out, 'config.json'));
    expect(config.size).toBe(32);
    const history = (await readFile(join(out, 'history.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { kind: string });
    expect(history.filter((h) => h.kind === 'epoch')).toHaveLength(2);
    expect(existsSync(join(out, 'validation', 'report.html'))).toBe(true);
  });

  it('--beta auto chooses β on the validation part and applies it unchanged to the scored part', async () => {
    const out = join(root, 'run-auto');
    const r = await run(['--data', data, '--config', tiny, '--holdout', '5', '--beta', 'auto', '--out', out, '--no-cache', '--json']);
    expect(r.code).toBe(0);
    const config = await readJson<{ score: { beta: unknown } }>(join(out, 'config.json'));
    expect(config.score.beta).toBe('auto');
    const history = (await readFile(join(out, 'history.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { kind: string; best?: boolean; validation?: { beta?: number } });
    const best = history.filter((h) => h.kind === 'epoch' && h.best).at(-1)!;
    const chosen = best.validation!.beta!;
    expect(Math.round(chosen * 20)).toBeCloseTo(chosen * 20, 9); // on the grid 0, 0.05, …, 1
    const metrics = await readJson<Metrics & { beta: number; betaRule: string }>(join(out, 'metrics.json'));
    expect(metrics).toMatchObject({ beta: chosen, betaRule: 'auto', thresholdRule: 'from-val' });
    expect(await readJson(join(out, 'calibration.json'))).toMatchObject({ beta: chosen, betaRule: 'auto', thresholdRule: 'best-f1', fittedOn: { scores: 'validation/scores.csv' } });
    const done = JSON.parse(r.out.trim().split('\n').at(-1)!) as { beta: number; betaRule: string };
    expect(done).toMatchObject({ beta: chosen, betaRule: 'auto' });
    const csv = (await readFile(join(out, 'scores.csv'), 'utf8')).trim().split('\n').slice(1);
    for (const line of csv) {
      const [, , flow, recon, total] = line.split(',').map(Number);
      expect(total).toBeCloseTo(chosen * flow! + (1 - chosen) * recon!, 5);
    }
    const bad = await run(['--data', data, '--beta', 'most', '--out', join(root, 'x-beta'), '--quiet']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--beta: "most" is not a number in \[0, 1\] or auto/);
  });

  it('--resume continues a run further; a run folder is never overwritten by a new run', async () => {
    const out = join(root, 'run-b');
    expect((await run(['--data', flat, '--config', tiny, '--set', 'train.epochs=1', '--out', out, '--no-cache', '--quiet'])).code).toBe(0);
    const again = await run(['--data', flat, '--config', tiny, '--out', out, '--quiet']);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already holds a run; continue it with --resume/);
    const mixed = await run(['--data', flat, '--out', out, '--resume', '--set', 'train.lr=1']);
    expect(mixed.code).toBe(2); // options that do not go together: a usage error
    expect(mixed.err).toMatch(/drop --preset, --config, --set and --seed/);
    const resumed = await run(['--data', flat, '--out', out, '--resume', '--epochs', '2', '--no-cache', '--json']);
    expect(resumed.code).toBe(0);
    const lines = resumed.out.split('\n').map((l) => JSON.parse(l) as { event: string; kind?: string; epoch?: number });
    expect(lines.at(-1)).toMatchObject({ event: 'done', epoch: 2 });
    // Only epoch 2 was trained in this process.
    expect(lines.filter((l) => l.event === 'history' && l.kind === 'epoch').map((l) => l.epoch)).toEqual([2]);
    const history = (await readFile(join(out, 'history.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { kind: string; epoch?: number });
    expect(history.filter((h) => h.kind === 'epoch').map((h) => h.epoch)).toEqual([1, 2]);
    // flat/ has a test split: validated and scored on it, threshold best-F1 there.
    expect((await readJson<Metrics>(join(out, 'metrics.json'))).counts).toMatchObject({ images: 8, normal: 4, anomalous: 4 });
  });

  it('with a val/ part and no test part: says what was chosen on val/ and adds the cross-validation inside it (text, JSON, metrics.json)', async () => {
    const withVal = join(root, 'with-val');
    await writeFolderDataset(withVal, { train: { normal: 16, anomalous: 0 }, val: { normal: 10, anomalous: 10 } });
    const out = join(root, 'run-val');
    const r = await run(['--data', withVal, '--config', tiny, '--set', 'score.beta=auto', '--out', out, '--no-cache', '--quiet']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/held-out/);
    expect(r.out).toMatch(/; AUROC \d\.\d{4} \[[^\]]+\] on \S*with-val\/val, AP .* — epoch, β and threshold chosen on these images: optimistic; 5-fold cross-validation inside them \(threshold and β chosen on 1\/5, measured on the rest; the epoch still chosen on all\): AUROC \d\.\d{3} ± \d\.\d{3}, sensitivity .*, specificity /);
    const metrics = await readJson<Metrics & { chosenOnTheseImages: string[]; crossValidation: { k: number; chooseBeta: boolean; images: number } }>(join(out, 'metrics.json'));
    expect(metrics.chosenOnTheseImages).toEqual(['epoch', 'beta', 'threshold']);
    expect(metrics.crossValidation).toMatchObject({ k: 5, chooseBeta: true, images: 20 });
    const json = await run(['--data', withVal, '--config', tiny, '--set', 'score.beta=auto', '--out', join(root, 'run-val-json'), '--no-cache', '--json']);
    const done = JSON.parse(json.out.trim().split('\n').at(-1)!) as { chosenOnTheseImages: string[]; crossValidation: { k: number; mean: { auroc: number } } };
    expect(done.chosenOnTheseImages).toEqual(['epoch', 'beta', 'threshold']);
    expect(done.crossValidation.k).toBe(5);
    expect(done.crossValidation.mean.auroc).toBeGreaterThanOrEqual(0);
  });

  it('with normals only, validates by loss and flags the top 5 % of held-out normal scores', async () => {
    const normals = join(root, 'normals');
    await writeFolderDataset(normals, { train: { normal: 30, anomalous: 0 } });
    const out = join(root, 'run-normals');
    const r = await run(['--data', normals, '--config', tiny, '--set', 'train.epochs=1', '--holdout', '6', '--out', out, '--no-cache', '--quiet']);
    expect(r.code).toBe(0);
    const metrics = await readJson<Metrics & { counts: { predictedAnomalous: number } }>(join(out, 'metrics.json'));
    expect(metrics.auroc).toBeNull();
    expect(metrics).toMatchObject({ thresholdRule: 'normal-quantile', thresholdQuantile: 0.95 });
    expect(metrics.counts).toMatchObject({ images: 6, normal: 6, anomalous: 0 });
    // stored as the run's calibration, so later scoring of unlabelled images has a threshold
    expect(await readJson(join(out, 'calibration.json'))).toMatchObject({ thresholdRule: 'normal-quantile', quantile: 0.95, threshold: metrics.threshold, fittedOn: { images: 6, normal: 6 } });
    expect(metrics.counts.predictedAnomalous).toBeLessThanOrEqual(1);
    // the threshold was taken from these normals' scores: said, not hidden
    expect((metrics as Metrics & { chosenOnTheseImages?: string[] }).chosenOnTheseImages).toEqual(['threshold']);
  });

  it('rejects bad settings naming the key and the allowed values', async () => {
    const unknown = await run(['--data', flat, '--set', 'flow.depth=3', '--out', join(root, 'x1')]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/unknown key "depth" in flow; allowed: blocks, subnet, hiddenChannels, clamp, clampMode, permutation/);
    const wrong = await run(['--data', flat, '--set', 'train.batchSize=many', '--out', join(root, 'x2')]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/train\.batchSize/);
    const preset = await run(['--data', flat, '--preset', 'huge', '--out', join(root, 'x3')]);
    expect(preset.code).toBe(2);
    expect(preset.err).toMatch(/Allowed choices are cpu, paper/);
    const missing = await run(['--data', join(root, 'nowhere'), '--config', tiny, '--out', join(root, 'x4'), '--quiet']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nowhere/);
    expect(missing.err).not.toMatch(/\n\s+at /);
    expect((await run(['--help'])).out).toMatch(/Examples:[\s\S]*--resume/);
  });

  it('--help names every setting of config.json and every model kind', async () => {
    const help = (await run(['--help'])).out;
    const settings = help.slice(help.indexOf('Settings'));
    for (const [section, field] of Object.entries(runConfigSchema.shape)) {
      expect(settings, section).toMatch(new RegExp(`\\b${section}\\b`));
      const object = (field as { unwrap?: () => unknown }).unwrap?.() ?? field;
      const shape = (object as { shape?: Record<string, unknown> }).shape;
      for (const key of Object.keys(shape ?? {})) expect(settings, `${section}.${key}`).toMatch(new RegExp(`\\b${key}\\b`));
    }
    for (const kind of MODEL_KINDS) expect(settings).toContain(kind);
  });

  it('stops at a malformed training file with its path; --skip-invalid lists it and trains on the rest', async () => {
    const bad = join(root, 'bad');
    await writeFolderDataset(bad, { train: { normal: 8, anomalous: 0 }, test: { normal: 2, anomalous: 2 } });
    await writeFile(join(bad, 'train', 'NORMAL', 'broken file.png'), Buffer.from('\x89PNG\r\n\x1a\n-not-really', 'latin1'));
    const stopped = await run(['--data', bad, '--config', tiny, '--set', 'train.epochs=1', '--out', join(root, 'bad-run'), '--no-cache', '--quiet']);
    expect(stopped.code).toBe(1);
    expect(stopped.err).toMatch(/broken file\.png: /);
    expect(stopped.err).not.toMatch(/\n\s+at /);
    // one more in the test split (validation + final scoring); no pre-scan: the model skips them as it loads
    await writeFile(join(bad, 'test', 'PNEUMONIA', 'cut.png'), Buffer.from('\x89PNG\r\n\x1a\n\0\0\0\rIHDR', 'latin1'));
    for (const featureCache of [true, false]) {
      const out = join(root, `bad-run-skip-${featureCache}`);
      const r = await run(['--data', bad, '--config', tiny, '--set', 'train.epochs=1', '--set', `train.featureCache=${featureCache}`, '--out', out, '--no-cache', '--skip-invalid']);
      expect(r.code).toBe(0);
      expect(r.err).toMatch(/skipped .*broken file\.png: /);
      expect(r.err).toMatch(/skipped .*cut\.png: /);
      expect(r.err.match(/skipped .*cut\.png: /g)).toHaveLength(1);
      const skipped = await readJson<{ count: number; skipped: { path: string; reason: string }[] }>(join(out, 'skipped.json'));
      expect(skipped.count).toBe(2);
      expect(skipped.skipped.map((k) => k.path.split('/').pop()).sort()).toEqual(['broken file.png', 'cut.png']);
      const scores = (await readFile(join(out, 'scores.csv'), 'utf8')).trim().split('\n');
      expect(scores).toHaveLength(1 + 4); // the 4 valid test images
    }
  });

  it('--version, and failures: usage 2, data/run 1, paths in words before the backend, a JSON line with --json', async () => {
    const version = (JSON.parse(await readFile(join(here, '..', 'package.json'), 'utf8')) as { version: string }).version;
    const v = await run(['--version']);
    expect([v.code, v.out]).toEqual([0, version]);
    const usage = await run(['--data', flat, '--json']);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.out.trim().split('\n').at(-1)!)).toEqual({ event: 'error', exitCode: 2, error: 'missing --out (see --help)' });
    const unknown = await run(['--bogus', '--json']);
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.out)).toMatchObject({ event: 'error', exitCode: 2, error: expect.stringMatching(/unknown option '--bogus'/) as unknown });
    const aFile = join(root, 'a-file');
    await writeFile(aFile, 'not a folder');
    const cases: [string[], RegExp][] = [
      [['--data', join(root, 'nowhere'), '--out', join(root, 'x-nowhere')], /--data .*nowhere: no such dataset folder \(check the path\)/],
      [['--data', aFile, '--out', join(root, 'x-file')], /--data .*a-file: is a file; give the dataset folder/],
      [['--data', flat, '--out', aFile], /--out .*a-file: is an existing file; give a folder/],
      [['--data', flat, '--out', join(aFile, 'run')], /a-file is a file, so the folder cannot be created there|a part of the path is a file/],
      [['--data', flat, '--out', join(root, 'never-trained'), '--resume'], /--resume: .*never-trained holds no run \(no config\.json\); start one without --resume/],
    ];
    for (const [args, message] of cases) {
      const r = await run([...args, ...(args.includes('--resume') ? [] : ['--config', tiny]), '--no-cache', '--json']);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err).toMatch(message);
      expect(r.err).not.toMatch(/ENOENT|EEXIST|EPERM|EACCES|ENOTDIR|\n\s+at /);
      const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; exitCode?: number });
      // reported before the backend was chosen (its event is the first thing after the checks)
      expect(lines.map((l) => l.event)).toEqual(['error']);
      expect(lines[0]!.exitCode).toBe(1);
    }
  });

  it('bench prints one JSON line last with the benchmark keys', async () => {
    const r = await run(['bench', '--encoder', 'resnet18', '--random-weights', '--size', '32', '--batch', '2', '--steps', '1', '--set', 'flow.blocks=1', '--set', 'flow.hiddenChannels=8', '--quiet', '--backend', 'wasm', '--score-threads', '1']);
    expect(r.code).toBe(0);
    const last = JSON.parse(r.out.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(Object.keys(last).slice(0, 5)).toEqual(['backend', 'train_images_per_s', 'train_images_per_s_no_cache', 'score_images_per_s', 'peak_rss_mb']);
    expect(last.backend).toBe('wasm');
    for (const k of ['train_images_per_s', 'train_images_per_s_no_cache', 'score_images_per_s', 'peak_rss_mb', 'score_images_per_s_tfjs']) expect(last[k]).toBeGreaterThan(0);
    // scoring on the default runtime, as aeflow-score runs it (ONNX Runtime loads here); tfjs as the reference
    expect(last.score_runtime).toBe('onnx');
    expect(last.score_runtime_described).toMatch(/^runtime onnx \(onnxruntime-node [\d.]+, providers cpu, 1 threads\); auto: onnxruntime-node loads here$/);
    const tfjs = await run(['bench', '--encoder', 'resnet18', '--random-weights', '--size', '32', '--batch', '2', '--steps', '1', '--set', 'flow.blocks=1', '--set', 'flow.hiddenChannels=8', '--quiet', '--backend', 'wasm', '--runtime', 'tfjs']);
    expect(tfjs.code).toBe(0);
    const t = JSON.parse(tfjs.out.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(t.score_runtime).toBe('tfjs');
    expect(t.score_runtime_described).toMatch(/^runtime tfjs \(backend wasm, \d+ threads?\); asked for$/);
  });

  it('Ctrl-C during a cached epoch stops after the current step and saves it; --resume goes on from the next step', async () => {
    const out = join(root, 'run-int-step');
    const lines: string[] = [];
    const err: string[] = [];
    // 10 normals in batches of 2: 5 steps per epoch, features cached in memory (--no-cache keeps the cache on, unsaved)
    const args = ['--data', flat, '--config', tiny, '--set', 'train.batchSize=2', '--set', 'train.epochs=2', '--out', out, '--no-cache', '--json'];
    const code = await main(args, {
      out: (l) => {
        lines.push(l);
        const e = JSON.parse(l) as { event: string; epoch?: number; batch?: number };
        // what Ctrl-C does: the CLI's SIGINT handler runs (here right after step 2 of epoch 1 is reported)
        if (e.event === 'step' && e.epoch === 1 && e.batch === 2) process.emit('SIGINT');
      },
      err: (l) => err.push(l),
    });
    expect(code).toBe(130);
    const interrupted = lines.map((l) => JSON.parse(l) as { event: string; partialEpoch?: unknown; step?: number }).find((e) => e.event === 'interrupted')!;
    expect(interrupted).toMatchObject({ step: 2, partialEpoch: { epoch: 1, batch: 2, batches: 5 } });
    const steps: number[] = [];
    const resumed = await main(['--data', flat, '--out', out, '--resume', '--no-cache', '--json'], {
      out: (l) => {
        const e = JSON.parse(l) as { event: string; step?: number };
        if (e.event === 'step') steps.push(e.step!);
      },
      err: () => undefined,
    });
    expect(resumed).toBe(0);
    expect(steps).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('Ctrl-C stops cleanly with the last checkpoint kept, and --resume finishes the run', async () => {
    const out = join(root, 'run-int');
    const args = [...cliArgs, '--data', flat, '--config', tiny, '--set', 'train.epochs=40', '--out', out, '--no-cache', '--backend', 'wasm'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: join(here, '..') });
    let stderr = '';
    const code = await new Promise<number | null>((resolve) => {
      const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        // After the first epoch is saved, interrupt as a user would.
        if (/epoch 1\/40/.test(stderr) && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => {
        clearTimeout(killer);
        resolve(c);
      });
    });
    expect(code).toBe(130);
    // the steps of the interrupted epoch are saved when the signal came after one of them
    expect(stderr).toMatch(/interrupted during epoch \d+; the checkpoint of epoch \d+(, with the first \d+ of \d+ steps of epoch \d+ \(--resume continues at step \d+\),)? is in .*Continue with: aeflow-train .*--resume/);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(true);
    const resumed = await run(['--data', flat, '--out', out, '--resume', '--epochs', '3', '--no-cache', '--quiet']);
    expect(resumed.code).toBe(0);
    expect(resumed.out).toMatch(/^trained 3 epochs/);
  });

  it('the hint printed after Ctrl-C is a command that works as printed (issue 18, defect 6)', async () => {
    const data2 = join(root, 'hint data');
    await writeFolderDataset(data2, { train: { normal: 10, anomalous: 0 }, test: { normal: 2, anomalous: 2 } });
    const out = join(root, 'run hint');
    const err: string[] = [];
    // not the default dataset kind, --normal, --holdout, and a space in the paths: the run must reopen all that
    const args = ['--data', data2, '--dataset', 'miic', '--normal', 'NORMAL', '--holdout', '3', '--config', tiny, '--set', 'train.epochs=2', '--out', out, '--no-cache', '--backend', 'wasm'];
    const code = await main(args, {
      out: () => undefined,
      err: (l) => {
        err.push(l);
        if (/^epoch 1\/2:/.test(l)) process.emit('SIGINT');
      },
    });
    expect(code).toBe(130);
    const hint = /Continue with: (.*)$/m.exec(err.join('\n'))![1]!;
    const words = shellWords(hint);
    expect(words[0]).toBe('aeflow-train');
    // the run stored its data options (data.json): --out is enough, and the runtime options are kept
    expect(words).not.toContain('--data');
    expect(words.slice(-3)).toEqual(['--resume', '--out', out]);
    expect(words).toEqual(expect.arrayContaining(['--no-cache', '--backend', 'wasm']));
    const stored = JSON.parse(await readFile(join(out, 'data.json'), 'utf8')) as { source: Record<string, unknown> };
    expect(stored.source).toMatchObject({ data: data2, dataset: 'miic', normalClasses: ['NORMAL'], holdout: 3, skipInvalid: false, seed: 3 });
    const out2: string[] = [];
    const resumed = await main(words.slice(1), { out: (l) => out2.push(l), err: () => undefined });
    expect(resumed).toBe(0);
    expect(out2.join('\n')).toMatch(/^trained 2 epochs/);
  });
});
