import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { parseScoresCsv } from '@aeflow/model';
import { exportWebFolder, serveFolder, type ServedFolder } from '../src/node.js';
import { launchChromium } from './chromium.js';
import { fixture, skipReason } from './env.js';
import { REPO, trainFixtureRun } from './fixture.js';

const run = promisify(execFile);

interface Scores {
  total: number;
  part1: number | null;
  part2: number | null;
}

/** Relative difference, with a floor so that a part that is ~0 in both is compared absolutely. */
function relDiff(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-3);
}

async function scoreInPage(browser: Browser, url: string, files: string[]): Promise<Map<string, Scores>> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.state === 'ready' || document.body.dataset.state === 'error', undefined, { timeout: 120_000 });
    expect(await page.textContent('#run-status')).toMatch(/^Ready/);
    await page.setInputFiles('#files', files);
    await page.waitForFunction((n) => document.querySelectorAll('#results tbody tr').length === n && document.body.dataset.state === 'ready', files.length, { timeout: 120_000 });
    const rows = await page.$$eval('#results tbody tr', (trs) =>
      trs.map((tr) => {
        const d = (tr as HTMLElement).dataset;
        return { name: d.name!, total: Number(d.total), part1: d.part1 === '' ? null : Number(d.part1), part2: d.part2 === '' ? null : Number(d.part2), backend: document.body.dataset.backend };
      }),
    );
    return new Map(rows.map((r) => [r.name, { total: r.total, part1: r.part1, part2: r.part2 }]));
  } finally {
    await page.close();
  }
}

describe.skipIf(skipReason !== null)(`same numbers in the browser as aeflow-score${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let browser: Browser;
  let server: ServedFolder;
  let files: string[];
  let cli: Map<string, Scores>;

  beforeAll(async () => {
    const fx = fixture();
    files = [...fx.normal, ...fx.pneumonia];
    const dir = await mkdtemp(join(tmpdir(), 'aeflow-web-same-'));
    const { manifest } = await exportWebFolder({ run: fx.run, out: join(dir, 'site') });
    // the cpu preset's pretrained MobileNet travels with the page: model.json and the shards its tap reads
    const config = JSON.parse(await readFile(join(fx.run, 'config.json'), 'utf8')) as { encoder: { arch: string; weights: string } };
    expect(config.encoder).toMatchObject({ arch: 'mobilenet_v1', weights: 'pretrained' });
    expect(manifest.encoder.files.map((f) => f.path)).toContain('encoder/model.json');
    expect(manifest.encoder.files.length).toBeGreaterThan(1);
    server = await serveFolder(join(dir, 'site'), { port: 0 });
    browser = await launchChromium();
    // the CLI as a user runs it, on the same files, on tfjs's wasm in Node: the page's scoring path (the
    // CLI's default runtime may be ONNX Runtime, tested against tfjs in @aeflow/onnx)
    const out = join(dir, 'cli');
    await run(process.execPath, [join(REPO, 'apps', 'scorer', 'dist', 'cli.js'), '--run', fx.run, '--data', ...files, '--out', out, '--runtime', 'tfjs', '--backend', 'wasm', '--quiet'], { env: { ...process.env }, maxBuffer: 1 << 24 });
    const { rows, columns } = parseScoresCsv(await readFile(join(out, 'scores.csv'), 'utf8'));
    cli = new Map(rows.map((r) => [basename(r.id), { total: r.total, part1: columns.flow === null ? null : r.flow, part2: columns.recon === null ? null : r.recon }]));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('the page on wasm gives the CLI scores within 1e-4 relative (total and both parts)', async () => {
    const page = await scoreInPage(browser, `${server.url}?backend=wasm`, files);
    expect(page.size).toBe(files.length);
    let worst = 0;
    for (const f of files) worst = Math.max(worst, relDiff(page.get(basename(f))!.total, cli.get(basename(f))!.total));
    // a comparison that can fail: the images get different scores
    const totals = [...cli.values()].map((c) => c.total);
    const spread = Math.max(...totals) - Math.min(...totals);
    expect(spread / Math.max(...totals.map(Math.abs)), `the CLI's totals: ${totals.join(', ')}`).toBeGreaterThan(1e-2);
    console.log(`same-numbers: CLI totals ${[...cli.values()].map((c) => c.total.toFixed(6)).join(', ')}`);
    console.log(`same-numbers: ${files.length} images, largest relative difference of the total page vs CLI: ${worst.toExponential(2)}`);
    for (const f of files) {
      const name = basename(f);
      const a = page.get(name)!;
      const b = cli.get(name)!;
      expect(b, `${name} is missing from the CLI's scores.csv`).toBeDefined();
      expect(relDiff(a.total, b.total), `${name}: total ${a.total} (page) vs ${b.total} (CLI)`).toBeLessThan(1e-4);
      for (const k of ['part1', 'part2'] as const) {
        expect(a[k] === null, `${name}: ${k} present in one only`).toBe(b[k] === null);
        if (a[k] !== null) expect(relDiff(a[k], b[k]!), `${name}: ${k} ${a[k]} (page) vs ${b[k]} (CLI)`).toBeLessThan(1e-4);
      }
    }
  });

  it('the page on the backend it picks by itself agrees too', async () => {
    const page = await scoreInPage(browser, server.url, files);
    for (const f of files) {
      const name = basename(f);
      expect(relDiff(page.get(name)!.total, cli.get(name)!.total), `${name}`).toBeLessThan(1e-4);
    }
  });
});

describe.skipIf(skipReason !== null)(`same numbers for the cpu preset as it trains now (BatchNorm re-estimated, kNN flow score on z′)${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('encoder.batchNorm "train-normals" + score.flow "knn": the export carries the statistics and the memory, the page applies them, the CLI agrees within 1e-4', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aeflow-web-bn-'));
    // the preset's own scoring (the shared fixture pins score.flow=nll for its part checks)
    const fx = await trainFixtureRun(dir, ['encoder.batchNorm=train-normals', 'score.flow=knn']);
    const config = JSON.parse(await readFile(join(fx.run, 'config.json'), 'utf8')) as { score: { flow: string }; encoder: { batchNorm: string } };
    expect(config).toMatchObject({ score: { flow: 'knn' }, encoder: { batchNorm: 'train-normals' } });
    const files = [...fx.normal, ...fx.pneumonia];
    const { manifest } = await exportWebFolder({ run: fx.run, out: join(dir, 'site') });
    expect(manifest.encoderBatchNorm?.path).toBe('encoder-batchnorm.safetensors');
    const server = await serveFolder(join(dir, 'site'), { port: 0 });
    const browser = await launchChromium();
    try {
      const out = join(dir, 'cli');
      await run(process.execPath, [join(REPO, 'apps', 'scorer', 'dist', 'cli.js'), '--run', fx.run, '--data', ...files, '--out', out, '--runtime', 'tfjs', '--backend', 'wasm', '--quiet'], { env: { ...process.env }, maxBuffer: 1 << 24 });
      const { rows } = parseScoresCsv(await readFile(join(out, 'scores.csv'), 'utf8'));
      const page = await scoreInPage(browser, `${server.url}?backend=wasm`, files);
      expect(page.size).toBe(files.length);
      const totals = rows.map((r) => r.total);
      expect(Math.max(...totals) - Math.min(...totals), `the CLI's totals: ${totals.join(', ')}`).toBeGreaterThan(0);
      for (const r of rows) {
        const name = basename(r.id);
        expect(relDiff(page.get(name)!.total, r.total), `${name}: total ${page.get(name)!.total} (page) vs ${r.total} (CLI)`).toBeLessThan(1e-4);
      }
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
