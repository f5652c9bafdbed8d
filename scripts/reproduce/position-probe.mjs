#!/usr/bin/env node
// How much does *where* a feature sits matter on chest X-rays? Gaussian densities on the cpu
// preset's frozen features (MobileNet V1 conv_pw_11_relu at 128 px: 8×8 positions × 512), fitted on
// the training normals of the trainer's seeded hold-out, scored on its 320 reported images (AUROC):
// one density shared by every position vs one per position, diagonal and full covariance, and a
// full Gaussian on the globally pooled features. Nothing is trained; about 2 minutes on one core.
//
//   AEFLOW_HOME=/work/shared node scripts/reproduce/position-probe.mjs [--size 128] [--tap conv_pw_11_relu] [--shrink 0.1] [--out runs/repro/position-probe.md]
//
// Prints a table and writes it to --out, which report.mjs puts into docs/RESULTS.md.
//
// This is the evidence behind `flow.positional` (a flow conditioned on position): a shared density
// is what an unconditional flow with convolutional couplings learns.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../../packages/tensor/dist/index.js';
import { createEncoder } from '../../packages/backbone/dist/index.js';
import { chestHoldOut } from './chest-holdout.mjs';
import { auroc } from '../../packages/metrics/dist/index.js';

const requireFromBackbone = createRequire(new URL('../../packages/backbone/package.json', import.meta.url));
const tf = await import(requireFromBackbone.resolve('@tensorflow/tfjs-core'));

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const o = { size: 128, tap: 'conv_pw_11_relu', shrink: 0.1, out: join(ROOT, 'runs/repro/position-probe.md') };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--size') o.size = Number(process.argv[++i]);
  else if (a === '--tap') o.tap = process.argv[++i];
  else if (a === '--shrink') o.shrink = Number(process.argv[++i]);
  else if (a === '--out') o.out = resolve(process.argv[++i]);
  else throw new Error(`position-probe.mjs: unknown argument ${a} (--size, --tap, --shrink, --out)`);
}
const home = process.env.AEFLOW_HOME;
if (!home) throw new Error('position-probe.mjs: set AEFLOW_HOME to the shared folder (it holds data/chest-xray)');

await initBackend({ backend: 'wasm', quiet: true });
const { ds, train: trainItems, final: reported } = await chestHoldOut(join(home, 'data/chest-xray'));
const encoder = await createEncoder({ arch: 'mobilenet_v1', taps: [o.tap] });

/** Feature maps as [positions][channels] Float64Arrays per image. */
async function features(items) {
  const out = [];
  let grid = null;
  for (let i = 0; i < items.length; i += 32) {
    const decoded = await Promise.all(items.slice(i, i + 32).map((it) => ds.load(it, { size: o.size, channels: 3 })));
    const f = tf.tidy(() => encoder.features(encoder.normalize(tf.stack(decoded.map((d) => tf.tensor3d(d.data, [d.height, d.width, d.channels])))))[o.tap]);
    const [b, h, w, c] = f.shape;
    grid = { positions: h * w, channels: c };
    const v = await f.data();
    f.dispose();
    for (let k = 0; k < b; k++) out.push(Array.from({ length: h * w }, (_, p) => Float64Array.from(v.subarray((k * h * w + p) * c, (k * h * w + p + 1) * c))));
  }
  return { maps: out, ...grid };
}

