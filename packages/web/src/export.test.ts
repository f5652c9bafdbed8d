import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { mobilenetShards } from '@aeflow/backbone';
import { resolveConfig } from '@aeflow/model';
import { exportWebFolder, readWebManifest } from './export.js';

const HOME = process.env.AEFLOW_HOME;
const NEEDS_HOME = '(needs AEFLOW_HOME: the pretrained MobileNet in its asset cache)';
let dir: string;
let page: string;

async function makeRun(name: string, overrides: object, files: { weights?: boolean; calibration?: string } = {}): Promise<string> {
  const run = join(dir, name);
  await mkdir(run, { recursive: true });
  // the weights' own BatchNorm statistics unless a test asks otherwise (the cpu preset re-estimates them: its runs hold encoder-batchnorm.safetensors)
  const encoder = { batchNorm: 'pretrained', ...(overrides as { encoder?: object }).encoder };
  await writeFile(join(run, 'config.json'), JSON.stringify(resolveConfig({ ...overrides, encoder }), null, 2));
  if (files.weights ?? true) await writeFile(join(run, 'model.safetensors'), new Uint8Array([1, 2, 3, 4, 5]));
  if (files.calibration) await writeFile(join(run, 'calibration.json'), files.calibration);
  return run;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aeflow-web-export-'));
  page = join(dir, 'page');
  await mkdir(join(page, 'assets'), { recursive: true });
  await writeFile(join(page, 'index.html'), '<!doctype html><title>page</title>');
  await writeFile(join(page, 'assets', 'main.js'), 'console.log(1)');
});

