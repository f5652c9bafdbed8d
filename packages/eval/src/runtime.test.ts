import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chestXrayDataset } from '@aeflow/datasets/node';
import { trainRun } from '@aeflow/model/node';
import { initBackend } from '@aeflow/tensor/node';
import { scoreToFolder } from './score-to-folder.js';

const home = process.env.AEFLOW_HOME;
let dir: string;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
  dir = await mkdtemp(join(tmpdir(), 'aeflow-eval-runtime-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('one scoring path, two runtimes, on real chest X-rays', () => {
  it.skipIf(!home)(
    'a cpu-preset run (pretrained MobileNet V1, 128 px) scored with --runtime onnx and tfjs: the same scores.csv and metrics within 1e-4, the same maps (needs AEFLOW_HOME: set it to the shared folder)',
    async () => {
      const train = await chestXrayDataset(join(home!, 'data', 'chest-xray', 'train'));
      const runDir = join(dir, 'run');
      // A short run on real normals: what is checked is that both runtimes score it alike.
      await trainRun({ runDir, config: { preset: 'cpu', train: { epochs: 1, batchSize: 8 } }, train: { dataset: train, items: train.items.filter((i) => i.label === 0).slice(0, 16) }, cacheDir: null });
      const val = await chestXrayDataset(join(home!, 'data', 'chest-xray', 'val'));
      const items = [...val.items.filter((i) => i.label === 0).slice(0, 8), ...val.items.filter((i) => i.label === 1).slice(0, 8)];
      const described: string[] = [];
      const results = [];
      for (const runtime of ['onnx', 'tfjs'] as const) {
        const out = join(dir, `out-${runtime}`);
        results.push(await scoreToFolder({ runDir, dataset: val, items, out, runtime, threshold: 'best-f1', maps: 2, onRuntime: (line) => described.push(line) }));
        expect((await readdir(join(out, 'maps'))).filter((f) => f.endsWith('.heatmap.png'))).toHaveLength(2);
      }
      expect(described[0]).toMatch(/^runtime onnx \(onnxruntime-node [\d.]+, providers cpu, default threads\); asked for$/);
      expect(described[1]).toMatch(/^runtime tfjs \(backend wasm, \d+ threads?\); asked for$/);
      const [viaOnnx, viaTfjs] = results as [Awaited<ReturnType<typeof scoreToFolder>>, Awaited<ReturnType<typeof scoreToFolder>>];
      expect(viaOnnx.rows).toHaveLength(16);
      expect(new Set(viaTfjs.rows.map((r) => r.total)).size).toBe(16);
      const scale = Object.fromEntries((['flow', 'recon', 'total'] as const).map((k) => [k, Math.max(...viaTfjs.rows.map((r) => Math.abs(r[k])))])) as Record<'flow' | 'recon' | 'total', number>;
      viaOnnx.rows.forEach((row, i) => {
        const want = viaTfjs.rows[i]!;
        expect(row.id).toBe(want.id);
        // relative to the size of the part (the cpu preset's flow part is a sum of standardised
        // scores, which crosses zero: an element's own relative error means nothing there)
        for (const k of ['flow', 'recon', 'total'] as const) expect(Math.abs(row[k] - want[k]), `${row.id} ${k}`).toBeLessThanOrEqual(1e-4 * Math.max(Math.abs(want[k]), scale[k]) + 1e-7);
      });
      for (const k of ['auroc', 'ap', 'f1', 'threshold'] as const) {
        expect(Math.abs(viaOnnx.metrics[k]! - viaTfjs.metrics[k]!), k).toBeLessThanOrEqual(1e-4 * Math.abs(viaTfjs.metrics[k]!) + 1e-7);
      }
      expect((await readdir(join(dir, 'out-onnx', 'maps'))).sort()).toEqual((await readdir(join(dir, 'out-tfjs', 'maps'))).sort());
      expect((await readFile(join(dir, 'out-onnx', 'scores.csv'), 'utf8')).split('\n')[0]).toBe((await readFile(join(dir, 'out-tfjs', 'scores.csv'), 'utf8')).split('\n')[0]);
    },
    300_000,
  );
});
