#!/usr/bin/env node
// Frozen MobileNet V1 features of the chest X-ray hold-out (the trainer's seeded split: training
// normals, the 80-image validation part, the 320 reported images), written as raw float32 files
// for probes.py. Nothing is trained.
//
//   AEFLOW_HOME=/work/shared node scripts/reproduce/probes/dump-features.mjs --out /tmp/aeflow-probes [--size 128] [--taps conv_pw_11_relu,conv_pw_5_relu]
//
// Writes <out>/<part>-<tap>-<size>.f32 ([images, h, w, c] row-major) and <out>/<part>-<size>.json
// (shapes, labels, ids) for part in train, val, test.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../../../packages/tensor/dist/index.js';
import { createEncoder } from '../../../packages/backbone/dist/index.js';
import { chestHoldOut } from '../chest-holdout.mjs';

const tf = await import(createRequire(new URL('../../../packages/backbone/package.json', import.meta.url)).resolve('@tensorflow/tfjs-core'));
const { values: o } = parseArgs({ options: { out: { type: 'string' }, size: { type: 'string', default: '128' }, taps: { type: 'string', default: 'conv_pw_11_relu,conv_pw_5_relu' } } });
const home = process.env.AEFLOW_HOME;
if (!home || !o.out) throw new Error('dump-features.mjs: set AEFLOW_HOME (it holds data/chest-xray) and pass --out <folder>');
const size = Number(o.size);
const taps = o.taps.split(',');
const out = resolve(o.out);
mkdirSync(out, { recursive: true });
await initBackend({ backend: 'wasm', quiet: true });
const { ds, train, val, final } = await chestHoldOut(join(home, 'data/chest-xray'));
const encoder = await createEncoder({ arch: 'mobilenet_v1', taps });
for (const [part, items] of [['train', train.filter((i) => i.label === 0)], ['val', val], ['test', final]]) {
  const chunks = Object.fromEntries(taps.map((t) => [t, []]));
  const shapes = {};
  for (let i = 0; i < items.length; i += 32) {
    const decoded = await Promise.all(items.slice(i, i + 32).map((it) => ds.load(it, { size, channels: 3 })));
    const feats = tf.tidy(() => encoder.features(encoder.normalize(tf.stack(decoded.map((d) => tf.tensor3d(d.data, [d.height, d.width, d.channels]))))));
    for (const t of taps) {
      shapes[t] = feats[t].shape.slice(1);
      chunks[t].push(Buffer.from((await feats[t].data()).buffer));
      feats[t].dispose();
    }
    process.stderr.write(`\r${part}: ${Math.min(i + 32, items.length)}/${items.length}`);
  }
  process.stderr.write('\n');
  for (const t of taps) writeFileSync(join(out, `${part}-${t}-${size}.f32`), Buffer.concat(chunks[t]));
  writeFileSync(join(out, `${part}-${size}.json`), JSON.stringify({ n: items.length, shapes, labels: items.map((i) => i.label), ids: items.map((i) => i.id) }));
}
encoder.dispose();
