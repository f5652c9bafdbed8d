/** Conditional couplings (FrEIA's `cond_shape` / `c`) and the positional encoding they are fed. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, perturb, randomInput, useBackend } from '../test/helpers.js';
import { AffineCoupling } from './affine-coupling.js';
import { convSubnet } from './conv-subnet.js';
import { createAllInOneFlow } from './create-all-in-one-flow.js';
import { positionalEncoding2d } from './positional-encoding.js';

beforeAll(async () => {
  await useBackend('cpu');
});

function conditionalCoupling(seed = 1): AffineCoupling {
  const c = new AffineCoupling({ channels: 4, subnet: convSubnet({ hiddenChannels: 8 }), conditionChannels: 4, seed });
  perturb(c.trainableVariables, seed + 10, 0.3);
  return c;
}

describe('conditional AffineCoupling', () => {
  it('builds its subnet for the passive half plus the condition channels', () => {
    const c = conditionalCoupling();
    expect(c.subnet.inChannels).toBe(2 + 4);
    const w = c.getWeights();
    // PyTorch layout [out, in, kh, kw]: the first conv reads x1 and c.
    expect(w['subnet.conv1.weight']!.shape).toEqual([8, 6, 3, 3]);
    tf.dispose(Object.values(w));
    c.dispose();
  });

  it('depends on the condition, and inverts exactly only with the condition it was given', () => {
    const c = conditionalCoupling();
    const x = randomInput([2, 3, 3, 4], 2);
    const c1 = randomInput([2, 3, 3, 4], 3);
    const c2 = randomInput([2, 3, 3, 4], 4);
    const a = c.forward(x, { condition: c1 });
    const b = c.forward(x, { condition: c2 });
    expect(maxAbsDiff(a.y, b.y)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(a.logDet, b.logDet)).toBeGreaterThan(1e-4);
    const back = c.inverse(a.y, { condition: c1 });
    expect(maxAbsDiff(back.x, x)).toBeLessThan(1e-5);
    expect(maxAbsDiff(tf.neg(back.logDet), a.logDet)).toBeLessThan(1e-4);
    const wrong = c.inverse(a.y, { condition: c2 });
    expect(maxAbsDiff(wrong.x, x)).toBeGreaterThan(1e-3);
    tf.dispose([x, c1, c2, a.y, a.logDet, b.y, b.logDet, back.x, back.logDet, wrong.x, wrong.logDet]);
    c.dispose();
  });

  it('broadcasts a batch-1 condition over the batch exactly as an explicit copy per sample', () => {
    const c = conditionalCoupling();
    const x = randomInput([3, 2, 2, 4], 5);
    const one = positionalEncoding2d(2, 2, 4);
    const tiled = tf.tile(one, [3, 1, 1, 1]);
    const a = c.forward(x, { condition: one });
    const b = c.forward(x, { condition: tiled });
    expect(maxAbsDiff(a.y, b.y)).toBe(0);
    expect(maxAbsDiff(a.logDet, b.logDet)).toBe(0);
    tf.dispose([x, one, tiled, a.y, a.logDet, b.y, b.logDet]);
    c.dispose();
  });

  it('a whole flow passes the condition to every coupling and leaves no tensor behind', () => {
    const flow = createAllInOneFlow({ channels: 4, blocks: 3, subnet: 'conv', hiddenChannels: 8, conditionChannels: 4, seed: 3 });
    perturb(flow.trainableVariables, 30, 0.3);
    const x = randomInput([2, 3, 3, 4], 6);
    const cond = positionalEncoding2d(3, 3, 4);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const f = flow.forward(x, { condition: cond });
      const inv = flow.inverse(f.y, { condition: cond });
      expect(maxAbsDiff(inv.x, x)).toBeLessThan(1e-4);
      tf.dispose([f.y, f.logDet, inv.x, inv.logDet]);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(() => flow.forward(x)).toThrow(/block0\.coupling.*needs a condition \(options\.condition\) of shape \[2, 3, 3, 4\]/);
    tf.dispose([x, cond]);
    flow.dispose();
  });

  it('rejects a missing, unexpected or misshapen condition with an error naming the shapes', () => {
    const c = conditionalCoupling();
    const plain = new AffineCoupling({ channels: 4, subnet: convSubnet({ hiddenChannels: 8 }), name: 'plain' });
    const x = randomInput([2, 3, 3, 4], 7);
    const good = positionalEncoding2d(3, 3, 4);
    const wrongChannels = positionalEncoding2d(3, 3, 8);
    const wrongGrid = positionalEncoding2d(2, 3, 4);
    const wrongBatch = randomInput([3, 3, 3, 4], 8);
    expect(() => c.forward(x)).toThrow(/needs a condition .* it was built with conditionChannels 4/);
    expect(() => c.inverse(x)).toThrow(/needs a condition/);
    expect(() => c.forward(x, { condition: wrongChannels })).toThrow('the condition has shape [1, 3, 3, 8] but the input [2, 3, 3, 4] needs [2, 3, 3, 4] (or batch 1)');
    expect(() => c.forward(x, { condition: wrongGrid })).toThrow(/condition has shape \[1, 2, 3, 4\]/);
    expect(() => c.forward(x, { condition: wrongBatch })).toThrow(/condition has shape \[3, 3, 3, 4\]/);
    expect(() => plain.forward(x, { condition: good })).toThrow(/AffineCoupling "plain": was given a condition but was built without one .*conditionChannels: 4/);
    expect(() => new AffineCoupling({ channels: 4, subnet: convSubnet({}), conditionChannels: -1 })).toThrow(/conditionChannels must be a whole number >= 0/);
    tf.dispose([x, good, wrongChannels, wrongGrid, wrongBatch]);
    c.dispose();
    plain.dispose();
  });
});

describe('positionalEncoding2d', () => {
  it('is [1, h, w, channels] of sin/cos pairs in [-1, 1] that tell every position apart', () => {
    const pe = positionalEncoding2d(8, 6, 8);
    expect(pe.shape).toEqual([1, 8, 6, 8]);
    const v = pe.dataSync();
    expect(Math.max(...v)).toBeLessThanOrEqual(1);
    expect(Math.min(...v)).toBeGreaterThanOrEqual(-1);
    // sin² + cos² = 1 per axis and frequency.
    for (let p = 0; p < 48; p++) for (let q = 0; q < 8; q += 2) expect(v[p * 8 + q]! ** 2 + v[p * 8 + q + 1]! ** 2).toBeCloseTo(1, 6);
    const keys = new Set<string>();
    for (let p = 0; p < 48; p++) keys.add(Array.from(v.slice(p * 8, p * 8 + 8), (a) => a.toFixed(4)).join(','));
    expect(keys.size).toBe(48);
    // Position (row 2, column 5): u = 2.5/8, v = 5.5/6; channels k = 1 are sin/cos(2π·u), sin/cos(2π·v).
    const at = (2 * 6 + 5) * 8;
    expect(v[at + 4]).toBeCloseTo(Math.sin(2 * Math.PI * (2.5 / 8)), 6);
    expect(v[at + 7]).toBeCloseTo(Math.cos(2 * Math.PI * (5.5 / 6)), 6);
    pe.dispose();
  });

  it('measures positions as fractions of the map: a 1×1 map sits at its centre, u = v = ½', () => {
    const small = positionalEncoding2d(1, 1, 4).dataSync();
    // A 1×1 map sits at u = v = ½: sin(π/2) = 1, cos(π/2) = 0.
    expect(Array.from(small, (a) => Number(a.toFixed(6)) + 0)).toEqual([1, 0, 1, 0]);
  });

  it('rejects sizes that are not whole and channel counts that are not multiples of 4', () => {
    expect(() => positionalEncoding2d(0, 4, 4)).toThrow(/height must be a whole number >= 1, got 0/);
    expect(() => positionalEncoding2d(4, 2.5, 4)).toThrow(/width must be a whole number >= 1, got 2.5/);
    expect(() => positionalEncoding2d(4, 4, 6)).toThrow(/multiple of 4 .* got 6/);
  });
});
