/** Layer-specific behaviour beyond the shared property suite. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, perturb, randomInput, useBackend } from '../test/helpers.js';
import { ActNorm } from './actnorm.js';
import { AffineCoupling } from './affine-coupling.js';
import { convSubnet } from './conv-subnet.js';
import { createAllInOneFlow } from './create-all-in-one-flow.js';
import { bitsPerDim, nllPerDim, standardNormalLogProb } from './density.js';
import { InvertibleConv1x1 } from './invertible-conv1x1.js';
import { logAbsDet } from './linalg.js';
import { mlpSubnet } from './mlp-subnet.js';
import { Permute } from './permute.js';
import { ResNetSubnet } from './resnet-subnet.js';
import { seededRandom } from './random.js';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('AffineCoupling', () => {
  it('follows the FrEIA formula: y1 = x1, y2 = x2·exp(clamp·tanh(s/clamp)) + t with [s, t] = 0.1·subnet(x1)', () => {
    for (const clampMode of ['soft', 'legacy'] as const) {
      const layer = new AffineCoupling({ channels: 5, subnet: mlpSubnet({ hiddenChannels: 6 }), clampMode, clamp: 1.7, seed: 3 });
      perturb(layer.trainableVariables, 4, 0.5);
      const x = randomInput([4, 5], 5);
      const { y, logDet } = layer.forward(x);
      const [x1, x2] = tf.split(x, [3, 2], -1);
      const a = tf.mul(layer.subnet.apply(x1!, false), 0.1);
      const [s, t] = tf.split(a, [2, 2], -1);
      const j = clampMode === 'soft' ? tf.mul(tf.tanh(tf.div(s!, 1.7)), 1.7) : tf.mul(tf.tanh(s!), 1.7);
      const expected = tf.concat([x1!, tf.add(tf.mul(x2!, tf.exp(j)), t!)], -1);
      expect(maxAbsDiff(y, expected)).toBeLessThan(1e-6);
      expect(maxAbsDiff(logDet, tf.sum(j, 1))).toBeLessThan(1e-6);
      layer.dispose();
    }
  });

  it('starts as the identity (zero-initialised last layers)', () => {
    const flow = createAllInOneFlow({ channels: 6, blocks: 2, subnet: 'resnet', hiddenChannels: 4, permutation: 'random', seed: 1 });
    const x = randomInput([2, 3, 3, 6], 1);
    const { y, logDet } = flow.forward(x);
    // Only the permutations act: y is x with channels permuted, log-det 0.
    expect(tf.max(tf.abs(logDet)).dataSync()[0]).toBeLessThan(1e-6);
    const sorted = (t: tf.Tensor): number[] => Array.from(t.dataSync()).sort((p, q) => p - q);
    expect(sorted(y)).toEqual(sorted(x));
    expect(maxAbsDiff(y, x)).toBeGreaterThan(0.1);
    flow.dispose();
  });

  it('names the coupling when its subnet produces NaN/Inf', () => {
    const layer = new AffineCoupling({ channels: 4, subnet: convSubnet({ hiddenChannels: 4 }), seed: 1, name: 'block3.coupling' });
    const w = layer.getWeights();
    const inf = tf.fill([4], Number.POSITIVE_INFINITY);
    layer.setWeights({ ...w, 'subnet.conv2.bias': inf });
    tf.dispose([...Object.values(w), inf]);
    const x = randomInput([1, 2, 2, 4], 2);
    expect(() => layer.forward(x)).toThrow('AffineCoupling "block3.coupling": forward output (the subnet produced NaN/Inf) contains NaN or Inf');
    // With checks off the caller gets the non-finite values (for tight loops).
    const r = layer.forward(x, { checkFinite: false });
    expect(Number.isFinite(tf.sum(r.y).dataSync()[0]!)).toBe(false);
    layer.dispose();
  });

  it('rejects one channel, rank-2 input to a conv subnet, and a subnet of the wrong width', () => {
    expect(() => new AffineCoupling({ channels: 1, subnet: mlpSubnet() })).toThrow(/channels must be a whole number >= 2/);
    const layer = new AffineCoupling({ channels: 4, subnet: convSubnet() });
    expect(() => layer.forward(tf.zeros([3, 4]))).toThrow(/ConvSubnet: input has rank 2 .* must be rank 4 NHWC/);
    const sub = new ResNetSubnet(2, 4, seededRandom(1));
    expect(() => new AffineCoupling({ channels: 5, subnet: sub })).toThrow(/maps 2 → 4 channels but this coupling needs 3 → 4/);
    expect(() => layer.forward(tf.zeros([1, 2, 2, 4], 'int32'))).toThrow(/dtype int32/);
    layer.dispose();
    sub.dispose();
  });
});

describe('ResNet subnet BatchNorm', () => {
  it('uses batch statistics in training, running statistics in eval, and updates them with momentum 0.1', () => {
    const sub = new ResNetSubnet(2, 4, seededRandom(1), { hiddenChannels: 3, zeroInitLast: false });
    const x = randomInput([4, 3, 3, 2], 3, 2);
    const h = sub.conv1.apply(x);
    const { mean, variance } = tf.moments(h, [0, 1, 2]);
    const n = h.size / 3;
    tf.dispose(sub.apply(x, true));
    expect(maxAbsDiff(sub.bn1.runningMean, tf.mul(mean, 0.1))).toBeLessThan(1e-6);
    expect(maxAbsDiff(sub.bn1.runningVar, tf.add(0.9, tf.mul(variance, (0.1 * n) / (n - 1))))).toBeLessThan(1e-5);
    const evalOut = sub.apply(x, false);
    const expected = tf.add(
      sub.conv2.apply(tf.relu(tf.batchNorm(h, sub.bn1.runningMean, sub.bn1.runningVar, sub.bn1.bias, sub.bn1.weight, 1e-5))),
      sub.shortcut.apply(x),
    );
    expect(maxAbsDiff(evalOut, expected)).toBeLessThan(1e-5);
    const trainOut = sub.apply(x, true);
    expect(maxAbsDiff(trainOut, evalOut)).toBeGreaterThan(1e-3);
    sub.dispose();
  });
});

describe('ActNorm', () => {
  it('starts at scale 1 in both parameterisations, with FrEIA\'s gamma = 2·ln(e^5 − 1)', () => {
    const soft = new ActNorm({ channels: 3 });
    expect(soft.scaleParam.dataSync()[0]).toBeCloseTo(2 * Math.log(Math.exp(5) - 1), 5);
    expect(Array.from(soft.scale().dataSync())).toEqual([1, 1, 1].map((v) => expect.closeTo(v, 6) as number));
    const exp = new ActNorm({ channels: 3, scaleActivation: 'exp', initScale: 2 });
    expect(exp.scale().dataSync()[0]).toBeCloseTo(2, 6);
    // FrEIA AllInOneBlock's names and shapes for both parameterisations.
    for (const layer of [soft, exp]) {
      const w = layer.getWeights();
      expect(Object.keys(w)).toEqual(['global_scale', 'global_offset']);
      expect(w.global_scale!.shape).toEqual([1, 3, 1, 1]);
      expect(Array.from(w.global_scale!.dataSync())).toEqual(Array.from(layer.scaleParam.dataSync()));
      tf.dispose(Object.values(w));
    }
    soft.dispose();
    exp.dispose();
  });

  it('data-dependent initialisation gives zero mean and unit variance per channel', () => {
    for (const scaleActivation of ['softplus', 'exp'] as const) {
      const layer = new ActNorm({ channels: 3, dataInit: true, scaleActivation });
      const x = tf.add(tf.mul(randomInput([64, 2, 2, 3], 9), tf.tensor1d([0.5, 2, 3])), tf.tensor1d([1, -2, 0.3]));
      const { y } = layer.forward(x);
      const { mean, variance } = tf.moments(y, [0, 1, 2]);
      expect(tf.max(tf.abs(mean)).dataSync()[0]).toBeLessThan(1e-4);
      expect(tf.max(tf.abs(tf.sub(variance, 1))).dataSync()[0]).toBeLessThan(1e-3);
      // Only the first pass initialises.
      const again = layer.forward(tf.mul(x, 3)).y;
      expect(maxAbsDiff(again, tf.mul(y, 1))).toBeGreaterThan(0.1);
      layer.dispose();
    }
  });
});

describe('InvertibleConv1x1', () => {
  it('W = P·L·(U + diag(s)) is orthogonal at the start and its log-det is H·W·log|det W| (direct determinant)', () => {
    const layer = new InvertibleConv1x1({ channels: 5, seed: 4 });
    perturb(layer.trainableVariables, 5, 0.2);
    const w = Array.from(layer.weight().dataSync());
    const x = randomInput([2, 3, 2, 5], 6);
    const { y, logDet } = layer.forward(x);
    expect(logDet.dataSync()[0]).toBeCloseTo(6 * logAbsDet(w, 5), 4);
    // y = W·x per position.
    const expected = tf.matMul(tf.reshape(x, [-1, 5]), tf.tensor2d(w, [5, 5]), false, true);
    expect(maxAbsDiff(y, tf.reshape(expected, x.shape))).toBeLessThan(1e-5);
    layer.dispose();
    const fresh = new InvertibleConv1x1({ channels: 5, seed: 4 });
    const wq = tf.tensor2d(Array.from(fresh.weight().dataSync()), [5, 5]);
    expect(maxAbsDiff(tf.matMul(wq, wq, false, true), tf.eye(5))).toBeLessThan(1e-5);
    fresh.dispose();
  });

  it('refreshes its cached inverse when the weights change', () => {
    const layer = new InvertibleConv1x1({ channels: 3, seed: 1 });
    const x = randomInput([2, 3], 2);
    tf.dispose(layer.inverse(x).x);
    perturb(layer.trainableVariables, 3, 0.3);
    const { y } = layer.forward(x);
    expect(maxAbsDiff(layer.inverse(y).x, x)).toBeLessThan(1e-5);
    layer.dispose();
  });
});

describe('Permute', () => {
  it('reverse is the paper\'s channel reversal; an explicit permutation is kept and validated', () => {
    const p = new Permute({ channels: 4 });
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    expect(Array.from(p.forward(x).y.dataSync())).toEqual([4, 3, 2, 1]);
    const q = new Permute({ channels: 4, permutation: [2, 0, 3, 1] });
    expect(Array.from(q.forward(x).y.dataSync())).toEqual([3, 1, 4, 2]);
    const qw = q.getWeights();
    expect(qw.permutation!.dtype).toBe('int32');
    expect(Array.from(qw.permutation!.dataSync())).toEqual([2, 0, 3, 1]);
    tf.dispose(Object.values(qw));
    expect(() => new Permute({ channels: 3, permutation: [0, 0, 1] })).toThrow(/not a permutation of 0..2/);
    expect(() => q.setWeights({ permutation: tf.tensor1d([0, 1, 1, 2], 'int32') })).toThrow(/"permutation" is invalid/);
    const seeded = new Permute({ channels: 16, permutation: 'random', seed: 3 });
    expect(new Permute({ channels: 16, permutation: 'random', seed: 3 }).permutation).toEqual(seeded.permutation);
    expect(new Permute({ channels: 16, permutation: 'random', seed: 4 }).permutation).not.toEqual(seeded.permutation);
  });
});

describe('SequenceFlow keys and createAllInOneFlow', () => {
  it('uses PyTorch-like dotted keys prefixed by the block index', () => {
    const flow = createAllInOneFlow({ channels: 4, blocks: 2, subnet: 'resnet', hiddenChannels: 3 });
    const w = flow.getWeights();
    expect(Object.keys(w).filter((k) => k.startsWith('1.'))).toEqual([
      '1.coupling.subnet.conv1.weight',
      '1.coupling.subnet.bn1.weight',
      '1.coupling.subnet.bn1.bias',
      '1.coupling.subnet.bn1.running_mean',
      '1.coupling.subnet.bn1.running_var',
      '1.coupling.subnet.bn1.num_batches_tracked',
      '1.coupling.subnet.conv2.weight',
      '1.coupling.subnet.conv2.bias',
      '1.coupling.subnet.shortcut.weight',
      '1.coupling.subnet.shortcut.bias',
      '1.actnorm.global_scale',
      '1.actnorm.global_offset',
      '1.permute.permutation',
    ]);
    // PyTorch layouts: Conv2d [out, in, kh, kw] (1×1 as [out, in, 1, 1]), BatchNorm [C].
    const shapes = Object.fromEntries(Object.entries(w).map(([k, t]) => [k, t.shape]));
    expect(shapes['0.coupling.subnet.conv1.weight']).toEqual([3, 2, 3, 3]);
    expect(shapes['0.coupling.subnet.bn1.running_var']).toEqual([3]);
    expect(shapes['0.coupling.subnet.bn1.num_batches_tracked']).toEqual([]);
    expect(shapes['0.coupling.subnet.conv2.weight']).toEqual([4, 3, 1, 1]);
    expect(shapes['0.coupling.subnet.shortcut.weight']).toEqual([4, 2, 1, 1]);
    expect(shapes['0.actnorm.global_offset']).toEqual([1, 4, 1, 1]);
    expect(shapes['0.permute.permutation']).toEqual([4]);
    const wrong = tf.zeros([3, 2, 4, 4]);
    const bad = { ...w, '1.coupling.subnet.conv1.weight': wrong };
    expect(() => flow.setWeights(bad)).toThrow('weight "1.coupling.subnet.conv1.weight" has shape [3, 2, 4, 4] but the layer expects [3, 2, 3, 3]');
    tf.dispose([...Object.values(w), wrong]);
    flow.dispose();
  });

  it('is reproducible from the seed and differs between seeds', () => {
    const a = createAllInOneFlow({ channels: 4, blocks: 2, subnet: 'conv', permutation: 'random', seed: 5 });
    const b = createAllInOneFlow({ channels: 4, blocks: 2, subnet: 'conv', permutation: 'random', seed: 5 });
    const c = createAllInOneFlow({ channels: 4, blocks: 2, subnet: 'conv', permutation: 'random', seed: 6 });
    const key = '0.coupling.subnet.conv1.weight';
    const [wa, wb, wc] = [a, b, c].map((f) => f.getWeights());
    expect(maxAbsDiff(wa![key]!, wb![key]!)).toBe(0);
    expect(maxAbsDiff(wa![key]!, wc![key]!)).toBeGreaterThan(0);
    [wa, wb, wc].forEach((w) => tf.dispose(Object.values(w!)));
    expect(() => createAllInOneFlow({ channels: 1 })).toThrow(/channels must be a whole number >= 2/);
    expect(() => createAllInOneFlow({ channels: 4, subnet: 'dense' as 'conv' })).toThrow(/subnet must be/);
    [a, b, c].forEach((f) => f.dispose());
  });
});

describe('densities', () => {
  it('standardNormalLogProb, nllPerDim and bitsPerDim match the formulas', () => {
    const z = tf.tensor2d([
      [0, 0, 0],
      [1, -2, 0.5],
    ]);
    const logDet = tf.tensor1d([0, 1.5]);
    const lp = standardNormalLogProb(z).dataSync();
    const c = -1.5 * Math.log(2 * Math.PI);
    expect(lp[0]).toBeCloseTo(c, 5);
    expect(lp[1]).toBeCloseTo(c - 0.5 * (1 + 4 + 0.25), 5);
    const nll = nllPerDim(z, logDet).dataSync();
    expect(nll[1]).toBeCloseTo(-(lp[1]! + 1.5) / 3, 5);
    const bits = bitsPerDim(z, logDet, { levels: 256 }).dataSync();
    expect(bits[1]).toBeCloseTo(nll[1]! / Math.LN2 + 8, 5);
    expect(() => nllPerDim(z, tf.tensor1d([1]))).toThrow(/logDet must have shape \[2\]/);
    // Its hand-written gradient equals autodiff of the plain formula.
    const zz = randomInput([2, 2, 3, 2], 4);
    const w = tf.tensor1d([0.3, -1.2]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(standardNormalLogProb(t), w)))(zz);
    const ref = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.mul(tf.sum(tf.square(t), [1, 2, 3]), -0.5), w)))(zz);
    expect(maxAbsDiff(g, ref)).toBeLessThan(1e-5);
    expect(() => standardNormalLogProb(tf.tensor1d([1]))).toThrow(/rank >= 2/);
  });
});
