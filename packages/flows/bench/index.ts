/**
 * Forward + backward of an 8-block AllInOne flow (resnet subnet, hidden = C, reverse
 * permutation) on the paper's feature shape [8,16,16,1024] and a small [8,8,8,512], on wasm:
 * images/s, effective GFLOP/s (3 × the forward conv/matMul FLOPs), and the ratio to the same
 * run's matMul 1024³ GFLOP/s. Median of BENCH_REPS (default 5) after one warm-up.
 * Writes bench/RESULTS.md. Run: `pnpm bench` in packages/flows.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom } from '@aeflow/tensor';
import { initBackend } from '@aeflow/tensor/node';
import type { AllInOneBlock} from '../src/index.js';
import { createAllInOneFlow, nllPerDim } from '../src/index.js';

const reps = Number(process.env.BENCH_REPS ?? 5);
const report = await initBackend({ backend: (process.env.AEFLOW_BACKEND as 'wasm' | undefined) ?? 'wasm' });
const backend = report.name;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function time(fn: () => void): number[] {
  fn(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    out.push((performance.now() - t0) / 1000);
  }
  return out;
}

// matMul 1024³ of this run, as the yardstick.
const n = 1024;
const a = tf.randomNormal([n, n]);
const b = tf.randomNormal([n, n]);
const matMulSeconds = median(time(() => tf.matMul(a, b).dataSync()));
const matMulGflops = (2 * n ** 3) / matMulSeconds / 1e9;
tf.dispose([a, b]);
console.log(`matMul ${n}³: ${matMulGflops.toFixed(2)} GFLOP/s`);

const filterGrad = tf.getKernel('Conv2DBackpropFilter', tf.getBackend()) !== undefined;
interface Row {
  shape: number[];
  seconds: number;
  imagesPerSecond: number;
  gflops: number;
  ratio: number;
  note: string;
}
const rows: Row[] = [];
const shapes = (process.env.BENCH_SHAPES ?? '8x8x8x512,8x16x16x1024').split(',').map((s) => s.split('x').map(Number));
for (const shape of shapes) {
  const [batch, h, w, c] = shape as [number, number, number, number];
  const flow = createAllInOneFlow({ channels: c, blocks: 8, subnet: 'resnet', seed: 1 });
  const x = new SeededRandom(2).normalTensor(shape);
  const macsPerPosition = (flow.layers[0] as AllInOneBlock).coupling.subnet.macsPerPosition;
  const forwardFlops = 8 * 2 * batch * h * w * macsPerPosition;
  let note = 'forward + gradients for all variables';
  let step: () => void;
  if (filterGrad) {
    step = () => {
      const { value, grads } = tf.variableGrads(() => {
        const { y, logDet } = flow.forward(x, { training: true, checkFinite: false });
        return tf.mean(nllPerDim(y, logDet));
      }, flow.trainableVariables);
      value.dataSync();
      tf.dispose([value, ...Object.values(grads)]);
    };
  } else {
    note = `NOT fwd+bwd: ${backend} has no Conv2DBackpropFilter, so this is forward + gradient w.r.t. the input only`;
    step = () => {
      const g = tf.grad((input: tf.Tensor) => {
        const { y, logDet } = flow.forward(input, { training: true, checkFinite: false });
        return tf.mean(nllPerDim(y, logDet));
      })(x);
      g.dataSync();
      g.dispose();
    };
  }
  const before = tf.memory().numTensors;
  const seconds = median(time(step));
  if (tf.memory().numTensors !== before) note += ` (tensor count changed by ${tf.memory().numTensors - before}!)`;
  const gflops = (3 * forwardFlops) / seconds / 1e9;
  rows.push({ shape, seconds, imagesPerSecond: batch / seconds, gflops, ratio: gflops / matMulGflops, note });
  console.log(
    `[${shape.join(',')}]: ${seconds.toFixed(2)} s/step, ${(batch / seconds).toFixed(2)} images/s, ` +
      `${gflops.toFixed(2)} GFLOP/s, ratio to matMul ${(gflops / matMulGflops).toFixed(2)} — ${note}`,
  );
  flow.dispose();
  x.dispose();
}

const lines = [
  '## @aeflow/flows',
  '',
  'Forward + backward (NLL per dim, gradients for every variable) of an 8-block AllInOne flow, `resnet` subnet',
  '(hidden width = C), reverse permutation, BatchNorm in training mode, finite checks off.',
  'Effective GFLOP/s = 3 × forward conv/matMul FLOPs of the subnets ÷ time (element-wise ops not counted).',
  '',
  `Command: \`pnpm --filter @aeflow/flows bench\` (BENCH_REPS=${reps}) · backend ${backend}` +
    `${backend === 'wasm' ? ` (${report.threads} thread${report.threads > 1 ? 's' : ''})` : ''} · ${os.cpus().length} cores · ` +
    `median of ${reps} after one warm-up · ${new Date().toISOString().slice(0, 10)}`,
  '',
  `matMul 1024³ in the same run: ${matMulGflops.toFixed(2)} GFLOP/s`,
  '',
  '| input | s / step | images/s | effective GFLOP/s | ratio to matMul (goal ≥ 0.6) | note |',
  '|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| [${r.shape.join(', ')}] | ${r.seconds.toFixed(2)} | ${r.imagesPerSecond.toFixed(2)} | ${r.gflops.toFixed(2)} | ${r.ratio.toFixed(2)} | ${r.note} |`,
  ),
  '',
];
writeFileSync(fileURLToPath(new URL('./RESULTS.md', import.meta.url)), lines.join('\n'));
console.log(lines.join('\n'));