/** A Gaussian fitted to `samples` (Float64Array rows): returns the Mahalanobis distance² of a row. Full covariance with shrinkage λ·(mean variance)·I, or diagonal. */
function gaussian(samples, dim, full) {
  const n = samples.length;
  const mu = new Float64Array(dim);
  for (const v of samples) for (let c = 0; c < dim; c++) mu[c] += v[c] / n;
  if (!full) {
    const variance = new Float64Array(dim);
    for (const v of samples) for (let c = 0; c < dim; c++) variance[c] += (v[c] - mu[c]) ** 2 / (n - 1);
    let mean = 0;
    for (let c = 0; c < dim; c++) mean += variance[c] / dim;
    for (let c = 0; c < dim; c++) variance[c] += o.shrink * mean;
    return (v) => {
      let q = 0;
      for (let c = 0; c < dim; c++) q += (v[c] - mu[c]) ** 2 / variance[c];
      return q;
    };
  }
  const L = new Float64Array(dim * dim); // lower triangle of the covariance, then its Cholesky factor
  const d = new Float64Array(dim);
  for (const v of samples) {
    for (let c = 0; c < dim; c++) d[c] = v[c] - mu[c];
    for (let i = 0; i < dim; i++) {
      const di = d[i];
      if (di !== 0) for (let j = 0; j <= i; j++) L[i * dim + j] += di * d[j];
    }
  }
  let trace = 0;
  for (let i = 0; i < dim; i++) trace += L[i * dim + i] / (n - 1);
  for (let i = 0; i < dim; i++) for (let j = 0; j <= i; j++) L[i * dim + j] = L[i * dim + j] / (n - 1) + (i === j ? (o.shrink * trace) / dim : 0);
  for (let j = 0; j < dim; j++) {
    let s = L[j * dim + j];
    for (let k = 0; k < j; k++) s -= L[j * dim + k] ** 2;
    const l = Math.sqrt(s);
    L[j * dim + j] = l;
    for (let i = j + 1; i < dim; i++) {
      let t = L[i * dim + j];
      for (let k = 0; k < j; k++) t -= L[i * dim + k] * L[j * dim + k];
      L[i * dim + j] = t / l;
    }
  }
  return (v) => {
    const y = new Float64Array(dim);
    let q = 0;
    for (let i = 0; i < dim; i++) {
      let t = v[i] - mu[i];
      for (let k = 0; k < i; k++) t -= L[i * dim + k] * y[k];
      y[i] = t / L[i * dim + i];
      q += y[i] * y[i];
    }
    return q;
  };
}

const t0 = Date.now();
const train = await features(trainItems);
const test = await features(reported);
const labels = reported.map((i) => i.label);
const { positions: P, channels: C } = train;
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows = [];
const report = (what, scores) => rows.push({ what, auroc: auroc(labels, scores) });

for (const full of [false, true]) {
  const kind = full ? 'full covariance' : 'diagonal';
  // Shared: every position of every training image is a sample of one density (subsampled for the full covariance: 1 in 8).
  const pooledSamples = train.maps.flatMap((m) => m).filter((_, i) => !full || i % 8 === 0);
  const shared = gaussian(pooledSamples, C, full);
  report(`one density for all positions, ${kind}`, test.maps.map((m) => mean(m.map(shared))));
  const per = Array.from({ length: P }, (_, p) => gaussian(train.maps.map((m) => m[p]), C, full));
  report(`one density per position, ${kind}`, test.maps.map((m) => mean(m.map((v, p) => per[p](v)))));
}
const pool = (m) => {
  const g = new Float64Array(C);
  for (const v of m) for (let c = 0; c < C; c++) g[c] += v[c] / m.length;
  return g;
};
const global = gaussian(train.maps.map(pool), C, true);
report('globally pooled features, full covariance', test.maps.map((m) => global(pool(m))));
encoder.dispose();

const lines = [
  `${o.tap} at ${o.size} px: ${P} positions × ${C} channels; ${train.maps.length} training normals; ${test.maps.length} reported images (${labels.filter((y) => y === 1).length} pneumonia); covariance shrinkage ${o.shrink}·(mean variance); ${((Date.now() - t0) / 1000).toFixed(0)} s.`,
  '',
  '| Gaussian density of the frozen features | AUROC |',
  '|---|---|',
  ...rows.map((r) => `| ${r.what} | ${r.auroc.toFixed(3)} |`),
];
console.log(lines.join('\n'));
mkdirSync(dirname(o.out), { recursive: true });
writeFileSync(o.out, lines.join('\n') + '\n');
