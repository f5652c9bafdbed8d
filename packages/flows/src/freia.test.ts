/**
 * FrEIA interoperability on FrEIA's own outputs: the 13 fixtures of $AEFLOW_HOME/golden/freia
 * (both FrEIA eras, bare AllInOneBlocks and SequenceINNs, one folder per option) are loaded
 * exactly as FrEIA saved them and must reproduce FrEIA's z, log-det and inverse.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensors } from '@aeflow/tensor/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, maxAbsDiff, useBackend } from '../test/helpers.js';
import { AllInOneBlock } from './all-in-one-block.js';
import { fromFreiaStateDict, inspectFreiaStateDict, type FromFreiaOptions } from './freia.js';
import { SequenceFlow } from './sequence-flow.js';

const HOME = process.env.AEFLOW_HOME;
const FIXTURES = HOME ? join(HOME, 'golden', 'freia') : '';
const HAVE_FIXTURES = FIXTURES !== '' && existsSync(FIXTURES);
const SKIP_REASON = 'needs the FrEIA fixtures: set AEFLOW_HOME to the shared folder (holding golden/freia)';

interface Meta {
  name: string;
  blocks: number;
  C: number;
  H: number;
  W: number;
  N: number;
  subnet: 'conv31' | 'fastflow';
  hidden?: number;
  kernel?: number;
  clamp?: number;
  gat?: 'SOFTPLUS' | 'SIGMOID' | 'EXP';
  permute_soft?: boolean;
  reverse_permutation?: boolean;
  gin_block?: boolean;
  mode: 'current' | 'legacy';
}

const cases: string[] = HAVE_FIXTURES ? readdirSync(FIXTURES).filter((d) => existsSync(join(FIXTURES, d, 'meta.json'))).sort() : [];

/** FrEIA's constructor arguments of a fixture, under the names fromFreiaStateDict takes. */
function optionsOf(meta: Meta): FromFreiaOptions {
  return {
    subnet: meta.subnet,
    ...(meta.clamp !== undefined ? { affineClamping: meta.clamp } : {}),
    ...(meta.gat ? { globalAffineType: meta.gat } : {}),
    ...(meta.permute_soft ? { permuteSoft: true, clampMode: meta.mode === 'current' ? 'soft' : 'legacy' } : {}),
    ...(meta.reverse_permutation ? { reversePermutation: true } : {}),
    ...(meta.gin_block ? { ginBlock: true } : {}),
  };
}

const toNhwc = (t: tf.Tensor): tf.Tensor => tf.transpose(t, [0, 2, 3, 1]);

/** max |a − b| relative to max(1, max |b|). */
function relDiff(a: tf.Tensor, b: tf.Tensor): number {
  const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(b)).dataSync()[0]!));
  return maxAbsDiff(a, b) / scale;
}

