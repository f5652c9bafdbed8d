import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Encoder } from '@aeflow/backbone';
import { loadImageBatch } from '@aeflow/datasets';
import { SeededRandom } from '@aeflow/tensor';
import { MemoryBank, parseRunConfig, PRESETS, resolveConfig } from './index.js';
import { loadRun, trainRun } from './node.js';
import { syntheticDataset, tinyConfig, tinyEncoder, trainingBackend } from './test-helpers.js';

let encoder: Encoder;
let dir = '';

beforeAll(async () => {
  await trainingBackend();
  encoder = await tinyEncoder();
  dir = await mkdtemp(join(tmpdir(), 'aeflow-regions-'));
});
afterAll(async () => {
  encoder?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const euclid = (a: number[], b: number[]): number => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0));
const meanOfK = (distances: number[], k: number): number => [...distances].sort((x, y) => x - y).slice(0, k).reduce((s, v) => s + v, 0) / k;
/** Per block of `width` columns, the mean distance to the k nearest rows' same block (skipping row `self`), averaged over the blocks: by brute force. */
function regionDistanceByHand(query: number[], memory: number[][], width: number, k: number, self = -1): number {
  const blocks = query.length / width;
  let sum = 0;
  for (let r = 0; r < blocks; r++) {
    const part = (row: number[]) => row.slice(r * width, (r + 1) * width);
    sum += meanOfK(memory.filter((_, j) => j !== self).map((m) => euclid(part(query), part(m))), k);
  }
  return sum / blocks;
}

describe('MemoryBank with regions', () => {
  it('finds the nearest rows per region (equal blocks of columns) and averages the distances; leave-one-out does the same without the row itself', async () => {
    const rows = new SeededRandom(5).uniformTensor([9, 6]) as tf.Tensor2D;
    const queries = new SeededRandom(6).uniformTensor([4, 6]) as tf.Tensor2D;
    const bank = new MemoryBank(6, 'test', 2);
    bank.add(tf.clone(rows));
    const [x, q] = [await rows.array(), await queries.array()];
    bank.tensor('test'); // the memory's rows, concatenated once and kept
    const before = tf.memory().numTensors;
    const got = await bank.regionDistance(queries, 3, 'test').data();
    expect(tf.memory().numTensors).toBe(before + 1);
    for (let i = 0; i < 4; i++) expect(got[i]).toBeCloseTo(regionDistanceByHand(q[i]!, x, 3, 3), 5);
    // not the whole row's distance: the two halves' nearest rows differ here
    const whole = new MemoryBank(6, 'test');
    whole.add(tf.clone(rows));
    const wholeDistance = await whole.nearest(queries, 3, false, 'test').distance.data();
    expect(Array.from(got).some((v, i) => Math.abs(v - wholeDistance[i]!) > 1e-3)).toBe(true);
    const per = x.map((r, i) => regionDistanceByHand(r, x, 3, 2, i));
    const mean = per.reduce((s, v) => s + v, 0) / per.length;
    const sd = Math.sqrt(per.reduce((s, v) => s + (v - mean) ** 2, 0) / (per.length - 1));
    const loo = bank.leaveOneOut(2, 'test');
    expect(loo.mean).toBeCloseTo(mean, 5);
    expect(loo.sd).toBeCloseTo(sd, 5);
    expect(() => bank.regionDistance(tf.zeros([1, 4]), 2, 'test')).toThrow(/query rows of 4 channels against a memory of 6/);
    expect(() => new MemoryBank(7, 'test', 2)).toThrow(/2 regions do not split rows of 7 channels/);
    tf.dispose([rows, queries]);
    bank.clear();
    whole.clear();
    tf.disposeVariables();
  });
});

