// The scorer's benchmark: report rendering time and HTTP scoring round trips on a tiny random model.
//   pnpm --filter @aeflow/scorer bench
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { folderDataset } from '@aeflow/datasets/node';
import { trainRun } from '@aeflow/model/node';
import { initBackend } from '@aeflow/tensor/node';
import { combineScores, evaluateScores } from '@aeflow/eval';
import { renderReport } from '@aeflow/report';
import { startScoreServer } from '../src/index.js';
import { syntheticRows, TINY_CONFIG, writeFolderDataset } from '../src/fixtures.test-helpers.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const backend = await initBackend({ quiet: true });

// 1. report.html for 2000 scored images (no image grid): charts + tables.
const { metrics, rows } = evaluateScores(syntheticRows(1000, 1000), { threshold: { rule: 'best-f1' }, beta: 0.9, combine: combineScores });
const renderMs: number[] = [];
let size = 0;
for (let r = 0; r < 5; r++) {
  const t0 = performance.now();
  size = renderReport({ title: 'bench', settings: {}, rows, metrics, history: [], groups: [], skipped: [] }).length;
  renderMs.push(performance.now() - t0);
}

// 2. POST /score round trips (32 px PNG) on a one-epoch tiny model, one client at a time.
const root = await mkdtemp(join(tmpdir(), 'aeflow-score-bench-'));
await writeFolderDataset(join(root, 'data'), { train: 8, testNormal: 1, testAnomalous: 1 });
const train = await folderDataset(join(root, 'data'), { split: 'train', normalClasses: ['NORMAL'] });
await trainRun({ runDir: join(root, 'run'), config: { ...TINY_CONFIG, train: { ...TINY_CONFIG.train, epochs: 1 } }, train: { dataset: train }, cacheDir: null });
const server = await startScoreServer({ runDir: join(root, 'run'), port: 0 });
const png = await readFile(join(root, 'data', 'test', 'NORMAL', 'img_0.png'));
const post = () =>
  new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/score', headers: { 'content-type': 'image/png' } }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
    req.end(png);
  });
await post();
const reqMs: number[] = [];
for (let r = 0; r < 25; r++) {
  const t0 = performance.now();
  await post();
  reqMs.push(performance.now() - t0);
}
await server.close();
await rm(root, { recursive: true, force: true });

const result = { backend: backend.name, report_ms: median(renderMs), report_bytes: size, score_request_ms: median(reqMs) };
console.log(JSON.stringify(result));
const md = `## @aeflow/scorer

\`pnpm --filter @aeflow/scorer bench\` (${cpus().length} cores, backend ${backend.name})

| what | median |
|---|---|
| report.html for 2000 scored images (ROC, PR, 3 distributions, β sweep; 5 runs) | ${result.report_ms.toFixed(1)} ms (${(size / 1024).toFixed(0)} KiB) |
| \`POST /score\` round trip, 32 px PNG, tiny random-encoder model (25 requests) | ${result.score_request_ms.toFixed(1)} ms |
`;
await writeFile(join(fileURLToPath(new URL('.', import.meta.url)), 'RESULTS.md'), md);
