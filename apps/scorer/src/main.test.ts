import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { folderDataset } from '@aeflow/datasets/node';
import { trainRun } from '@aeflow/model/node';
import { OnnxScorer, readOnnxMetadata } from '@aeflow/onnx/node';
import { initBackend } from '@aeflow/tensor/node';
import { TINY_CONFIG, writeFolderDataset, writeUnusualImages } from './fixtures.test-helpers.js';
import type { ScoreMetrics } from '@aeflow/eval';
import { main } from './main.js';

const readJson = async <T = ScoreMetrics>(path: string): Promise<T> => JSON.parse(await readFile(path, 'utf8')) as T;

const here = dirname(fileURLToPath(import.meta.url));
const appDir = join(here, '..');
/**
 * The CLI as a program: src/cli.ts through tsx (the package's own dist may be being rebuilt while
 * tests run: turbo builds dependencies, not the package itself, before its tests).
 */
const cliArgs = ['--import', 'tsx', join(here, 'cli.ts')];

interface Captured {
  code: number;
  out: string;
  err: string;
}

async function run(args: string[]): Promise<Captured> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

let root: string;
let data: string;
let runDir: string;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
  root = await mkdtemp(join(tmpdir(), 'aeflow-score-test-'));
  data = join(root, 'data');
  runDir = join(root, 'run');
  await writeFolderDataset(data, { train: 12, testNormal: 6, testAnomalous: 6 });
  const train = await folderDataset(data, { split: 'train', normalClasses: ['NORMAL'] });
  await trainRun({ runDir, config: { ...TINY_CONFIG, train: { ...TINY_CONFIG.train, epochs: 1 } }, train: { dataset: train }, cacheDir: null });
});

