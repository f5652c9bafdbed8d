// Trains a preset on the shared Chest X-ray train normals with an honest held-out split
// (200 normal + 200 pneumonia images never trained on: 20 % validation, 80 % test) and reports
// the wall time and the test AUROC. Needs AEFLOW_HOME (the shared folder).
//   pnpm --filter @aeflow/model exec tsx bench/chest-xray.ts [overrides-json]
import { join } from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { holdOutSplit } from '@aeflow/datasets';
import { chestXrayDataset } from '@aeflow/datasets/node';
import { aeflowHome, initBackend } from '@aeflow/tensor/node';
import { scoreRun, trainRun } from '../src/node.js';

const overrides = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
const backend = await initBackend({ quiet: true });
const dataset = await chestXrayDataset(join(aeflowHome(), 'data', 'chest-xray', 'train'));
const split = holdOutSplit(dataset.items, { seed: 0, normal: 200, anomalous: 200, valFraction: 0.2 });
const runDir = process.env.RUN_DIR ?? (await mkdtemp(join(tmpdir(), 'aeflow-chest-')));
console.error(`backend ${backend.name}; train ${split.train.length} normals, val ${split.val.length}, test ${split.test.length}; run ${runDir}`);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const result = await trainRun({
  runDir,
  config: overrides,
  train: { dataset, items: split.train },
  validation: { dataset, items: split.val },
  cacheDir: process.env.CACHE_DIR ?? join(tmpdir(), 'aeflow-chest-cache'),
  onEvent: (e) => {
    if (e.type === 'history') console.error(JSON.stringify(e.record));
  },
});
const trainSeconds = (performance.now() - t0) / 1000;
const trainCpu = process.cpuUsage(cpu0);
const trainCpuSeconds = (trainCpu.user + trainCpu.system) / 1e6;
const scored = await scoreRun({ runDir, data: { dataset, items: split.test } });
const total = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ overrides, backend: backend.name, trainSeconds, totalSeconds: total, cpuSeconds: (cpu.user + cpu.system) / 1e6, trainCpuSeconds, best: result.best, test: scored.metrics ? { auroc: scored.metrics.auroc, ap: scored.metrics.averagePrecision, f1: scored.metrics.bestF1.f1 } : null }));
