// Encoder feature extraction speed: images per second for each encoder at 64–256 px, batch 8,
// with effective GFLOP/s (2 × multiply-adds of the layers run) next to the same run's matMul rate.
// Writes bench/RESULTS.md.
//
// Repetitions: median of BENCH_REPS (default 5) timed runs after one warm-up run. The run length
// is bounded by the big Wide-ResNet sizes (~136 GFLOP per batch of 8 at 224 px); set BENCH_REPS
// lower for a quick look (the Markdown says how many were used).
import * as tf from '@tensorflow/tfjs-core';
import { cpus } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { initBackend } from '@aeflow/tensor';
import { createEncoder, type CreateEncoderOptions } from '../src/index.js';

const REPS = Number(process.env.BENCH_REPS ?? 5);
const BATCH = 8;
const SIZES = [64, 128, 224, 256];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(fn: () => tf.Tensor[], reps: number): Promise<number> {
  const warm = fn();
  await Promise.all(warm.map((t) => t.data()));
  tf.dispose(warm);
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const out = fn();
    await Promise.all(out.map((t) => t.data()));
    times.push((performance.now() - t0) / 1000);
    tf.dispose(out);
  }
  return median(times);
}

const report = await initBackend({ backend: process.env.AEFLOW_BACKEND ? undefined : 'wasm', quiet: true });
const a = tf.randomNormal([1024, 1024]);
const b = tf.randomNormal([1024, 1024]);
/**
 * matMul 1024³ GFLOP/s, measured right before each row: the machine is shared, and a ratio to a
 * rate taken minutes earlier would mostly measure the neighbours' load.
 */
async function matMulRate(): Promise<number> {
  return (2 * 1024 ** 3) / (await time(() => [tf.matMul(a, b)], 5)) / 1e9;
}
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
    const matMulGflops = await matMulRate();
    matMulRates.push(matMulGflops);
    const x = tf.randomUniform<tf.Rank.R4>([BATCH, size, size, 3], -1, 1);
    const seconds = await time(() => Object.values(enc.features(x)), REPS);
    x.dispose();
    const gflop = (2 * enc.multiplyAdds(size, size) * BATCH) / 1e9;
    const rate = gflop / seconds;
    const row = `| ${label} | ${size} | ${(seconds * 1000).toFixed(0)} | ${(BATCH / seconds).toFixed(1)} | ${(gflop / BATCH).toFixed(2)} | ${rate.toFixed(1)} | ${matMulGflops.toFixed(1)} | ${(rate / matMulGflops).toFixed(2)} |`;
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
  `Command: \`pnpm --filter @aeflow/backbone bench\` · backend ${report.name}${report.name === 'wasm' ? ` (${report.threads} thread${report.threads > 1 ? 's' : ''})` : ''} · ${cpus().length} cores · batch ${BATCH} · median of ${REPS} after a warm-up · matMul 1024³ ${mmMedian.toFixed(1)} GFLOP/s (median over the run; each row's own, measured just before it, is in the table) · took ${minutes.toFixed(1)} min`,
  '',
  'Effective GFLOP/s counts 2 × the multiply-adds of the convolutions run up to the tap (BatchNorm folded, so it costs nothing); ResNets use seeded random weights (speed does not depend on the values), MobileNet its ImageNet weights.',
  '',
  '| encoder | px | ms / batch | images/s | GFLOP / image | GFLOP/s | matMul GFLOP/s | × matMul |',
  '|---|---|---|---|---|---|---|---|',
  ...rows,
  '',
].join('\n');
console.log(md);
await writeFile(new URL('./RESULTS.md', import.meta.url), md);
