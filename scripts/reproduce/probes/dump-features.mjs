#!/usr/bin/env node
// Frozen MobileNet V1 features of the chest X-ray hold-out (the trainer's seeded split: training
// normals, the 80-image validation part, the 320 reported images), written as raw float32 files
// for probes.py. Nothing is trained.
//
//   AEFLOW_HOME=/work/shared node scripts/reproduce/probes/dump-features.mjs --out /tmp/aeflow-probes [--size 128] [--taps conv_pw_11_relu,conv_pw_5_relu]
//
// --val official: the validation part is val/ (47 + 78 images of the official test split) instead
//   of the carved 80, for transfer-probes.py (training normals and the 320 reported stay as above).
// --batchnorm train-normals: the encoder's BatchNorm statistics re-estimated on the training
//   normals first (estimateBatchNormStatistics, as encoder.batchNorm 'train-normals' does).
// --intensity standardize: each image's intensities mapped to mean 0.5 and standard deviation 0.2
//   (clipped to [0, 1]) before the encoder, so a brighter or flatter exposure looks the same.
//
// Writes <out>/<part>-<tap>-<size>.f32 ([images, h, w, c] row-major) and <out>/<part>-<size>.json
// (shapes, labels, ids) for part in train, val, test.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../../../packages/tensor/dist/node.js';
import { estimateBatchNormStatistics } from '../../../packages/backbone/dist/index.js';
import { createEncoder } from '../../../packages/backbone/dist/node.js';
import { chestXrayDataset } from '../../../packages/datasets/dist/node.js';
import { chestHoldOut } from '../chest-holdout.mjs';

const tf = await import(createRequire(new URL('../../../packages/backbone/package.json', import.meta.url)).resolve('@tensorflow/tfjs-core'));
const { values: o } = parseArgs({ options: { out: { type: 'string' }, size: { type: 'string', default: '128' }, taps: { type: 'string', default: 'conv_pw_11_relu,conv_pw_5_relu' }, val: { type: 'string', default: 'carved' }, batchnorm: { type: 'string', default: 'pretrained' }, intensity: { type: 'string', default: 'none' } } });
if (!['none', 'standardize'].includes(o.intensity)) throw new Error(`--intensity ${o.intensity}: use none or standardize`);
/** An image's intensities to mean 0.5, standard deviation 0.2 (clipped), or unchanged. */
const intensity = (data) => {
  if (o.intensity === 'none') return data;
  let sum = 0;
  let sq = 0;
  for (const v of data) (sum += v), (sq += v * v);
  const mean = sum / data.length;
  const sd = Math.sqrt(Math.max(1e-12, sq / data.length - mean * mean));
  return data.map((v) => Math.min(1, Math.max(0, 0.5 + (0.2 * (v - mean)) / sd)));
};
const home = process.env.AEFLOW_HOME;
if (!home || !o.out) throw new Error('dump-features.mjs: set AEFLOW_HOME (it holds data/chest-xray) and pass --out <folder>');
const size = Number(o.size);
const taps = o.taps.split(',');
const out = resolve(o.out);
mkdirSync(out, { recursive: true });
await initBackend({ backend: 'wasm', quiet: true });
const { ds, train, val: carvedVal, final } = await chestHoldOut(join(home, 'data/chest-xray'));
if (!['carved', 'official'].includes(o.val)) throw new Error(`--val ${o.val}: use carved (the 80 of the hold-out) or official (val/)`);
if (!['pretrained', 'train-normals'].includes(o.batchnorm)) throw new Error(`--batchnorm ${o.batchnorm}: use pretrained or train-normals`);
const officialVal = o.val === 'official' ? await chestXrayDataset(join(home, 'data/chest-xray'), { split: 'val' }) : null;
const val = officialVal ? officialVal.items : carvedVal;
const normals = train.filter((i) => i.label === 0);
let batchNormStatistics;
if (o.batchnorm === 'train-normals') {
  const unfolded = await createEncoder({ arch: 'mobilenet_v1', taps, foldBatchNorm: false });
  batchNormStatistics = await estimateBatchNormStatistics(
    unfolded,
    (async function* () {
      for (let i = 0; i < normals.length; i += 32) {
        const decoded = await Promise.all(normals.slice(i, i + 32).map((it) => ds.load(it, { size, channels: 3 })));
        yield tf.stack(decoded.map((d) => tf.tensor3d(intensity(d.data), [d.height, d.width, d.channels])));
      }
    })(),
  );
  unfolded.dispose();
}
const encoder = await createEncoder({ arch: 'mobilenet_v1', taps, ...(batchNormStatistics ? { batchNormStatistics } : {}) });
for (const [part, items] of [['train', normals], ['val', val], ['test', final]]) {
  const source = part === 'val' && officialVal ? officialVal : ds;
  const chunks = Object.fromEntries(taps.map((t) => [t, []]));
  const shapes = {};
  for (let i = 0; i < items.length; i += 32) {
    const decoded = await Promise.all(items.slice(i, i + 32).map((it) => source.load(it, { size, channels: 3 })));
    const feats = tf.tidy(() => encoder.features(encoder.normalize(tf.stack(decoded.map((d) => tf.tensor3d(intensity(d.data), [d.height, d.width, d.channels]))))));
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
