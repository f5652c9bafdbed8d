// Decoder forward and forward+gradient speed on the configured backend, as GFLOP/s next to the
// same run's matMul rate. Writes bench/RESULTS.md.
import * as tf from '@tensorflow/tfjs-core';
import { cpus } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { initBackend } from '@aeflow/tensor/node';
import { createDecoder } from '../src/index.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
async function time(fn: () => tf.Tensor | tf.Tensor[], reps: number): Promise<number> {
  const out0 = fn();
  await Promise.all((Array.isArray(out0) ? out0 : [out0]).map((t) => t.data()));
  tf.dispose(out0);
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const out = fn();
    await Promise.all((Array.isArray(out) ? out : [out]).map((t) => t.data()));
    times.push((performance.now() - t0) / 1000);
    tf.dispose(out);
  }
  return median(times);
}

const report = await initBackend({ quiet: true });
const a = tf.randomNormal([1024, 1024]);
const b = tf.randomNormal([1024, 1024]);
const mmS = await time(() => tf.matMul(a, b), 5);
const matMulGflops = (2 * 1024 ** 3) / mmS / 1e9;
const rows: string[] = [];
for (const [cin, h, batch] of [[1024, 4, 8], [512, 8, 8]] as const) {
  const dec = createDecoder({ inChannels: cin, stride: 16, seed: 0 });
  const x = tf.randomNormal<tf.Rank.R4>([batch, h, h, cin]);
  const flops = 2 * dec.multiplyAdds(h, h) * batch;
  const fwd = await time(() => dec.forward(x), 5);
  let grad = Number.NaN;
  try {
    grad = await time(() => {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(dec.forward(x))), dec.trainableVariables);
      return [value, ...Object.values(grads)];
    }, 5);
  } catch (err) {
    console.error(`gradient: ${(err as Error).message.split('\n')[0]}`);
  }
  const f = flops / fwd / 1e9;
  const g = (3 * flops) / grad / 1e9;
  rows.push(`| ${cin}×${h}×${h} → ${h * 16}² ×3, batch ${batch} | ${(fwd * 1000).toFixed(0)} | ${f.toFixed(2)} (${(f / matMulGflops).toFixed(2)}) | ${Number.isNaN(grad) ? 'n/a' : (grad * 1000).toFixed(0)} | ${Number.isNaN(grad) ? 'n/a' : `${g.toFixed(2)} (${(g / matMulGflops).toFixed(2)})`} |`);
  x.dispose();
  dec.dispose();
}
const md = [
  '## @aeflow/decoder',
  '',
  `Command: \`pnpm --filter @aeflow/decoder bench\` · backend ${report.name}${report.name === 'wasm' ? ` (${report.threads} thread)` : ''} · ${cpus().length} cores · median of 5 · matMul 1024³ ${matMulGflops.toFixed(1)} GFLOP/s in the same run`,
  '',
  '| decoder (input → output) | forward ms | forward GFLOP/s (× matMul) | fwd+grad ms | fwd+grad GFLOP/s, 3× fwd FLOPs (× matMul) |',
  '|---|---|---|---|---|',
  ...rows,
  '',
].join('\n');
console.log(md);
await writeFile(new URL('./RESULTS.md', import.meta.url), md);
tf.dispose([a, b]);
