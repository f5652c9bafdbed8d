// Encoder feature extraction speed: images per second for each encoder at 64–256 px, batch 8,
// with effective GFLOP/s (2 × multiply-adds of the layers run) and its ratio to matMul 1024³
// timed next to each run. Writes bench/RESULTS.md.
//
// Repetitions: median of BENCH_REPS (default 5) paired runs after one warm-up. The run length is
// bounded by the big Wide-ResNet sizes (~147–192 GFLOP per batch of 8 at 224–256 px); set
// BENCH_REPS lower for a quick look (the Markdown says how many were used).
import * as tf from '@tensorflow/tfjs-core';
import { cpus } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { initBackend } from '@aeflow/tensor/node';
import { createEncoder, type CreateEncoderOptions } from '../src/node.js';

const REPS = Number(process.env.BENCH_REPS ?? 5);
const BATCH = 8;
const SIZES = [64, 128, 224, 256];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function run(fn: () => tf.Tensor[]): Promise<number> {
  const t0 = performance.now();
  const out = fn();
  await Promise.all(out.map((t) => t.data()));
  const seconds = (performance.now() - t0) / 1000;
  tf.dispose(out);
  return seconds;
}

/**
 * Times `fn` REPS times after a warm-up, each run right after a matMul 1024³ timing: the machine
 * is shared, so each run's rate is divided by the matMul rate measured next to it, and the table
 * gives medians of the runs, of the matMul rates and of those ratios.
 */
async function timePaired(fn: () => tf.Tensor[], flop: number): Promise<{ seconds: number; matMul: number; ratio: number }> {
  await run(fn);
  await run(() => [tf.matMul(a, b)]);
  const seconds: number[] = [];
  const matMul: number[] = [];
  const ratio: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const mm = (2 * 1024 ** 3) / (await run(() => [tf.matMul(a, b)])) / 1e9;
    const s = await run(fn);
    seconds.push(s);
    matMul.push(mm);
    ratio.push(flop / s / 1e9 / mm);
  }
  return { seconds: median(seconds), matMul: median(matMul), ratio: median(ratio) };
}

const report = await initBackend({ backend: process.env.AEFLOW_BACKEND ? undefined : 'wasm', quiet: true });
const a = tf.randomNormal([1024, 1024]);
const b = tf.randomNormal([1024, 1024]);
const matMulRates: number[] = [];

const encoders: Array<{ label: string; options: CreateEncoderOptions }> = [
  { label: 'wide_resnet50_2 → layer3 (random weights)', options: { arch: 'wide_resnet50_2', weights: 'random', taps: ['layer3'] } },
  { label: 'resnet18 → layer3 (random weights)', options: { arch: 'resnet18', weights: 'random', taps: ['layer3'] } },
  // The real files: from AEFLOW_HOME (or the asset cache, fetched on first use).
  { label: 'mobilenet_v1 → conv_pw_11_relu (ImageNet weights)', options: { arch: 'mobilenet_v1', taps: ['conv_pw_11_relu'] } },
];

const rows: string[] = [];
const started = performance.now();
for (const { label, options } of encoders) {
  const enc = await createEncoder(options);
  for (const size of SIZES) {
    const x = tf.randomUniform<tf.Rank.R4>([BATCH, size, size, 3], -1, 1);
    const flop = 2 * enc.multiplyAdds(size, size) * BATCH;
    const t = await timePaired(() => Object.values(enc.features(x)), flop);
    x.dispose();
    matMulRates.push(t.matMul);
    const rate = flop / t.seconds / 1e9;
    const row = `| ${label} | ${size} | ${(t.seconds * 1000).toFixed(0)} | ${(BATCH / t.seconds).toFixed(1)} | ${(flop / BATCH / 1e9).toFixed(2)} | ${rate.toFixed(1)} | ${t.matMul.toFixed(1)} | ${t.ratio.toFixed(2)} |`;
    console.log(row);
    rows.push(row);
  }
  enc.dispose();
}
const minutes = (performance.now() - started) / 60000;
tf.dispose([a, b]);
const mmMedian = median(matMulRates);

const md = [
  '## @aeflow/backbone',
  '',
  `Command: \`pnpm --filter @aeflow/backbone bench\` · backend ${report.name}${report.name === 'wasm' ? ` (${report.threads} thread${report.threads > 1 ? 's' : ''})` : ''} · ${cpus().length} cores · batch ${BATCH} · median of ${REPS} runs after a warm-up, each paired with a matMul 1024³ timing just before it · matMul ${mmMedian.toFixed(1)} GFLOP/s (median over the run) · took ${minutes.toFixed(1)} min`,
  '',
  'The machine is shared with other jobs, so absolute rates vary between runs; the last column (median of per-run ratios to the paired matMul rate) is the number to compare. Effective GFLOP/s counts 2 × the multiply-adds of the convolutions run up to the tap (BatchNorm folded, so it costs nothing); ResNets use seeded random weights (speed does not depend on the values), MobileNet its ImageNet weights.',
  '',
  '| encoder | px | ms / batch | images/s | GFLOP / image | GFLOP/s | matMul GFLOP/s | × matMul (paired) |',
  '|---|---|---|---|---|---|---|---|',
  ...rows,
  '',
].join('\n');
console.log(md);
await writeFile(new URL('./RESULTS.md', import.meta.url), md);
