// Score images/s of the same AE-FLOW configuration on three runtimes, interleaved in one run:
// ONNX Runtime (the exported graph, onnxruntime-node), aeflow on tfjs-wasm, and PyTorch 1.13
// (scripts/compare-pytorch/aeflow_torch.py, Debian's python3-torch). Each side runs in its own
// process, once per round, rounds interleaved; median and range over the rounds. Writes
// bench/RESULTS.md.
//   pnpm --filter @aeflow/onnx bench       (BENCH_ROUNDS=3, BENCH_STEPS=5, BENCH_THREADS=2, BENCH_SIZE=64, BENCH_BATCH=8)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { createEncoder } from '@aeflow/backbone/node';
import { AEFlow, resolveConfig } from '@aeflow/model';
import { currentBackend } from '@aeflow/tensor';
import { initBackend } from '@aeflow/tensor/node';
import { exportOnnx } from '../src/index.js';
import { OnnxScorer } from '../src/node.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const steps = Number(process.env.BENCH_STEPS ?? 5);
const threads = Number(process.env.BENCH_THREADS ?? 2);
const size = Number(process.env.BENCH_SIZE ?? 64);
const batch = Number(process.env.BENCH_BATCH ?? 8);
const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';

interface SideResult {
  side: string;
  images_per_s: number;
  detail: string;
}

/** The paper preset (Wide-ResNet-50-2 to layer3, 8 blocks, resnet subnet, the 4-block decoder) at `size` px, random weights: the PyTorch script's model. */
async function paperModel(): Promise<AEFlow> {
  const config = resolveConfig({ preset: 'paper', size, encoder: { weights: 'random' } });
  const encoder = await createEncoder({ arch: 'wide_resnet50_2', weights: 'random', taps: ['layer3'], seed: 0 });
  return new AEFlow(config, encoder);
}

/** Median seconds per batch of `steps` timed calls after one warm-up. */
async function timeIt(run: () => Promise<void>): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await run();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function runSide(side: string): Promise<SideResult> {
  const pixels = new Float32Array(batch * size * size * 3);
  for (let i = 0; i < pixels.length; i++) {
    const f = Math.sin(i * 12.9898) * 43758.5453; // a fixed pseudo-random pattern in [0, 1)
    pixels[i] = f - Math.floor(f);
  }
  if (side === 'onnxruntime') {
    await initBackend({ backend: 'wasm', quiet: true });
    const model = await paperModel();
    const { bytes } = exportOnnx(model);
    model.dispose();
    const scorer = await OnnxScorer.create(bytes, { threads });
    const seconds = await timeIt(async () => {
      await scorer.scoreNhwc(pixels, [batch, size, size, 3]);
    });
    const detail = scorer.describe();
    await scorer.dispose();
    return { side, images_per_s: batch / seconds, detail };
  }
  // tfjs on wasm with `threads` threads (AEFLOW_THREADS, set by the parent)
  await initBackend({ backend: 'wasm', quiet: true });
  const model = await paperModel();
  const images = tf.tensor4d(pixels, [batch, size, size, 3]);
  const seconds = await timeIt(async () => {
    const s = model.scoreTensors(images);
    await Promise.all([s.total.data(), s.residual.data()]);
    tf.dispose([s.flow, s.recon, s.total, s.residual]);
  });
  const b = currentBackend();
  model.dispose();
  images.dispose();
  return { side, images_per_s: batch / seconds, detail: `tfjs ${b?.name} (${b?.threads ?? 1} threads)` };
}

if (process.env.BENCH_SIDE) {
  console.log(JSON.stringify(await runSide(process.env.BENCH_SIDE)));
  process.exit(0);
}

const lastJson = (out: string): Record<string, unknown> => JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1)!) as Record<string, unknown>;
const torchScript = join(root, 'scripts', 'compare-pytorch', 'aeflow_torch.py');
const haveTorch = existsSync(python) && (() => {
  try {
    execFileSync(python, ['-c', 'import torch, torchvision'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const sides = ['onnxruntime', 'tfjs-wasm', ...(haveTorch ? ['pytorch'] : [])];
const results = new Map<string, number[]>(sides.map((s) => [s, []]));
const details = new Map<string, string>();
const loads: number[] = [loadavg()[0]!];
for (let r = 0; r < rounds; r++) {
  for (const side of sides) {
    let result: SideResult;
    if (side === 'pytorch') {
      const out = lastJson(execFileSync(python, [torchScript, '--score-only', '--size', String(size), '--batch', String(batch), '--steps', String(steps), '--threads', String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
      result = { side, images_per_s: out.score_images_per_s as number, detail: `${String(out.framework)}, ${String(out.threads)} threads` };
    } else {
      const env = { ...process.env, BENCH_SIDE: side, ...(side === 'tfjs-wasm' ? { AEFLOW_THREADS: String(threads) } : {}) };
      result = lastJson(execFileSync(process.execPath, [...process.execArgv, process.argv[1]!], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })) as unknown as SideResult;
    }
    results.get(side)!.push(result.images_per_s);
    details.set(side, result.detail);
    loads.push(loadavg()[0]!);
    console.error(`round ${r + 1}: ${side} ${result.images_per_s.toFixed(2)} images/s (${result.detail}); load average ${loadavg()[0]!.toFixed(1)}`);
  }
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const torchMedian = haveTorch ? median(results.get('pytorch')!) : undefined;
const rows = sides.map((s) => {
  const v = results.get(s)!;
  const ratio = torchMedian ? `${(median(v) / torchMedian).toFixed(2)}×` : '–';
  return `| ${s} | ${details.get(s)} | ${median(v).toFixed(2)} | ${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)} | ${ratio} |`;
});
const md = [
  '## @aeflow/onnx',
  '',
  `Command: \`pnpm --filter @aeflow/onnx bench\` · ${new Date().toISOString().slice(0, 10)} · ${cpus().length} cores · the paper preset at ${size} px (Wide-ResNet-50-2 to layer3, 8 AllInOne blocks with the resnet subnet, the 4-block decoder; random weights), batch ${batch} · score = encoder + flow + decoder + flow/SSIM scores and the map · each side in its own process, ${rounds} rounds interleaved (ONNX Runtime, tfjs, PyTorch, then again), per round the median of ${steps} timed batches after a warm-up; the table gives the median over rounds and the range · ${threads} threads on every side · load average (1 min) during the run ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} on ${cpus().length} cores${Math.max(...loads) > cpus().length ? `: **the machine was shared and overloaded** (load above ${cpus().length}), so absolute rates are low and noisy, and the ratios are not those of a quiet machine either — a multi-threaded runtime that spin-waits (PyTorch's OpenMP) loses far more under oversubscription than the others; rerun on a quiet machine before quoting a ratio` : ''}.`,
  '',
  '| runtime | as run | score images/s (median) | range | vs PyTorch |',
  '|---|---|---|---|---|',
  ...rows,
  '',
  haveTorch ? '' : `PyTorch was not available (${python} with torch and torchvision): \`apt-get install -y python3-torch python3-torchvision\`.`,
].join('\n');
await writeFile(join(here, 'RESULTS.md'), md.trim() + '\n');
console.log(md);