describe('exportWebFolder', () => {
  it('writes the page at the root and the run with its manifest under run/', async () => {
    const calibration = { beta: 1, betaRule: 'auto', threshold: -0.25, thresholdRule: 'best-f1', fittedOn: { split: 'chest-xray/val', images: 16, normal: 8, anomalous: 8 }, date: '2026-12-06T13:00:00.000Z' };
    const run = await makeRun('chest', { encoder: { weights: 'random' } }, { calibration: JSON.stringify(calibration) });
    const out = join(dir, 'site');
    const result = await exportWebFolder({ run, out, page });
    expect((await readdir(out)).sort()).toEqual(['assets', 'index.html', 'run']);
    expect((await readdir(join(out, 'run'))).sort()).toEqual(['calibration.json', 'config.json', 'encoder', 'manifest.json', 'model.safetensors']);
    const manifest = await readWebManifest(out);
    expect(manifest).toEqual(result.manifest);
    expect(manifest.name).toBe('chest');
    expect(manifest.weights).toEqual({ path: 'model.safetensors', bytes: 5 });
    expect(manifest.calibration?.path).toBe('calibration.json');
    expect(JSON.parse(await readFile(join(out, 'run', 'calibration.json'), 'utf8'))).toEqual(calibration);
    expect(manifest.encoder.files).toEqual([]); // seeded random weights are made again from the seed
    expect(await readFile(join(out, 'run', 'config.json'), 'utf8')).toBe(await readFile(join(run, 'config.json'), 'utf8'));
    expect(result.files).toBe(6); // index.html, assets/main.js, config, weights, calibration, manifest
    // nothing left beside it
    expect((await readdir(dir)).sort()).toEqual(['chest', 'page', 'site']);
  });

  it.skipIf(!HOME)(`carries the pretrained MobileNet's model.json and only the shards its tap reads, and no calibration when the run has none ${NEEDS_HOME}`, async () => {
    const run = await makeRun('mn', {});
    const tap = resolveConfig({}).encoder.tap;
    const home = join(dir, 'home');
    const assets = join(home, 'assets', 'mobilenet_v1_1.0_224');
    await mkdir(assets, { recursive: true });
    const from = join(HOME!, 'assets', 'mobilenet_v1_1.0_224');
    const all = (await readdir(from)).filter((f) => f !== 'model.json');
    await copyFile(join(from, 'model.json'), join(assets, 'model.json'));
    for (const f of all) await copyFile(join(from, f), join(assets, f));
    await writeFile(join(assets, 'README.txt'), 'not a weight file');
    const needed = mobilenetShards(await readFile(join(from, 'model.json')), [tap]);
    const { manifest, bytes } = await exportWebFolder({ run, out: join(dir, 'site'), page, assetHome: home });
    expect(manifest.calibration).toBeNull();
    expect(manifest.encoder.files.map((f) => f.path)).toEqual(['encoder/model.json', ...needed.map((n) => `encoder/${n}`)]);
    expect(needed.length).toBeLessThan(all.length); // the head's shards stay behind
    expect((await readdir(join(dir, 'site', 'run', 'encoder'))).sort()).toEqual(['model.json', ...needed].sort());
    for (const f of manifest.encoder.files) expect(f.bytes).toBe((await stat(join(from, f.path.slice('encoder/'.length)))).size);
    const everything = (await Promise.all([...all, 'model.json'].map(async (f) => (await stat(join(from, f))).size))).reduce((x, y) => x + y, 0);
    console.log(`export: the ${tap} encoder ships ${manifest.encoder.files.reduce((x, f) => x + f.bytes, 0)} of the asset's ${everything} bytes; ${bytes} bytes in all`);
    // a shard the tap needs, missing from the cache: named, with the fix; nothing written
    await rm(join(assets, needed.at(-1)!));
    await expect(exportWebFolder({ run, out: join(dir, 'site2'), page, assetHome: home })).rejects.toThrow(new RegExp(`${needed.at(-1)!}: missing \\(a weight shard the tap ${tap} needs\\); set AEFLOW_HOME`));
    expect((await readdir(dir)).filter((f) => f.startsWith('.') || f === 'site2')).toEqual([]);
  });

  it("carries encoder-batchnorm.safetensors for a run whose encoder's BatchNorm was re-estimated, and names it when it is missing", async () => {
    const run = await makeRun('bn', { encoder: { weights: 'random', batchNorm: 'train-normals' } });
    await expect(exportWebFolder({ run, out: join(dir, 'site'), page })).rejects.toThrow(/encoder-batchnorm\.safetensors: missing; the run's config\.json has encoder\.batchNorm "train-normals"/);
    await writeFile(join(run, 'encoder-batchnorm.safetensors'), new Uint8Array([9, 8, 7]));
    const { manifest } = await exportWebFolder({ run, out: join(dir, 'site'), page });
    expect(manifest.encoderBatchNorm).toEqual({ path: 'encoder-batchnorm.safetensors', bytes: 3 });
    expect(new Uint8Array(await readFile(join(dir, 'site', 'run', 'encoder-batchnorm.safetensors')))).toEqual(new Uint8Array([9, 8, 7]));
    const plain = await makeRun('plain', { encoder: { weights: 'random' } });
    expect((await exportWebFolder({ run: plain, out: join(dir, 'site-plain'), page })).manifest.encoderBatchNorm).toBeNull();
  });

  it("migrates a previous release's threshold.json into calibration.json", async () => {
    const run = await makeRun('old', { encoder: { weights: 'random' } });
    await writeFile(join(run, 'threshold.json'), JSON.stringify({ threshold: 0.5, rule: 'best-f1', split: 'chest-xray/val', beta: 0.9, images: 20 }));
    const out = join(dir, 'site');
    await exportWebFolder({ run, out, page });
    const written = JSON.parse(await readFile(join(out, 'run', 'calibration.json'), 'utf8')) as Record<string, unknown>;
    expect(written).toMatchObject({ beta: 0.9, threshold: 0.5, thresholdRule: 'best-f1', fittedOn: { split: 'chest-xray/val', images: 20 }, migratedFrom: 'threshold.json' });
  });

  it('refuses a non-empty folder unless it is an earlier export and overwrite is asked for', async () => {
    const run = await makeRun('r', { encoder: { weights: 'random' } });
    const out = join(dir, 'site');
    await mkdir(out);
    await writeFile(join(out, 'thesis.docx'), 'precious');
    await expect(exportWebFolder({ run, out, page })).rejects.toThrow(/site: the folder is not empty; name a new folder/);
    await expect(exportWebFolder({ run, out, page, overwrite: true })).rejects.toThrow(/not an earlier web export .*refusing to replace it/);
    expect(await readFile(join(out, 'thesis.docx'), 'utf8')).toBe('precious');
    const again = join(dir, 'again');
    await exportWebFolder({ run, out: again, page });
    await expect(exportWebFolder({ run, out: again, page })).rejects.toThrow(/not empty/);
    await exportWebFolder({ run, out: again, page, overwrite: true });
    expect((await readWebManifest(again)).name).toBe('r');
    expect((await readdir(dir)).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('names the file and the fix for a run it cannot export', async () => {
    await expect(exportWebFolder({ run: join(dir, 'nope'), out: join(dir, 'o1'), page })).rejects.toThrow(/--run .*nope: no such folder/);
    const noWeights = await makeRun('untrained', { encoder: { weights: 'random' } }, { weights: false });
    await expect(exportWebFolder({ run: noWeights, out: join(dir, 'o2'), page })).rejects.toThrow(/model\.safetensors: missing; the run has no trained weights/);
    const wide = await makeRun('wide', { preset: 'paper' });
    await expect(exportWebFolder({ run: wide, out: join(dir, 'o3'), page })).rejects.toThrow(/MobileNet V1 only/);
    const run = await makeRun('ok', { encoder: { weights: 'random' } });
    await expect(exportWebFolder({ run, out: join(dir, 'no', 'parent'), page })).rejects.toThrow(/parent folder .* does not exist/);
    await expect(exportWebFolder({ run, out: join(run, 'web'), page })).rejects.toThrow(/inside the run folder/);
    await expect(exportWebFolder({ run, out: join(dir, 'o4'), page: join(dir, 'nopage') })).rejects.toThrow(/the web page is not built/);
    expect((await readdir(dir)).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});
