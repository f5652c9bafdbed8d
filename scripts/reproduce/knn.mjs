#!/usr/bin/env node
// The bar every learned model must clear: k-nearest-neighbour distance on frozen, ImageNet-pretrained
// MobileNet V1 features (global average of conv_pw_11_relu, 512 values, L2-normalised — the deepest
// layer the known MobileNet asset provides, and the one the cpu preset's encoder taps), with the
// training normals as the memory and the mean distance to the k nearest as the anomaly score.
// Nothing is trained. Same data parts as the trainer (the same seeded hold-out for chest X-ray,
// train → val for MedMNIST), and a run folder the harness reads like a trainer run:
// config.json, scores.csv (reported part), validation/scores.csv (when there is a separate one), split.json.
//
//   AEFLOW_HOME=/work/shared node scripts/reproduce/knn.mjs --data "$AEFLOW_HOME/data/chest-xray" --dataset chest-xray --out runs/repro/chest-knn [--k 5] [--size 224] [--check-split runs/chest/split.json]
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../../packages/tensor/dist/index.js';
import { medmnistDataset } from '../../packages/datasets/dist/index.js';
import { chestHoldOut } from './chest-holdout.mjs';
import { createEncoder } from '../../packages/backbone/dist/index.js';

// tfjs-core as the backbone package resolves it (one module instance, one backend registry).
const requireFromBackbone = createRequire(new URL('../../packages/backbone/package.json', import.meta.url));
const tf = await import(requireFromBackbone.resolve('@tensorflow/tfjs-core'));

function parseArgs(argv) {
  const o = { k: 5, size: 224, holdout: 200, seed: 0, batch: 16, tap: 'conv_pw_11_relu' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--data') o.data = v();
    else if (a === '--dataset') o.dataset = v();
    else if (a === '--out') o.out = v();
    else if (a === '--k') o.k = Number(v());
    else if (a === '--size') o.size = Number(v());
    else if (a === '--holdout') o.holdout = Number(v());
    else if (a === '--seed') o.seed = Number(v());
    else if (a === '--check-split') o.checkSplit = v();
    else throw new Error(`knn.mjs: unknown argument ${a}`);
  }
  if (!o.data || !o.dataset || !o.out) throw new Error('knn.mjs: --data, --dataset and --out are required');
  return o;
}

/** The trainer's parts (apps/trainer/src/data.ts): chest X-ray has only train/, so the same seeded hold-out; MedMNIST here: train normals → val. */
async function parts(o) {
  if (o.dataset === 'chest-xray') return chestHoldOut(o.data, { holdout: o.holdout, seed: o.seed });
  const m = /^medmnist:(.+)$/.exec(o.dataset);
  if (!m) throw new Error(`knn.mjs: --dataset must be chest-xray or medmnist:<name>, got ${o.dataset}`);
  const file = o.data.endsWith('.npz') ? o.data : join(o.data, `${m[1]}.npz`);
  const train = await medmnistDataset(file, { split: 'train' });
  const val = await medmnistDataset(file, { split: 'val' });
  return { ds: train, valDs: val, train: train.items.filter((i) => i.label === 0), val: null, final: val.items, how: 'train normals → val (validated on and reported on val, as the trainer does with this .npz)' };
}

async function embed(encoder, ds, items, o) {
  const out = new Float32Array(items.length * 1024);
  let dim = 0;
  for (let start = 0; start < items.length; start += o.batch) {
    const chunk = items.slice(start, start + o.batch);
    const decoded = await Promise.all(chunk.map((it) => ds.load(it, { size: o.size, channels: 3 })));
    const pooled = tf.tidy(() => {
      const x = tf.stack(decoded.map((d) => tf.tensor3d(d.data, [d.height, d.width, d.channels])));
      const f = encoder.features(encoder.normalize(x))[o.tap];
      const g = tf.mean(f, [1, 2]);
      return tf.div(g, tf.add(tf.norm(g, 'euclidean', 1, true), 1e-12));
    });
    dim = pooled.shape[1];
    out.set(await pooled.data(), start * dim);
    pooled.dispose();
    process.stderr.write(`\r${ds.name}: ${Math.min(start + o.batch, items.length)}/${items.length}`);
  }
  process.stderr.write('\n');
  return { data: out.subarray(0, items.length * dim), dim };
}

/** Mean Euclidean distance to the k nearest memory rows (unit vectors: d² = 2 − 2·cos). */
function knnScores(memory, queries, k) {
  const { dim } = memory;
  const n = memory.data.length / dim;
  const q = queries.data.length / dim;
  const scores = new Float64Array(q);
  const d = new Float64Array(n);
  for (let i = 0; i < q; i++) {
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let c = 0; c < dim; c++) dot += queries.data[i * dim + c] * memory.data[j * dim + c];
      d[j] = Math.sqrt(Math.max(0, 2 - 2 * dot));
    }
    const nearest = Array.from(d).sort((a, b) => a - b).slice(0, k);
    scores[i] = nearest.reduce((a, b) => a + b, 0) / k;
  }
  return scores;
}

function writeScores(file, items, scores) {
  const lines = ['id,label,flow,recon,total,predicted'];
  items.forEach((it, i) => lines.push([it.id, it.label ?? '', scores[i], scores[i], scores[i], ''].join(',')));
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, lines.join('\n') + '\n');
}

const o = parseArgs(process.argv.slice(2));
const started = Date.now();
await initBackend({ backend: 'wasm', quiet: true });
const p = await parts(o);
if (o.checkSplit && existsSync(o.checkSplit)) {
  const s = JSON.parse(readFileSync(o.checkSplit, 'utf8'));
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (!same(s.final.ids, p.final.map((i) => i.id)) || (p.val && !same(s.validation.ids, p.val.map((i) => i.id)))) {
    throw new Error(`knn.mjs: the hold-out differs from ${o.checkSplit}; the kNN row would not be on the same split`);
  }
  console.log(`split checked against ${o.checkSplit}: identical`);
}
const encoder = await createEncoder({ arch: 'mobilenet_v1', taps: [o.tap] });
const memory = await embed(encoder, p.ds, p.train, o);
const finalDs = p.valDs ?? p.ds;
const finalEmb = await embed(encoder, finalDs, p.final, o);
mkdirSync(o.out, { recursive: true });
writeScores(join(o.out, 'scores.csv'), p.final, knnScores(memory, finalEmb, o.k));
if (p.val) writeScores(join(o.out, 'validation/scores.csv'), p.val, knnScores(memory, await embed(encoder, p.ds, p.val, o), o.k));
writeFileSync(
  join(o.out, 'config.json'),
  JSON.stringify({ model: 'knn', encoder: encoder.describe(), tap: o.tap, pooling: 'global mean, L2-normalised', k: o.k, size: o.size, memory: p.train.length, score: { beta: 1 } }, null, 2) + '\n',
);
writeFileSync(join(o.out, 'split.json'), JSON.stringify({ how: p.how, train: { images: p.train.length }, validation: p.val ? { ids: p.val.map((i) => i.id) } : null, final: { ids: p.final.map((i) => i.id) } }, null, 2) + '\n');
encoder.dispose();
console.log(`knn: ${p.train.length} normals in memory, ${p.final.length} scored, ${((Date.now() - started) / 1000).toFixed(0)} s`);