describe('aeflow-score', () => {
  it('scores a split and writes scores.csv, metrics.json with the fixed keys, maps and report.html', async () => {
    const out = join(root, 'out-basic');
    const r = await run(['--run', runDir, '--data', data, '--split', 'test', '--maps', '2', '--out', out, '--backend', 'wasm', '--quiet']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/scored 12 images: AUROC \d/);
    const metrics = (await readJson(join(out, 'metrics.json')));
    for (const k of ['auroc', 'aurocCI', 'ap', 'threshold', 'f1', 'accuracy', 'sensitivity', 'specificity', 'counts']) expect(metrics).toHaveProperty(k);
    expect(Object.keys(metrics.aurocCI!)).toEqual(['low', 'high']);
    expect(metrics.counts).toMatchObject({ images: 12, normal: 6, anomalous: 6 });
    expect(metrics.thresholdRule).toBe('best-f1'); // the run has no validation threshold
    const csv = (await readFile(join(out, 'scores.csv'), 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('id,label,flow_density,neg_ssim,total,predicted'); // the parts named for what they hold
    expect(csv).toHaveLength(13);
    const first = csv[1]!.split(',');
    expect(first[0]).toMatch(/^test\/(NORMAL|PNEUMONIA)\/img_\d+\.png$/);
    expect(Number(first[4])).toBeCloseTo(0.9 * Number(first[2]) + 0.1 * Number(first[3]), 5);
    const maps = await readdir(join(out, 'maps'));
    expect(maps.filter((m) => m.endsWith('.residual.png'))).toHaveLength(2);
    expect(maps.filter((m) => m.endsWith('.heatmap.png'))).toHaveLength(2);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<h2>Training curves</h2>');
    expect(html).not.toContain('No training history');
  });

  it('--runtime onnx and --runtime tfjs: the same scores.csv and metrics (1e-4 relative) and maps; the start-up line says which runtime and why', async () => {
    const table = async (dir: string) => (await readFile(join(dir, 'scores.csv'), 'utf8')).trim().split('\n').slice(1).map((l) => l.split(','));
    const outs = { onnx: join(root, 'out-runtime-onnx'), tfjs: join(root, 'out-runtime-tfjs') };
    const described: Record<string, string> = {};
    for (const runtime of ['onnx', 'tfjs'] as const) {
      const r = await run(['--run', runDir, '--data', data, '--split', 'test', '--maps', '3', '--threshold', 'best-f1', '--out', outs[runtime], '--backend', 'wasm', '--runtime', runtime, '--json']);
      expect(r.code, r.err).toBe(0);
      const event = r.out.split('\n').map((l) => JSON.parse(l) as { event: string; runtime?: string; described?: string }).find((e) => e.event === 'runtime');
      expect(event?.runtime).toBe(runtime);
      described[runtime] = event!.described!;
    }
    expect(described.onnx).toMatch(/^runtime onnx \(onnxruntime-node [\d.]+, providers cpu, default threads\); asked for$/);
    expect(described.tfjs).toMatch(/^runtime tfjs \(backend wasm, \d+ threads?\); asked for$/);
    const [viaOnnx, viaTfjs] = [await table(outs.onnx), await table(outs.tfjs)];
    expect(viaOnnx).toHaveLength(12);
    expect(viaOnnx.map((r) => r[0])).toEqual(viaTfjs.map((r) => r[0]));
    viaOnnx.forEach((row, i) => {
      for (const c of [2, 3, 4]) expect(Math.abs(Number(row[c]) - Number(viaTfjs[i]![c])), `${row[0]} column ${c}`).toBeLessThanOrEqual(1e-4 * Math.abs(Number(viaTfjs[i]![c])) + 1e-7);
      expect(row[5]).toBe(viaTfjs[i]![5]); // the predicted label
    });
    const [mOnnx, mTfjs] = [await readJson(join(outs.onnx, 'metrics.json')), await readJson(join(outs.tfjs, 'metrics.json'))];
    for (const k of ['auroc', 'ap', 'f1', 'accuracy', 'sensitivity', 'specificity', 'threshold'] as const) {
      expect(Math.abs(mOnnx[k]! - mTfjs[k]!), k).toBeLessThanOrEqual(1e-4 * Math.abs(mTfjs[k]!) + 1e-7);
    }
    // the same images get maps (the same ranking), and both runtimes draw them
    expect((await readdir(join(outs.onnx, 'maps'))).sort()).toEqual((await readdir(join(outs.tfjs, 'maps'))).sort());
    expect((await readdir(join(outs.onnx, 'maps'))).filter((m) => m.endsWith('.heatmap.png'))).toHaveLength(3);
    // default: auto, ONNX Runtime here (it loads); the line goes to stderr before scoring
    const human = await run(['--run', runDir, '--data', data, '--split', 'test', '--out', join(root, 'out-runtime-auto'), '--backend', 'wasm']);
    expect(human.code).toBe(0);
    expect(human.err).toMatch(/^aeflow-score: runtime onnx \(onnxruntime-node [\d.]+, providers cpu, default threads\); auto: onnxruntime-node loads here$/m);
    const bad = await run(['--run', runDir, '--data', data, '--out', join(root, 'o-rt'), '--runtime', 'gpu']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--runtime.*'gpu' is invalid.*auto, onnx, tfjs/);
  });

  it('scores a knn run: the kNN distance is the total, maps are its per-position shares, the report shows one part', async () => {
    const knnRun = join(root, 'run-knn');
    const train = await folderDataset(data, { split: 'train', normalClasses: ['NORMAL'] });
    await trainRun({ runDir: knnRun, config: { ...TINY_CONFIG, model: 'knn', knn: { k: 3 } }, train: { dataset: train }, cacheDir: null });
    const out = join(root, 'out-knn');
    const r = await run(['--run', knnRun, '--data', data, '--split', 'test', '--maps', '2', '--out', out, '--quiet']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const [header, ...csv] = (await readFile(join(out, 'scores.csv'), 'utf8')).trim().split('\n').map((l) => l.split(','));
    // one part, named for what it holds: no reconstruction column
    expect(header).toEqual(['id', 'label', 'feature_knn_distance', 'total', 'predicted']);
    expect(csv).toHaveLength(12);
    for (const [, , distance, total] of csv) {
      expect(Number(total)).toBe(Number(distance));
      expect(Number(total)).toBeGreaterThan(0);
    }
    expect((await readdir(join(out, 'maps'))).filter((m) => m.endsWith('.residual.png'))).toHaveLength(2);
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('nearest normal images');
    expect(html).not.toContain('<h2>β sweep</h2>');
  });

  it('--beta recombines the stored parts; --json prints JSON lines ending with the result', async () => {
    const out = join(root, 'out-beta');
    const r = await run(['--run', runDir, '--data', data, '--split', 'test', '--beta', '0', '--threshold', 'best-f1', '--out', out, '--json']);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n').map((l) => JSON.parse(l) as { event: string });
    expect(lines.at(-1)!.event).toBe('done');
    const csv = (await readFile(join(out, 'scores.csv'), 'utf8')).trim().split('\n').slice(1);
    for (const line of csv) {
      const [, , , recon, total] = line.split(',');
      expect(Number(total)).toBe(Number(recon));
    }
    expect((await readJson(join(out, 'metrics.json'))).beta).toBe(0);
  });

  it('--beta auto chooses β (and the threshold) on the run\'s validation scores, never on the scored images', async () => {
    // a run with a fixed β and no validation scores: nothing honest to choose on
    const none = await run(['--run', runDir, '--data', data, '--split', 'test', '--beta', 'auto', '--out', join(root, 'out-auto-none'), '--quiet']);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/--beta auto: the run has a fixed β \(0\.9\) and no validation scores/);
    // a copy of the run with validation scores where the flow part separates the classes and recon is noise
    const auto = join(root, 'run-auto');
    await mkdir(join(auto, 'validation'), { recursive: true });
    for (const f of ['config.json', 'model.safetensors']) await copyFile(join(runDir, f), join(auto, f));
    const lines = ['id,label,flow,recon,total,predicted'];
    for (let i = 0; i < 20; i++) {
      const label = i % 2;
      const flow = label + 0.1 * Math.sin(i * 7.3);
      const recon = 100 * Math.cos(i * 3.1); // any share of it spoils the ranking
      lines.push(`"v,${i}",${label},${flow},${recon},0,`);
    }
    await writeFile(join(auto, 'validation', 'scores.csv'), lines.join('\n') + '\n');
    const out = join(root, 'out-auto');
    const r = await run(['--run', auto, '--data', data, '--split', 'test', '--beta', 'auto', '--out', out, '--quiet']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const metrics = await readJson(join(out, 'metrics.json'));
    expect(metrics.beta).toBe(1);
    expect(metrics.betaRule).toBe('auto');
    expect(metrics.thresholdRule).toBe('from-val');
    // at β = 1 the validation flow scores are 0 ± 0.1 and 1 ± 0.1: the best-F1 threshold lies between
    expect(metrics.threshold!).toBeGreaterThan(0.1);
    expect(metrics.threshold!).toBeLessThanOrEqual(1.1);
    const csv = (await readFile(join(out, 'scores.csv'), 'utf8')).trim().split('\n').slice(1);
    for (const line of csv) {
      const [, , flow, , total] = line.split(',');
      expect(Number(total)).toBe(Number(flow));
    }
  });

  it('scores unusual but valid files given one by one (labels unknown, threshold given)', async () => {
    const files = await writeUnusualImages(join(root, 'unusual'));
    const out = join(root, 'out-unusual');
    const r = await run(['--run', runDir, '--data', ...files, '--threshold', '-0.5', '--out', out, '--quiet']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const csv = (await readFile(join(out, 'scores.csv'), 'utf8')).trim().split('\n');
    expect(csv).toHaveLength(files.length + 1);
    expect(csv.some((l) => l.includes('Röntgen 肺 scan.PNG'))).toBe(true);
    const metrics = (await readJson(join(out, 'metrics.json')));
    expect(metrics.auroc).toBeNull();
    expect(metrics.counts.unlabeled).toBe(files.length);
  });

  it('stops at a malformed file with its path and reason, no stack trace; --skip-invalid lists it and goes on', async () => {
    const bad = join(root, 'bad');
    await mkdir(join(bad, 'test', 'NORMAL'), { recursive: true });
    await mkdir(join(bad, 'test', 'PNEUMONIA'), { recursive: true });
    for (const f of ['img_0.png', 'img_1.png']) {
      await copyFile(join(data, 'test', 'NORMAL', f), join(bad, 'test', 'NORMAL', f));
      await copyFile(join(data, 'test', 'PNEUMONIA', f), join(bad, 'test', 'PNEUMONIA', f));
    }
    const png = await readFile(join(data, 'test', 'NORMAL', 'img_2.png'));
    await writeFile(join(bad, 'test', 'NORMAL', 'truncated.png'), png.subarray(0, 40));
    await writeFile(join(bad, 'test', 'PNEUMONIA', 'not an image.jpg'), 'hello, I am text');

    const stopped = await run(['--run', runDir, '--data', bad, '--out', join(root, 'out-bad'), '--quiet']);
    expect(stopped.code).toBe(1);
    expect(stopped.err).toMatch(/^aeflow-score: .*(truncated\.png|not an image\.jpg).*: /);
    expect(stopped.err).not.toMatch(/\n\s+at /); // no stack frames
    expect(existsSync(join(root, 'out-bad', 'scores.csv'))).toBe(false);

    const out = join(root, 'out-skip');
    const r = await run(['--run', runDir, '--data', bad, '--skip-invalid', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/skipped .*truncated\.png: /);
    expect(r.err).toMatch(/skipped .*not an image\.jpg: /);
    const skipped = await readJson<{ count: number; skipped: { path: string }[] }>(join(out, 'skipped.json'));
    expect(skipped.count).toBe(2);
    expect(skipped.skipped.map((s) => s.path.split('/').pop()).sort()).toEqual(['not an image.jpg', 'truncated.png']);
    expect((await readFile(join(out, 'scores.csv'), 'utf8')).trim().split('\n')).toHaveLength(5);
    expect(await readFile(join(out, 'report.html'), 'utf8')).toContain('Skipped files (2)');
  });

  it('--ids scores just the images listed (a text file or a split.json)', async () => {
    const list = join(root, 'ids.txt');
    await writeFile(list, '# two of them\ntest/NORMAL/img_1.png\ntest/PNEUMONIA/img_3.png\n');
    const out = join(root, 'out-ids');
    const r = await run(['--run', runDir, '--data', data, '--split', 'test', '--ids', list, '--threshold', '-0.3', '--out', out, '--quiet']);
    expect(r.code).toBe(0);
    const ids = (await readFile(join(out, 'scores.csv'), 'utf8')).trim().split('\n').slice(1).map((l) => l.split(',')[0]);
    expect(ids).toEqual(['test/NORMAL/img_1.png', 'test/PNEUMONIA/img_3.png']);
    const split = join(root, 'split.json');
    await writeFile(split, JSON.stringify({ final: { ids: ['test/PNEUMONIA/img_0.png'] } }));
    expect((await run(['--run', runDir, '--data', data, '--split', 'test', '--ids', split, '--threshold', '0', '--out', join(root, 'out-ids2'), '--quiet'])).code).toBe(0);
    const wrong = await run(['--run', runDir, '--data', data, '--split', 'test', '--ids', split, '--out', join(root, 'out-ids3'), '--quiet', '--dataset', 'folder', '--split', 'train']);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/--ids .*split\.json: 1 of 1 ids are not in /);
  });

  it('--folds K --fold-seed S --fold-beta: the appendix protocol into metrics.json (crossValidation) and report.html, other keys unchanged', async () => {
    const plainOut = join(root, 'out-folds-plain');
    expect((await run(['--run', runDir, '--data', data, '--split', 'test', '--out', plainOut, '--quiet'])).code).toBe(0);
    const plain = await readJson(join(plainOut, 'metrics.json'));
    const out = join(root, 'out-folds');
    const r = await run(['--run', runDir, '--data', data, '--split', 'test', '--folds', '3', '--fold-seed', '2', '--fold-beta', '--out', out, '--backend', 'wasm', '--quiet']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/cross-validation \(3 folds, seed 2, β per fold: [\d.]+ ± [\d.]+\): AUROC \d/);
    const metrics = await readJson(join(out, 'metrics.json'));
    const { crossValidation: cv, ...rest } = metrics;
    // every existing key as without --folds (same run, same images; the scores are deterministic)
    expect(Object.keys(rest)).toEqual(Object.keys(plain));
    expect(rest.auroc).toBeCloseTo(plain.auroc!, 6);
    expect(rest.threshold).toBeCloseTo(plain.threshold!, 6);
    expect(cv).toBeDefined();
    expect(cv).toMatchObject({ k: 3, seed: 2, chooseBeta: true, images: 12 });
    expect(cv!.folds).toHaveLength(3);
    // 6 normal + 6 anomalous in 3 stratified folds: 2 + 2 validate, 4 + 4 are tested, each time
    for (const f of cv!.folds) {
      expect(f.val).toEqual({ normal: 2, anomalous: 2 });
      expect(f.test).toEqual({ normal: 4, anomalous: 4 });
      expect(f.beta! * 20).toBeCloseTo(Math.round(f.beta! * 20), 9);
    }
    for (const k of ['auroc', 'ap', 'f1', 'accuracy', 'sensitivity', 'specificity', 'beta'] as const) {
      const xs = cv!.folds.map((f) => f[k]!);
      expect(cv!.mean[k]).toBeCloseTo(xs.reduce((a, b) => a + b, 0) / 3, 12);
    }
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<h2>Cross-validation (3 folds)</h2>');
    expect(html).toContain('mean ± std');
    // without --fold-beta: the scoring β in every fold
    const fixed = join(root, 'out-folds-fixed');
    expect((await run(['--run', runDir, '--data', data, '--split', 'test', '--folds', '2', '--out', fixed, '--quiet'])).code).toBe(0);
    const cvFixed = (await readJson(join(fixed, 'metrics.json'))).crossValidation!;
    expect(cvFixed).toMatchObject({ k: 2, seed: 0, chooseBeta: false });
    expect(cvFixed.folds.map((f) => f.beta)).toEqual([0.9, 0.9]);
  });

  it('--folds explains data it cannot cross-validate (one class, too few per fold) and bad values', async () => {
    const few = await run(['--run', runDir, '--data', data, '--split', 'test', '--folds', '4', '--out', join(root, 'o-folds1'), '--quiet']);
    expect(few.code).toBe(1);
    expect(few.err).toMatch(/--folds 4: a fold would have fewer than 2 normal images \(6 normal, 6 anomalous in 4 folds\); use fewer folds/);
    expect(existsSync(join(root, 'o-folds1'))).toBe(false);
    const oneClass = await run(['--run', runDir, '--data', data, '--split', 'train', '--folds', '2', '--out', join(root, 'o-folds2'), '--quiet']);
    expect(oneClass.code).toBe(1);
    expect(oneClass.err).toMatch(/--folds 2: cross-validation needs labelled normal and anomalous images \(.*12 normal, 0 anomalous/);
    const big = await run(['--run', runDir, '--data', data, '--folds', '21', '--out', join(root, 'o-folds3')]);
    expect(big.code).toBe(2);
    expect(big.err).toMatch(/--folds: "21" is not a whole number from 2 to 20/);
    const seed = await run(['--run', runDir, '--data', data, '--folds', '2', '--fold-seed', '-1', '--out', join(root, 'o-folds3')]);
    expect(seed.code).toBe(2);
    const lone = await run(['--run', runDir, '--data', data, '--fold-beta', '--out', join(root, 'o-folds3')]);
    expect(lone.code).toBe(2);
    expect(lone.err).toMatch(/--fold-beta needs --folds/);
  });

  it('--calibrate refits β and the threshold on a labelled sample of a new site and stores them in the run; later scoring uses them', async () => {
    const calibrated = join(root, 'run-calibrated');
    await mkdir(calibrated);
    for (const f of await readdir(runDir)) if (!f.startsWith('.')) await copyFile(join(runDir, f), join(calibrated, f)).catch(() => undefined);
    const site = join(root, 'site');
    await writeFolderDataset(site, { train: 4, testNormal: 5, testAnomalous: 5, seed: 303 });
    const r = await run(['--run', calibrated, '--calibrate', join(site, 'test'), '--backend', 'wasm', '--quiet']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^calibrated .*: β [\d.]+, threshold -?[\d.e-]+ — threshold by best F1, β = [\d.]+ fitted by AUROC, on test \(10 images: 5 normal, 5 anomalous\)/);
    const calibration = await readJson<{ beta: number; threshold: number; betaRule: string; fittedOn: { scores: string } }>(join(calibrated, 'calibration.json'));
    expect(calibration).toMatchObject({ betaRule: 'fit', fittedOn: { scores: 'calibrations/test/scores.csv' } });
    expect(existsSync(join(calibrated, 'calibrations', 'test', 'report.html'))).toBe(true);
    // scoring after it: the calibration's β and threshold, named in the report
    const out = join(root, 'out-after-calibration');
    const scored = await run(['--run', calibrated, '--data', site, '--split', 'train', '--out', out, '--backend', 'wasm', '--quiet']);
    expect(scored.code).toBe(0);
    expect(await readJson(join(out, 'metrics.json'))).toMatchObject({ threshold: calibration.threshold, thresholdRule: 'from-val', beta: calibration.beta, betaRule: 'fit' });
    expect(await readFile(join(out, 'report.html'), 'utf8')).toContain('The run&#39;s calibration: threshold by best F1');
    expect(scored.out).not.toContain('optimistic'); // train/NORMAL/img_0.png is not the sample's NORMAL/img_0.png
    // the calibration sample itself scored again: its numbers are optimistic, and it says so
    const again = await run(['--run', calibrated, '--data', join(site, 'test'), '--out', join(root, 'out-calibration-again'), '--backend', 'wasm', '--quiet']);
    expect(again.code).toBe(0);
    expect(again.out).toContain('optimistic: the run chose its β, threshold on these images');
    expect(await readJson(join(root, 'out-calibration-again', 'metrics.json'))).toMatchObject({ chosenOnTheseImages: ['beta', 'threshold'] });
    // mistakes: --data with --calibrate, a threshold it cannot fit, an unlabelled sample without a quantile
    expect((await run(['--run', calibrated, '--calibrate', site, '--data', site, '--quiet'])).err).toMatch(/leave out --data/);
    expect((await run(['--run', calibrated, '--calibrate', site, '--threshold', 'from-val', '--quiet'])).err).toMatch(/quantile:<q>/);
    const loose = join(site, 'train', 'NORMAL');
    const files = (await readdir(loose)).map((f) => join(loose, f));
    const unlabelled = await run(['--run', calibrated, '--calibrate', ...files, '--backend', 'wasm', '--quiet']);
    expect(unlabelled.code).toBe(1);
    expect(unlabelled.err).toMatch(/needs labelled normal and anomalous images.*--threshold quantile:0\.95/);
    const quantile = await run(['--run', calibrated, '--calibrate', ...files, '--threshold', 'quantile:0.75', '--out', join(root, 'site-normals'), '--backend', 'wasm', '--quiet']);
    expect(quantile.code).toBe(0);
    expect(quantile.out).toContain('flags ≈ 25 % of a normal population');
    expect(await readJson(join(calibrated, 'calibration.json'))).toMatchObject({ thresholdRule: 'normal-quantile', quantile: 0.75, previous: [{ betaRule: 'fit', thresholdRule: 'best-f1' }] });
  });

  it('explains usage mistakes and bad values', async () => {
    expect((await run(['--help'])).code).toBe(0);
    expect((await run(['--help'])).out).toContain('Examples:');
    const unknown = await run(['--run', runDir, '--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown option '--bogus'/);
    const beta = await run(['--run', runDir, '--data', data, '--out', root, '--beta', '2']);
    expect(beta.code).toBe(2);
    expect(beta.err).toMatch(/--beta: 2 is outside \[0, 1\]/);
    const fromVal = await run(['--run', runDir, '--data', data, '--split', 'test', '--threshold', 'from-val', '--out', join(root, 'o2'), '--quiet']);
    expect(fromVal.code).toBe(1);
    expect(fromVal.err).toMatch(/calibration\.json does not exist/);
    const noRun = await run(['--run', join(root, 'nope'), '--data', data, '--out', join(root, 'o3'), '--quiet']);
    expect(noRun.code).toBe(1);
    expect(noRun.err).toMatch(/nope/);
    expect(noRun.err).not.toMatch(/\n\s+at /);
    const split = await run(['--run', runDir, '--data', data, '--split', 'validation', '--out', join(root, 'o4'), '--quiet']);
    expect(split.code).toBe(1);
    expect(split.err).toMatch(/has no "validation" folder/);
  });

  it('--version, and paths in words before the backend; with --json every failure is a JSON line', async () => {
    const version = (JSON.parse(await readFile(join(appDir, 'package.json'), 'utf8')) as { version: string }).version;
    expect(await run(['--version'])).toEqual({ code: 0, out: version, err: '' });
    const aFile = join(root, 'a-file');
    await writeFile(aFile, 'x');
    const interrupted = join(root, 'half-trained');
    await mkdir(interrupted);
    await writeFile(join(interrupted, 'config.json'), '{}');
    await writeFile(join(interrupted, 'checkpoint.safetensors'), '');
    const cases: [string[], RegExp][] = [
      [['--run', join(root, 'nope'), '--data', data, '--out', join(root, 'p1')], /--run .*nope: no such run folder \(check the path\); give the folder aeflow-train wrote/],
      [['--run', aFile, '--data', data, '--out', join(root, 'p2')], /--run .*a-file: is a file, not a run folder/],
      [['--run', data, '--data', data, '--out', join(root, 'p3')], /--run .*data: holds no trained run \(no config\.json\)/],
      [['--run', interrupted, '--data', data, '--out', join(root, 'p4')], /no model\.safetensors.*aeflow-train --resume --out/],
      [['--run', runDir, '--data', join(root, 'gone'), '--out', join(root, 'p5')], /--data .*gone: no such file or folder \(check the path\)/],
      [['--run', runDir, '--data', data, '--out', aFile], /--out .*a-file: is an existing file; give a folder/],
      [['--run', runDir, '--data', data, '--ids', join(root, 'no-ids.txt'), '--out', join(root, 'p6')], /--ids .*no-ids\.txt: cannot read it \(no such file\)/],
    ];
    for (const [args, message] of cases) {
      const r = await run([...args, '--json']);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err).toMatch(message);
      expect(r.err).not.toMatch(/ENOENT|EEXIST|EPERM|EACCES|ENOTDIR|\n\s+at /);
      const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; exitCode?: number; error?: string });
      if (args.includes('--ids')) expect(lines.map((l) => l.event)).toEqual(['backend', 'error']);
      else expect(lines.map((l) => l.event)).toEqual(['error']); // before the backend was chosen
      expect(lines.at(-1)).toMatchObject({ exitCode: 1, error: expect.stringMatching(message) as unknown });
    }
    const usage = await run(['--run', runDir, '--json']);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.out)).toEqual({ event: 'error', exitCode: 2, error: 'missing --data, --out (see --help)' });
  });

  it('runs as a program: --help, and an error as one line without a stack trace', async () => {
    const exec = promisify(execFile);
    expect((await readFile(join(here, 'cli.ts'), 'utf8')).startsWith('#!/usr/bin/env node\n')).toBe(true);
    const { stdout } = await exec(process.execPath, [...cliArgs, '--help'], { timeout: 60_000, cwd: appDir });
    expect(stdout).toContain('Usage: aeflow-score');
    const failed = await exec(process.execPath, [...cliArgs, '--run', join(root, 'missing'), '--data', data, '--out', join(root, 'o5'), '--quiet', '--backend', 'wasm'], { cwd: appDir }).catch((e: { code: number; stderr: string }) => e);
    expect((failed as { code: number }).code).toBe(1);
    expect((failed as { stderr: string }).stderr).toMatch(/^aeflow-score: /m);
    expect((failed as { stderr: string }).stderr).not.toMatch(/\n\s+at /);
  });
  it('export --onnx writes the run as an ONNX model (atomically) that ONNX Runtime opens; errors name the option', async () => {
    const dir = join(root, 'exported', 'new folder');
    const file = join(dir, 'run.onnx');
    const r = await run(['export', '--run', runDir, '--onnx', file, '--backend', 'wasm']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^aeflow-score: wrote .*run\.onnx \(ONNX, [\d.]+ MiB\): input image \[batch, 1\|3, size, size\] in \[0, 1\]; outputs score, score_flow, score_recon, anomaly_map/);
    expect(await readdir(dir)).toEqual(['run.onnx']); // no temp file left
    const bytes = new Uint8Array(await readFile(file));
    expect(readOnnxMetadata(bytes)['aeflow.run']).toBe(runDir);
    const scorer = await OnnxScorer.create(file, { threads: 1 });
    try {
      expect(scorer.size).toBe(TINY_CONFIG.size);
      expect(scorer.outputNames).toContain('anomaly_map');
    } finally {
      await scorer.dispose();
    }
    const json = await run(['export', '--run', runDir, '--onnx', file, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({ event: 'exported', format: 'onnx', file, bytes: bytes.length });

    const none = await run(['export', '--run', runDir]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/export: name what to write: --onnx <file> and\/or --web <dir>/);
    const noRun = await run(['export', '--onnx', file]);
    expect(noRun.code).toBe(2);
    expect(noRun.err).toMatch(/required option '--run <dir>'/);
    const folder = await run(['export', '--run', runDir, '--onnx', dir]);
    expect(folder.code).toBe(1);
    expect(folder.err).toMatch(/--onnx .*new folder: is an existing folder; give a file name/);
    const notRun = await run(['export', '--run', data, '--onnx', file]);
    expect(notRun.code).toBe(1);
    expect(notRun.err).toMatch(/--run .*data: holds no trained run/);
  });

  it('export --web writes a folder a static server can host (the page + the run); every target is checked before one is written', async () => {
    const site = join(root, 'web export');
    const r = await run(['export', '--run', runDir, '--web', site]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^aeflow-score: wrote .*web export \(web page \+ run, \d+ files, [\d.]+ MiB\): host it with any static file server/);
    expect((await readdir(site)).sort()).toEqual(expect.arrayContaining(['index.html', 'run', 'wasm']));
    const manifest = JSON.parse(await readFile(join(site, 'run', 'manifest.json'), 'utf8')) as { format: string; name: string };
    expect(manifest).toMatchObject({ format: 'aeflow-web-run', name: basename(runDir) });
    expect(await readFile(join(site, 'run', 'config.json'), 'utf8')).toBe(await readFile(join(runDir, 'config.json'), 'utf8'));

    // an earlier export is replaced only when asked
    const again = await run(['export', '--run', runDir, '--web', site]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/--web .*web export: the folder is not empty; .*--overwrite/);
    const json = await run(['export', '--run', runDir, '--web', site, '--overwrite', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({ event: 'exported', format: 'web', folder: site });

    // both targets: the web folder is refused before the ONNX file is written
    const onnx = join(root, 'both', 'run.onnx');
    const both = await run(['export', '--run', runDir, '--onnx', onnx, '--web', site]);
    expect(both.code).toBe(1);
    expect(both.err).toMatch(/the folder is not empty/);
    await expect(readdir(join(root, 'both'))).rejects.toThrow(/ENOENT/);

    const stray = await run(['export', '--run', runDir, '--onnx', onnx, '--overwrite']);
    expect(stray.code).toBe(2);
    expect(stray.err).toMatch(/--overwrite replaces an earlier --web export; give --web <dir>/);
    const noParent = await run(['export', '--run', runDir, '--web', join(root, 'no', 'such', 'site')]);
    expect(noParent.code).toBe(1);
    expect(noParent.err).toMatch(/--web .*site: its parent folder .* does not exist; create it first/);
  });

  it('serve answers on an ephemeral loopback port and stops on SIGINT', async () => {
    const child = spawn(process.execPath, [...cliArgs, 'serve', '--run', runDir, '--port', '0', '--backend', 'wasm', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: appDir });
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let text = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        text += d.toString();
        const m = /serving .* on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (c) => reject(new Error(`exited ${c} before serving`)));
    });
    // the start-up line: the default runtime (auto) and why
    expect(text).toMatch(/^aeflow-score: runtime onnx \(onnxruntime-node [\d.]+, providers cpu, default threads\); auto: onnxruntime-node loads here$/m);
    const health = (await (await fetch(`${url}/health`)).json()) as { status: string; runtime: string };
    expect(health).toMatchObject({ status: 'ok', runtime: 'onnx' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    clearTimeout(killer);
  });
});
