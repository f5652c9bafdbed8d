#!/usr/bin/env node
// Where a training step's time goes: `tf.profile` over one Trainer.step of a preset on random
// features and images (after warm-up steps), summed per kernel, and the calls of the `--kernel`
// kernels (default: the convolution gradients) listed per input shape. For finding the next slow kernel; not part of CI or `pnpm bench`.
//
//   node scripts/profile/step.mjs [--preset cpu|paper] [--model aeflow|ae|fastflow] [--size 128] [--batch 16] [--top 14] [--kernel Sum …]
//   AEFLOW_THREADS=2 node scripts/profile/step.mjs          # the same with two wasm threads
//
// Run after `pnpm build`. Kernel times are wall-clock per kernel as tfjs reports them; nested
// kernels (inside custom gradients, reported as "unnamed scope") are counted twice, so the column
// sums to more than the step.
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { SeededRandom } from '../../packages/tensor/dist/index.js';
import { initBackend } from '../../packages/tensor/dist/node.js';
import { AEFlow, Trainer, resolveConfig } from '../../packages/model/dist/index.js';
import { createEncoder } from '../../packages/backbone/dist/node.js';

const requireFromModel = createRequire(new URL('../../packages/model/package.json', import.meta.url));
const tf = await import(requireFromModel.resolve('@tensorflow/tfjs-core'));

const { values: o } = parseArgs({
  options: {
    preset: { type: 'string', default: 'cpu' },
    model: { type: 'string', default: 'aeflow' },
    size: { type: 'string' },
    batch: { type: 'string', default: '16' },
    top: { type: 'string', default: '14' },
    kernel: { type: 'string', multiple: true, default: ['Conv2DBackpropFilter', 'Conv2DBackpropInput'] },
  },
});
const backend = await initBackend({ quiet: true });
const config = resolveConfig({ preset: o.preset, model: o.model, ...(o.size ? { size: Number(o.size) } : {}), encoder: { weights: 'random' } });
const encoder = await createEncoder({ arch: config.encoder.arch, weights: 'random', taps: [config.encoder.tap], seed: 0 });
const model = new AEFlow(config, encoder);
const trainer = new Trainer(model, { lr: config.train.lr, weightDecay: config.train.weightDecay });
const batch = Number(o.batch);
const random = new SeededRandom(1);
const images = random.uniformTensor([batch, config.size, config.size, 3]);
const features = model.encode(images);

for (let i = 0; i < 3; i++) await trainer.step(features, images);
const steps = 5;
const t0 = performance.now();
for (let i = 0; i < steps; i++) await trainer.step(features, images);
const stepMs = (performance.now() - t0) / steps;
const profile = await tf.profile(async () => {
  await trainer.step(features, images);
});

const byName = new Map();
for (const k of profile.kernels) {
  const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
  e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  e.calls++;
  byName.set(k.name, e);
}
console.log(`${o.preset} preset, ${o.model}, ${config.size} px, batch ${batch}, ${backend.name} (${backend.threads} thread${backend.threads > 1 ? 's' : ''}): ${stepMs.toFixed(0)} ms per step (mean of ${steps})`);
console.log('\n| kernel | ms in one step | calls |\n|---|---|---|');
for (const [name, e] of [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(o.top))) {
  console.log(`| ${name} | ${e.ms.toFixed(1)} | ${e.calls} |`);
}
console.log('\n| kernel | input shapes | ms |\n|---|---|---|');
for (const k of profile.kernels.filter((k) => o.kernel.includes(k.name))) {
  console.log(`| ${k.name} | ${JSON.stringify(k.inputShapes)} | ${Number(k.kernelTimeMs).toFixed(2)} |`);
}
tf.dispose([images, features]);
trainer.dispose();
model.dispose();
