import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Encoder } from '@aeflow/backbone';
import { loadImageBatch } from '@aeflow/datasets';
import { SeededRandom } from '@aeflow/tensor';
import { AEFlow, blendPatches, fitSyntheticHead, MemoryBank, parseRunConfig, PRESETS, resolveConfig, SYNTHETIC_HEAD_KEYS, syntheticLogit, topQuarterCount } from './index.js';
import { loadRun, trainRun } from './node.js';
import { syntheticDataset, tinyConfig, tinyEncoder, trainingBackend } from './test-helpers.js';

let encoder: Encoder;
let dir = '';

beforeAll(async () => {
  await trainingBackend();
  encoder = await tinyEncoder();
  dir = await mkdtemp(join(tmpdir(), 'aeflow-synthetic-'));
});
afterAll(async () => {
  encoder?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const nsaConfig = (o: Record<string, unknown> = {}, synthetic: 'nsa' | 'nsa-patch' = 'nsa') => tinyConfig({ score: { flow: 'knn', synthetic }, flow: { featureNorm: 'l2' }, knn: { k: 2 }, ...o });

/** The head's logit of one image by hand: per position w·f + b, then the mean over positions ('mean' pools first: the same by linearity) or of the highest quarter. */
function logitByHand(map: number[][][], w: Float32Array | Int32Array | Uint8Array, b: number, pooling: 'mean' | 'top-quarter'): number {
  const perPosition = map.flat().map((f) => f.reduce((acc, v, c) => acc + v * Number(w[c]), b));
  const kept = pooling === 'mean' ? perPosition : [...perPosition].sort((x, y) => y - x).slice(0, topQuarterCount(perPosition.length));
  return kept.reduce((x, y) => x + y, 0) / kept.length;
}

describe('blendPatches (NSA-style synthetic anomalies)', () => {
  it('blends a soft region of another image of the batch into each image: every pixel lies between the two, seeded', async () => {
    const images = new SeededRandom(1).uniformTensor([4, 16, 16, 1]) as tf.Tensor4D;
    const a = blendPatches(images, new SeededRandom(7));
    const b = blendPatches(images, new SeededRandom(7));
    const c = blendPatches(images, new SeededRandom(8));
    expect(a.shape).toEqual([4, 16, 16, 1]);
    const [x, ya, yb, yc] = [await images.data(), await a.data(), await b.data(), await c.data()];
    expect(Array.from(ya)).toEqual(Array.from(yb));
    expect(Array.from(ya)).not.toEqual(Array.from(yc));
    let changed = 0;
    for (let i = 0; i < 4; i++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let j = 0; j < 4; j++) {
        if (j === i) continue;
        for (let p = 0; p < 256; p++) {
          lo = Math.min(lo, x[j * 256 + p]!);
          hi = Math.max(hi, x[j * 256 + p]!);
        }
      }
      for (let p = 0; p < 256; p++) {
        const v = ya[i * 256 + p]!;
        const own = x[i * 256 + p]!;
        // a convex blend of the image's own pixel and some pixel of another image
        expect(v).toBeGreaterThanOrEqual(Math.min(own, lo) - 1e-6);
        expect(v).toBeLessThanOrEqual(Math.max(own, hi) + 1e-6);
        if (Math.abs(v - own) > 1e-3) changed++;
      }
    }
    // a region of every image, not the whole image
    expect(changed).toBeGreaterThan(4 * 8);
    expect(changed).toBeLessThan(4 * 256 * 0.9);
    expect(() => blendPatches(tf.slice(images, 0, 1), new SeededRandom(1))).toThrow(/at least 2/);
    tf.dispose([images, a, b, c]);
  });
});

describe('fitSyntheticHead', () => {
  it('learns to tell blended images from normals (its loss falls), standardises on the normals, and leaves only the head behind', async () => {
    const data = syntheticDataset('syn-head', 16, 0);
    const { images } = await loadImageBatch(data, data.items, { size: 32 });
    const before = tf.memory().numTensors;
    const losses: number[] = [];
    const head = await fitSyntheticHead(
      (x) => tf.tidy(() => encoder.features(encoder.normalize(x)).layer3!),
      256,
      async function* () {
        for (let i = 0; i < 16; i += 8) yield await Promise.resolve(tf.slice(images, i, 8));
      },
      { seed: 0, epochs: 8, lr: 1e-2, onEpoch: (_e, loss) => losses.push(loss) },
    );
    expect(tf.memory().numTensors).toBe(before + 3);
    expect(losses).toHaveLength(8);
    expect(losses[7]!).toBeLessThan(losses[0]!);
    expect(head.weight.shape).toEqual([256, 1]);
    const [mean, sd] = await head.stats.data();
    expect(Number.isFinite(mean!)).toBe(true);
    expect(sd!).toBeGreaterThan(0);
    tf.dispose([head.weight, head.bias, head.stats]);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });

  it("'top-quarter' pooling: a logit per position, the mean of each image's highest quarter; fitted with it, the loss falls and the statistics are those logits' on the normals", async () => {
    const data = syntheticDataset('syn-head-patch', 16, 0);
    const { images } = await loadImageBatch(data, data.items, { size: 32 });
    const encode = (x: tf.Tensor4D) => tf.tidy(() => encoder.features(encoder.normalize(x)).layer3!);
    const before = tf.memory().numTensors;
    const losses: number[] = [];
    const head = await fitSyntheticHead(encode, 256, async function* () {
      for (let i = 0; i < 16; i += 8) yield await Promise.resolve(tf.slice(images, i, 8));
    }, { seed: 0, epochs: 8, lr: 1e-2, pooling: 'top-quarter', onEpoch: (_e, loss) => losses.push(loss) });
    expect(tf.memory().numTensors).toBe(before + 3);
    expect(losses[7]!).toBeLessThan(losses[0]!);
    const features = encode(images);
    const [h, w] = features.shape.slice(1, 3) as [number, number];
    expect(h * w).toBeGreaterThanOrEqual(4); // a quarter is fewer positions than all of them
    const maps = (await features.array());
    const [wt, b] = [await head.weight.data(), (await head.bias.data())[0]!];
    const logits = tf.tidy(() => syntheticLogit(head, features, 'top-quarter'));
    const got = await logits.data();
    logits.dispose();
    const want = maps.map((m) => logitByHand(m, wt, b, 'top-quarter'));
    for (let i = 0; i < 16; i++) expect(got[i]).toBeCloseTo(want[i]!, 4);
    // differs from the mean pooling of the same head
    const mean = maps.map((m) => logitByHand(m, wt, b, 'mean'));
    expect(Math.max(...want.map((v, i) => Math.abs(v - mean[i]!)))).toBeGreaterThan(1e-3);
    const [m, sd] = await head.stats.data();
    const mu = want.reduce((x, y) => x + y, 0) / 16;
    expect(m).toBeCloseTo(mu, 4);
    expect(sd).toBeCloseTo(Math.sqrt(want.reduce((acc, v) => acc + (v - mu) ** 2, 0) / 15), 4);
    tf.dispose([features, head.weight, head.bias, head.stats]);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });
});

describe('MemoryBank.leaveOneOut', () => {
  it("is the mean and sd of each row's mean distance to its k nearest other rows (as brute force)", async () => {
    const rows = new SeededRandom(3).uniformTensor([7, 5]) as tf.Tensor2D;
    const bank = new MemoryBank(5, 'test');
    bank.add(tf.clone(rows));
    const x = (await rows.array());
    const per = x.map((r, i) => {
      const d = x.filter((_, j) => j !== i).map((o) => Math.sqrt(o.reduce((s, v, c) => s + (v - r[c]!) ** 2, 0))).sort((a, b) => a - b);
      return (d[0]! + d[1]!) / 2;
    });
    const mean = per.reduce((s, v) => s + v, 0) / 7;
    const sd = Math.sqrt(per.reduce((s, v) => s + (v - mean) ** 2, 0) / 6);
    const got = bank.leaveOneOut(2, 'test');
    expect(got.mean).toBeCloseTo(mean, 5);
    expect(got.sd).toBeCloseTo(sd, 5);
    bank.clear();
    bank.add(tf.slice(rows, 0, 1));
    expect(() => bank.leaveOneOut(2, 'test')).toThrow(/at least 2 training images/);
    bank.clear();
    rows.dispose();
  });
});

describe("score.synthetic 'nsa' / 'nsa-patch'", () => {
  it("'nsa' is the cpu preset's, off in the paper preset and older configs, needs score.flow 'knn' on a flow model, and leaving that setting turns it off", () => {
    expect(PRESETS.cpu.score.synthetic).toBe('nsa');
    expect(PRESETS.paper.score.synthetic).toBe('none');
    expect(resolveConfig({ score: { flow: 'density' } }).score.synthetic).toBe('none');
    expect(resolveConfig({ model: 'knn' }).score.synthetic).toBe('none');
    expect(resolveConfig({ model: 'fastflow' }).score.synthetic).toBe('nsa');
    expect(resolveConfig({ score: { synthetic: 'nsa-patch' } }).score.synthetic).toBe('nsa-patch');
    const old = JSON.parse(JSON.stringify(PRESETS.cpu)) as { score: Record<string, unknown> };
    delete old.score.synthetic;
    expect(parseRunConfig(old).score.synthetic).toBe('none');
    expect(resolveConfig({ preset: 'paper', score: { flow: 'knn', synthetic: 'nsa' } }).score.synthetic).toBe('nsa');
    expect(() => resolveConfig({ score: { synthetic: 'nsa', flow: 'density' } })).toThrow(/needs score\.flow "knn"/);
    expect(() => resolveConfig({ model: 'knn', score: { synthetic: 'nsa' } })).toThrow(/model "aeflow" or "fastflow"/);
    expect(() => resolveConfig({ score: { synthetic: 'nsa-patch', flow: 'nll' } })).toThrow(/score\.synthetic: "nsa-patch".*needs score\.flow "knn"/);
  });

  it.each(['nsa', 'nsa-patch'] as const)("'%s': trainRun fits the head before the flow; the flow part is the standardised kNN distance plus the standardised head logit; the head rides with the weights", async (synthetic) => {
    const train = syntheticDataset('nsa-train', 12, 0);
    const val = syntheticDataset('nsa-val', 6, 6, 32, 2);
    const runDir = join(dir, `run-${synthetic}`);
    const events: number[] = [];
    const config = nsaConfig({}, synthetic);
    await trainRun({ runDir, config, train: { dataset: train }, validation: { dataset: val }, encoder, cacheDir: null, onEvent: (e) => e.type === 'synthetic' && events.push(e.epoch) });
    expect(events).toEqual([1, 2, 3]);
    const model = await loadRun(runDir, { encoder });
    try {
      const head = model.synthetic!;
      expect(head).toBeDefined();
      expect(model.scoreParts.flow).toBe('latent_knn_nsa');
      const { images } = await loadImageBatch(val, val.items, { size: 32 });
      const features = model.encode(images);
      const s = model.scoreFromFeatures(features, images);
      // by hand: kNN distance (leave-one-out standardised) + head logit (standardised)
      const plain = new AEFlow(tinyConfig({ score: { flow: 'knn', synthetic: 'none' }, flow: { featureNorm: 'l2' }, knn: { k: 2 } }), encoder);
      const weights = model.getWeights();
      const withoutHead = Object.fromEntries(Object.entries(weights).filter(([k]) => !(SYNTHETIC_HEAD_KEYS as readonly string[]).includes(k)));
      plain.setWeights(withoutHead);
      const d = plain.scoreFromFeatures(features, images);
      const loo = plain.memory!.leaveOneOut(2, 'test');
      const maps = (await features.array());
      const [w, b, st] = [await head.weight.data(), (await head.bias.data())[0]!, await head.stats.data()];
      const distance = await d.flow.data();
      const got = await s.flow.data();
      for (let i = 0; i < 12; i++) {
        const logit = logitByHand(maps[i]!, w, b, synthetic === 'nsa' ? 'mean' : 'top-quarter');
        const want = (distance[i]! - loo.mean) / loo.sd + (logit - st[0]!) / st[1]!;
        expect(got[i]).toBeCloseTo(want, 3);
      }
      tf.dispose([images, features, s.flow, s.recon, s.total, s.residual, d.flow, d.recon, d.total, d.residual, ...Object.values(weights)]);
      plain.dispose(true);
    } finally {
      model.dispose(true);
    }
  });

  it('every training normal is in every pass of the head: a last batch of one joins the batch before it', async () => {
    const train = syntheticDataset('nsa-lone', 9, 0);
    const config = nsaConfig({ train: { batchSize: 4, epochs: 1, lr: 1e-3, validateEvery: 1, featureNoise: 0 } });
    const seen: number[] = [];
    await trainRun({ runDir: join(dir, 'run-nsa-lone'), config, train: { dataset: train }, encoder, cacheDir: null, onEvent: (e) => e.type === 'synthetic' && seen.push(e.images) });
    expect(seen).toEqual([9, 9, 9]);
  });

  it('a run stopped after the head was fitted resumes with the same head, without fitting it again', async () => {
    const train = syntheticDataset('nsa-resume', 12, 0);
    const runDir = join(dir, 'run-nsa-resume');
    const config = nsaConfig({ train: { batchSize: 4, epochs: 2, lr: 1e-3, validateEvery: 1, featureNoise: 0 } });
    const controller = new AbortController();
    const first: string[] = [];
    await trainRun({ runDir, config, train: { dataset: train }, encoder, cacheDir: null, signal: controller.signal, checkpointOnAbort: true, onEvent: (e) => {
      first.push(e.type);
      if (e.type === 'step') controller.abort();
    } });
    expect(first.filter((t) => t === 'synthetic')).toHaveLength(3);
    const second: string[] = [];
    const resumed = await trainRun({ runDir, resume: true, train: { dataset: train }, encoder, cacheDir: null, onEvent: (e) => second.push(e.type) });
    expect(resumed.stopped).toBe('done');
    expect(second).not.toContain('synthetic');
    const uninterrupted = join(dir, 'run-nsa-whole');
    await trainRun({ runDir: uninterrupted, config, train: { dataset: train }, encoder, cacheDir: null });
    const [a, b] = [await loadRun(runDir, { encoder }), await loadRun(uninterrupted, { encoder })];
    try {
      expect(Array.from(await a.synthetic!.weight.data())).toEqual(Array.from(await b.synthetic!.weight.data()));
      expect(Array.from(await a.synthetic!.stats.data())).toEqual(Array.from(await b.synthetic!.stats.data()));
    } finally {
      a.dispose(true);
      b.dispose(true);
    }
  });

  it('a model without its head says how to get one; weights with a head need the setting', () => {
    const model = new AEFlow(nsaConfig(), encoder);
    const images = new SeededRandom(4).uniformTensor([3, 32, 32, 3]) as tf.Tensor4D;
    const f = model.encode(images);
    model.addToMemory(f);
    expect(() => model.scoreFromFeatures(f, images)).toThrow(/needs the fitted synthetic-anomaly head/);
    const plain = new AEFlow(tinyConfig({ score: { flow: 'knn', synthetic: 'none' }, flow: { featureNorm: 'l2' } }), encoder);
    const head = { weight: tf.zeros<tf.Rank.R2>([256, 1]), bias: tf.zeros<tf.Rank.R1>([1]), stats: tf.tensor1d([0, 1]) };
    expect(() => plain.setSyntheticHead(head)).toThrow(/score\.synthetic is "none"/);
    model.setSyntheticHead(head);
    const weights = model.getWeights();
    expect(() => plain.setWeights(weights)).toThrow(/synthetic\.head\.\*, but the model's score\.synthetic is "none"/);
    tf.dispose([images, f, ...Object.values(weights)]);
    model.dispose(true);
    plain.dispose(true);
  });
});