describe("knn.regions 'left-right'", () => {
  it("is the cpu preset's, off ('whole') in the paper preset and older configs; it needs the latent kNN of a flow model, and leaving that setting turns it off", () => {
    expect(PRESETS.cpu.knn.regions).toBe('left-right');
    expect(PRESETS.paper.knn.regions).toBe('whole');
    expect(resolveConfig({ model: 'knn' }).knn.regions).toBe('whole');
    expect(resolveConfig({ score: { flow: 'density' } }).knn.regions).toBe('whole');
    expect(resolveConfig({ model: 'fastflow' }).knn.regions).toBe('left-right');
    const old = JSON.parse(JSON.stringify(PRESETS.cpu)) as { knn: Record<string, unknown> };
    delete old.knn.regions;
    expect(parseRunConfig(old).knn.regions).toBe('whole');
    const older = JSON.parse(JSON.stringify(PRESETS.cpu)) as Record<string, unknown>;
    delete older.knn;
    expect(parseRunConfig(older).knn).toEqual({ k: 5, regions: 'whole' });
    expect(resolveConfig({ knn: { k: 3 } }).knn).toEqual({ k: 3, regions: 'left-right' });
    expect(resolveConfig({ knn: { regions: 'whole' } }).knn).toEqual({ k: 5, regions: 'whole' });
    expect(() => resolveConfig({ model: 'knn', knn: { regions: 'left-right' } })).toThrow(/knn\.regions: "left-right".*model "aeflow" or "fastflow".*set knn\.regions "whole"/);
    expect(() => resolveConfig({ score: { flow: 'density' }, knn: { regions: 'left-right' } })).toThrow(/needs score\.flow "knn"/);
  });

  it.each([32, 48])('at %i px: the memory holds each training image as its left and right halves of z′, pooled; the flow part is the two halves’ kNN distances averaged; it rides with the run', async (size) => {
    const train = syntheticDataset(`lr-train-${size}`, 10, 0, size);
    const val = syntheticDataset(`lr-val-${size}`, 3, 3, size, 2);
    const runDir = join(dir, `run-${size}`);
    const config = tinyConfig({ size, score: { flow: 'knn', synthetic: 'none' }, flow: { featureNorm: 'l2' }, knn: { k: 2, regions: 'left-right' }, train: { epochs: 1, batchSize: 5 } });
    await trainRun({ runDir, config, train: { dataset: train }, validation: { dataset: val }, encoder, cacheDir: null });
    const model = await loadRun(runDir, { encoder });
    try {
      expect(model.config.knn.regions).toBe('left-right');
      const c = model.featureChannels;
      const weights = model.getWeights();
      expect(weights['memory.bank']!.shape).toEqual([10, 2 * c]);
      // the halves by hand: at 48 px the map is 3 wide, and its middle column is in both halves
      const halves = async (images: tf.Tensor4D): Promise<number[][]> => {
        const features = model.encode(images);
        const z = model.flow(features).z;
        const maps = await z.array();
        tf.dispose([features, z]);
        const w = maps[0]![0]!.length;
        const half = Math.ceil(w / 2);
        const pool = (m: number[][][], from: number): number[] => {
          const out = new Array<number>(c).fill(0);
          for (const row of m) for (let j = from; j < from + half; j++) row[j]!.forEach((v, k) => (out[k] = out[k]! + v / (m.length * half)));
          return out;
        };
        return maps.map((m) => [...pool(m, 0), ...pool(m, w - half)]);
      };
      const trained = await loadImageBatch(train, train.items, { size });
      const memory = await halves(trained.images);
      const bank = await weights['memory.bank']!.array() as number[][];
      // the memory was filled from the feature cache (float16): equal to about 1e-3
      bank.forEach((row, i) => row.forEach((v, k) => expect(Math.abs(v - memory[i]![k]!)).toBeLessThan(1e-3 * (1 + Math.abs(v)))));
      const scored = await loadImageBatch(val, val.items, { size });
      const queries = await halves(scored.images);
      const features = model.encode(scored.images);
      const warm = model.scoreFromFeatures(features, scored.images); // concatenates the memory once (kept)
      tf.dispose([warm.flow, warm.recon, warm.total, warm.residual]);
      const before = tf.memory().numTensors;
      const s = model.scoreFromFeatures(features, scored.images);
      const got = await s.flow.data();
      queries.forEach((q, i) => expect(got[i]).toBeCloseTo(regionDistanceByHand(q, bank, c, 2), 3));
      tf.dispose([s.flow, s.recon, s.total, s.residual]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([trained.images, scored.images, features, ...Object.values(weights)]);
    } finally {
      model.dispose(true);
    }
  });
});