describe.skipIf(!HAVE_FIXTURES)(`FrEIA fixtures (${HAVE_FIXTURES ? FIXTURES : SKIP_REASON})`, () => {
  it('has all 13 cases, both eras', () => {
    expect(cases).toHaveLength(13);
    const modes = new Set(cases.map((d) => (JSON.parse(readFileSync(join(FIXTURES, d, 'meta.json'), 'utf8')) as Meta).mode));
    expect([...modes].sort()).toEqual(['current', 'legacy']);
  });

  describe.each(BACKENDS)('on %s', (backend) => {
    beforeAll(async () => {
      await useBackend(backend);
    });

    describe.each(cases)('%s', (name) => {
      const dir = join(FIXTURES, name);
      const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as Meta;
      let weights: Record<string, tf.Tensor>;
      let io: Record<string, tf.Tensor>;
      beforeAll(async () => {
        weights = await readSafetensors(join(dir, 'weights.safetensors'));
        io = await readSafetensors(join(dir, 'io.safetensors'));
      });
      afterAll(() => {
        tf.dispose([...Object.values(weights), ...Object.values(io)]);
      });

      it('inspects shapes, era and subnet from the tensors alone', () => {
        const info = inspectFreiaStateDict(weights);
        expect(info.container).toBe(meta.blocks > 0 ? 'SequenceINN' : 'AllInOneBlock');
        expect(info.blocks).toBe(Math.max(1, meta.blocks));
        expect(info.channels).toBe(meta.C);
        expect(info.subnet).toBe(meta.subnet);
        expect(info.permuteSoft).toBe(meta.permute_soft ?? false);
        expect(info.era).toBe(meta.permute_soft ? 'unknown' : meta.mode);
        if (meta.hidden !== undefined) expect(info.hiddenChannels).toBe(meta.hidden);
        expect(info.conditionChannels).toBe(0);
      });

      it("matches FrEIA's z, log-det and inverse", () => {
        const before = tf.memory().numTensors;
        const flow = fromFreiaStateDict(weights, optionsOf(meta));
        expect(flow).toBeInstanceOf(meta.blocks > 0 ? SequenceFlow : AllInOneBlock);
        const x = toNhwc(io.x!);
        const zWant = toNhwc(io.z!);
        const xRecWant = toNhwc(io.x_rec!);
        const { y, logDet } = flow.forward(x, { layout: 'NHWC' });
        const back = flow.inverse(zWant, { layout: 'NHWC' });
        const zErr = relDiff(y, zWant);
        const ldErr = relDiff(logDet, io.log_jac_det!);
        const invErr = relDiff(back.x, xRecWant);
        const negInv = tf.neg(back.logDet);
        const ldInvErr = relDiff(negInv, io.log_jac_det!);
        negInv.dispose();
        console.info(`${name} (${backend}): z ${zErr.toExponential(2)}, log-det ${ldErr.toExponential(2)}, inverse ${invErr.toExponential(2)}, inverse log-det ${ldInvErr.toExponential(2)}`);
        expect(zErr).toBeLessThan(1e-4);
        expect(ldErr).toBeLessThan(1e-4);
        expect(invErr).toBeLessThan(3e-4);
        expect(ldInvErr).toBeLessThan(1e-4);
        if (meta.gin_block) expect(Array.from(logDet.dataSync())).toEqual(new Array<number>(meta.N).fill(0));
        tf.dispose([x, zWant, xRecWant, y, logDet, back.x, back.logDet]);
        flow.dispose();
        expect(tf.memory().numTensors).toBe(before);
      });
    });
  });
});

/** A small FrEIA-style AllInOneBlock state dict (C = 4, conv31 subnet of hidden 6), values seeded. */
function syntheticBlock(prefix = '', wPerm: tf.Tensor = tf.tensor1d([2, 0, 3, 1], 'int32')): Record<string, tf.Tensor> {
  const r = (shape: number[], seed: number): tf.Tensor => tf.randomNormal(shape, 0, 0.3, 'float32', seed);
  const inv = Array.from(wPerm.rank === 1 ? wPerm.dataSync() : []);
  const wPermInv =
    wPerm.rank === 1 ? tf.tensor1d(inv.map((_, j) => inv.indexOf(j)), 'int32') : tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(wPerm, [4, 4])), [4, 4, 1, 1]));
  return {
    [`${prefix}global_scale`]: r([1, 4, 1, 1], 1),
    [`${prefix}global_offset`]: r([1, 4, 1, 1], 2),
    [`${prefix}w_perm`]: wPerm,
    [`${prefix}w_perm_inv`]: wPermInv,
    [`${prefix}subnet.conv1.weight`]: r([6, 2, 3, 3], 3),
    [`${prefix}subnet.conv1.bias`]: r([6], 4),
    [`${prefix}subnet.conv2.weight`]: r([4, 6, 1, 1], 5),
    [`${prefix}subnet.conv2.bias`]: r([4], 6),
  };
}

describe('fromFreiaStateDict: what it refuses, in words', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('reads an int64-era bare block, a matrix-era block as legacy, and drops w_perm_inv after checking it', () => {
    const current = syntheticBlock();
    const block = fromFreiaStateDict(current) as AllInOneBlock;
    expect(block).toBeInstanceOf(AllInOneBlock);
    expect(block.coupling.clampMode).toBe('soft');
    const keys = Object.keys(block.weightSpecs());
    expect(keys.some((k) => k.includes('w_perm'))).toBe(false);
    block.dispose();

    // The same permutation as a 0/1 matrix: w[j, perm[j]] = 1 (FrEIA before Aug 2023).
    const perm = [2, 0, 3, 1];
    const m = new Float32Array(16);
    perm.forEach((p, j) => (m[j * 4 + p] = 1));
    const legacy: Record<string, tf.Tensor> = { ...syntheticBlock(), w_perm: tf.tensor4d(m, [4, 4, 1, 1]) };
    legacy.w_perm_inv = tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(legacy.w_perm!, [4, 4])), [4, 4, 1, 1]));
    expect(inspectFreiaStateDict(legacy).era).toBe('legacy');
    const old = fromFreiaStateDict(legacy) as AllInOneBlock;
    expect(old.coupling.clampMode).toBe('legacy');
    const w = old.getWeights();
    expect(Array.from(w['permute.permutation']!.dataSync())).toEqual(perm);
    tf.dispose([...Object.values(w), ...Object.values(current), ...Object.values(legacy)]);
    old.dispose();
  });

  it('names the problem: options, eras, keys, subnets, w_perm_inv', () => {
    const dict = syntheticBlock();
    expect(() => fromFreiaStateDict(dict, { affine_clamping: 2 } as unknown as FromFreiaOptions)).toThrow(/unknown option "affine_clamping"/);
    expect(() => fromFreiaStateDict(dict, { permuteSoft: true })).toThrow(/permuteSoft is true but "w_perm" is a hard permutation/);
    expect(() => fromFreiaStateDict(dict, { clampMode: 'legacy' })).toThrow(/contradicts the state dict/);
    expect(() => fromFreiaStateDict(dict, { subnet: 'fastflow' })).toThrow(/subnet 'fastflow' was asked for but the keys .* are a 'conv31' subnet/);
    expect(() => fromFreiaStateDict(dict, { globalAffineType: 'softplus' as never })).toThrow(/globalAffineType must be 'SOFTPLUS', 'SIGMOID' or 'EXP'/);
    const badInv = { ...dict, w_perm_inv: tf.tensor1d([0, 1, 2, 3], 'int32') };
    expect(() => fromFreiaStateDict(badInv)).toThrow(/"w_perm_inv" is not the inverse of w_perm/);
    const householder = { ...dict, vk_householder: tf.zeros([2, 4]) };
    expect(() => fromFreiaStateDict(householder)).toThrow(/learned_householder_permutation/);
    const wrongShape = { ...dict, 'subnet.conv2.bias': tf.zeros([5]) };
    expect(() => fromFreiaStateDict(wrongShape)).toThrow(/"subnet\.conv2\.bias" has shape \[5\] but the layer expects \[4\]/);

    const seq = { ...syntheticBlock('module_list.0.'), ...syntheticBlock('module_list.2.') };
    expect(() => fromFreiaStateDict(seq)).toThrow(/block module_list\.1 is missing/);
    const stray = { ...syntheticBlock('module_list.0.'), global_scale: tf.ones([1, 4, 1, 1]) };
    expect(() => fromFreiaStateDict(stray)).toThrow(/"global_scale" is not under module_list/);

    // A soft rotation is stored alike in both eras: the clamp must be said.
    const rotation = tf.tensor4d([0.6, -0.8, 0, 0, 0.8, 0.6, 0, 0, 0, 0, 0, -1, 0, 0, 1, 0], [4, 4, 1, 1]);
    const soft = syntheticBlock('', rotation);
    expect(() => fromFreiaStateDict(soft)).toThrow(/pass clampMode: 'soft'/);
    expect(() => fromFreiaStateDict(soft, { permuteSoft: false, clampMode: 'soft' })).toThrow(/permuteSoft is false but "w_perm" is a rotation/);
    const block = fromFreiaStateDict(soft, { clampMode: 'soft' }) as AllInOneBlock;
    expect(block.permutation).toBe('soft');
    expect(block.trainableVariables.length).toBe(6); // subnet (4) + actnorm (2): the rotation is fixed, as FrEIA's
    block.dispose();
    tf.dispose([
      ...Object.values(dict),
      badInv.w_perm_inv,
      householder.vk_householder,
      wrongShape['subnet.conv2.bias'],
      ...Object.values(seq),
      stray.global_scale,
      ...Object.values(soft),
    ]);
  });

  it('refuses FrEIA-layout (NCHW) data, naming both layouts', () => {
    const dict = syntheticBlock();
    const block = fromFreiaStateDict(dict);
    const nchw = tf.zeros([2, 4, 3, 5]); // [batch, C, H, W]: last axis 5 ≠ 4
    expect(() => block.forward(nchw)).toThrow(/looks NCHW \[batch, channels, height, width\].*NHWC \[batch, height, width, channels\]/);
    const squareWidth = tf.zeros([2, 4, 3, 4]); // NCHW with W = C: the last axis matches
    expect(() => block.forward(squareWidth)).toThrow(/looks NCHW \[batch, channels=4, height=3, width=4\], not NHWC/);
    const declared = block.forward(squareWidth, { layout: 'NHWC' }); // the caller says it is NHWC of height 4
    expect(declared.y.shape).toEqual([2, 4, 3, 4]);
    tf.dispose([nchw, squareWidth, declared.y, declared.logDet, ...Object.values(dict)]);
    block.dispose();
  });
});
