import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, readSafetensors } from '@aeflow/tensor/node';
import type { ResNetArch } from './index.js';
import { createEncoder } from './node.js';
import { relativeError } from './test-utils.js';

const HOME = process.env.AEFLOW_HOME;
const golden = (name: string): string => join(HOME ?? '', 'golden', 'backbone', name);
const NEEDS_HOME = '(needs AEFLOW_HOME: set it to the shared folder)';

/** The golden files: torchvision ResNets with one block per stage (two in resnet-tiny's layer2). */
const CASES: Array<{ name: string; arch: ResNetArch; channels: number[] }> = [
  { name: 'wide-tiny', arch: { block: 'bottleneck', layers: [1, 1, 1], widthPerGroup: 128 }, channels: [256, 512, 1024] },
  { name: 'resnet-tiny', arch: { block: 'basic', layers: [1, 2, 1] }, channels: [64, 128, 256] },
];
const TAPS = ['layer1', 'layer2', 'layer3'] as const;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
});

describe('ResNet encoders against torchvision (golden files)', () => {
  for (const c of CASES) {
    for (const fold of [true, false]) {
      it.skipIf(!HOME)(`${c.name}: every tap within 1e-4 relative, BatchNorm ${fold ? 'folded' : 'kept apart'} ${NEEDS_HOME}`, async () => {
        const enc = await createEncoder({ arch: c.arch, weights: golden(`${c.name}.safetensors`), taps: TAPS, foldBatchNorm: fold });
        const ref = await readSafetensors(golden(`${c.name}.features.safetensors`));
        const before = tf.memory().numTensors;
        const x = tf.transpose(ref.input! as tf.Tensor4D, [0, 2, 3, 1]);
        const out = enc.features(x);
        for (const [i, tap] of TAPS.entries()) {
          const expected = tf.transpose(ref[tap]!, [0, 2, 3, 1]);
          expect(out[tap].shape).toEqual([2, 64 / enc.stride[tap], 64 / enc.stride[tap], c.channels[i]]);
          expect(enc.channels[tap]).toBe(c.channels[i]);
          const err = relativeError(out[tap], expected);
          expect(err).toBeLessThan(1e-4);
          expected.dispose();
        }
        x.dispose();
        Object.values(out).forEach((t) => t.dispose());
        expect(tf.memory().numTensors).toBe(before);
        Object.values(ref).forEach((t) => t.dispose());
        enc.dispose();
      });
    }
  }

  it.skipIf(!HOME)(`folded and unfolded BatchNorm agree to 1e-5 relative ${NEEDS_HOME}`, async () => {
    const arch = CASES[0]!.arch;
    const folded = await createEncoder({ arch, weights: golden('wide-tiny.safetensors'), taps: ['layer3'] });
    const plain = await createEncoder({ arch, weights: golden('wide-tiny.safetensors'), taps: ['layer3'], foldBatchNorm: false });
    const x = tf.randomNormal<tf.Rank.R4>([1, 32, 32, 3], 0, 1, 'float32', 7);
    const a = folded.features(x).layer3;
    const b = plain.features(x).layer3;
    expect(relativeError(a, b)).toBeLessThan(1e-5);
    expect(folded.weightsHash).toBe(plain.weightsHash);
    tf.dispose([x, a, b]);
    folded.dispose();
    plain.dispose();
  });

  it.skipIf(!HOME)(`records the file and its SHA-256 for a run's config ${NEEDS_HOME}`, async () => {
    const file = golden('resnet-tiny.safetensors');
    const enc = await createEncoder({ arch: { block: 'basic', layers: [1, 2, 1] }, weights: join(HOME!, 'golden', 'backbone', 'resnet-tiny.safetensors'), taps: ['layer2'] });
    const expected = createHash('sha256').update(await readFile(file)).digest('hex');
    expect(enc.weightsHash).toBe(expected);
    expect(enc.describe()).toEqual({
      id: 'resnet(basic,[1,2,1],w64)',
      arch: { block: 'basic', layers: [1, 2, 1], widthPerGroup: 64 },
      taps: ['layer2'],
      channels: { layer2: 128 },
      stride: { layer2: 8 },
      weights: file,
      weightsHash: expected,
      normalization: { kind: 'imagenet', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
      foldBatchNorm: true,
      batchNormStatisticsHash: null,
    });
    enc.dispose();
  });

  it.skipIf(!HOME)(`a missing key names the key, the file and the shape ${NEEDS_HOME}`, async () => {
    // resnet18 has two blocks in layer1; the tiny file has one.
    const err = await createEncoder({ arch: 'resnet18', weights: golden('resnet-tiny.safetensors'), taps: ['layer1'] }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('"layer1.1.conv1.weight" is missing');
    expect((err as Error).message).toContain('resnet-tiny.safetensors');
    expect((err as Error).message).toContain('[64, 64, 3, 3]');
  });

  it.skipIf(!HOME)(`a mis-shaped key names both shapes ${NEEDS_HOME}`, async () => {
    const err = await createEncoder({
      arch: { block: 'bottleneck', layers: [1, 1, 1], widthPerGroup: 64 },
      weights: golden('wide-tiny.safetensors'),
      taps: ['layer1'],
    }).catch((e: Error) => e);
    expect((err as Error).message).toContain('"layer1.0.conv1.weight" has shape [128, 64, 1, 1] but resnet(bottleneck,[1,1,1],w64) needs [64, 64, 1, 1]');
    expect((err as Error).message).toContain('wide-tiny.safetensors');
  });

  it.skipIf(!HOME)(`a checkpoint with more blocks than the arch is refused ${NEEDS_HOME}`, async () => {
    const err = await createEncoder({ arch: { block: 'basic', layers: [1, 1, 1] }, weights: golden('resnet-tiny.safetensors'), taps: ['layer2'] }).catch((e: Error) => e);
    expect((err as Error).message).toContain('"layer2.1.conv1.weight"');
  });

  it.skipIf(!HOME)(`only the stages up to the deepest tap are needed ${NEEDS_HOME}`, async () => {
    // resnet-tiny has no layer4; asking for layer1 of a 4-stage arch must not need later stages.
    const enc = await createEncoder({ arch: { block: 'basic', layers: [1, 2, 1, 2] }, weights: golden('resnet-tiny.safetensors'), taps: ['layer1'] });
    expect(enc.channels.layer1).toBe(64);
    enc.dispose();
    const err = await createEncoder({ arch: { block: 'basic', layers: [1, 2, 1, 2] }, weights: golden('resnet-tiny.safetensors'), taps: ['layer4'] }).catch((e: Error) => e);
    expect((err as Error).message).toContain('"layer4.0.conv1.weight" is missing');
  });
});

describe('ResNet encoders with random weights', () => {
  it('builds resnet18 taps with the right shapes, channels and strides, deterministically', async () => {
    const vars = Object.keys(tf.engine().registeredVariables).length;
    const a = await createEncoder({ arch: 'resnet18', weights: 'random', seed: 3, taps: ['layer1', 'layer3'] });
    const b = await createEncoder({ arch: 'resnet18', weights: 'random', seed: 3, taps: ['layer1', 'layer3'] });
    const c = await createEncoder({ arch: 'resnet18', weights: 'random', seed: 4, taps: ['layer1', 'layer3'] });
    expect(Object.keys(tf.engine().registeredVariables).length).toBe(vars); // frozen: nothing trainable
    expect(a.channels).toEqual({ layer1: 64, layer3: 256 });
    expect(a.stride).toEqual({ layer1: 4, layer3: 16 });
    expect(a.weightsHash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.weightsHash).toBe(b.weightsHash);
    expect(a.weightsHash).not.toBe(c.weightsHash);
    expect(a.describe()).toMatchObject({ id: 'resnet18', weights: 'random(seed=3)', taps: ['layer1', 'layer3'], normalization: { kind: 'imagenet' } });

    const images = tf.randomUniform<tf.Rank.R4>([2, 48, 64, 3], 0, 1, 'float32', 1);
    const before = tf.memory().numTensors;
    for (let step = 0; step < 3; step++) {
      const x = a.normalize(images);
      const fa = a.features(x);
      const fb = b.features(x);
      expect(fa.layer1.shape).toEqual([2, 12, 16, 64]);
      expect(fa.layer3.shape).toEqual([2, 3, 4, 256]);
      expect(relativeError(fa.layer3, fb.layer3)).toBe(0);
      tf.dispose([x, fa.layer1, fa.layer3, fb.layer1, fb.layer3]);
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose(images);
    const tensorsWithEncoders = tf.memory().numTensors;
    a.dispose();
    b.dispose();
    c.dispose();
    expect(tf.memory().numTensors).toBeLessThan(tensorsWithEncoders);
  });

  it('keeps the tensor count flat across feature calls', async () => {
    const enc = await createEncoder({ arch: { block: 'bottleneck', layers: [1, 1, 1], widthPerGroup: 128 }, weights: 'random', taps: ['layer2', 'layer3'] });
    const x = tf.randomNormal<tf.Rank.R4>([1, 32, 32, 3]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const f = enc.features(x);
      tf.dispose([f.layer2, f.layer3]);
      expect(tf.memory().numTensors).toBe(before);
    }
    x.dispose();
    const held = tf.memory().numTensors;
    enc.dispose();
    expect(tf.memory().numTensors).toBeLessThan(held);
  });

  it('counts multiply-adds as published for resnet18 and resnet50 at 224 px', async () => {
    // torchvision's model cards: ResNet-18 1.81 GFLOPS, ResNet-50 4.09 GFLOPS (multiply-adds,
    // whole network; the 1000-class head adds only 0.5–2 M).
    const r18 = await createEncoder({ arch: 'resnet18', weights: 'random', taps: ['layer4'] });
    expect(r18.multiplyAdds(224, 224) / 1e9).toBeCloseTo(1.814, 2);
    r18.dispose();
    const r50 = await createEncoder({ arch: 'resnet50', weights: 'random', taps: ['layer4'] });
    expect(r50.multiplyAdds(224, 224) / 1e9).toBeCloseTo(4.087, 2);
    r50.dispose();
  });

  it('repeats a gray channel and applies ImageNet mean and std', async () => {
    const enc = await createEncoder({ arch: 'resnet18', weights: 'random', taps: ['layer1'] });
    const gray = tf.tensor4d([0, 0.5, 1, 0.25], [1, 2, 2, 1]);
    const n = enc.normalize(gray);
    expect(n.shape).toEqual([1, 2, 2, 3]);
    const v = n.dataSync();
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    [0, 0.5, 1, 0.25].forEach((g, p) => {
      for (let ch = 0; ch < 3; ch++) expect(v[p * 3 + ch]).toBeCloseTo((g - mean[ch]!) / std[ch]!, 5);
    });
    tf.dispose([gray, n]);
    enc.dispose();
  });

  it('rejects wrong input rank, channels, size and dtype with a clear error', async () => {
    const enc = await createEncoder({ arch: 'resnet18', weights: 'random', taps: ['layer1', 'layer3'] });
    const before = tf.memory().numTensors;
    const rank3 = tf.zeros([32, 32, 3]) as unknown as tf.Tensor4D;
    expect(() => enc.features(rank3)).toThrow(/rank 4.*got shape \[32, 32, 3\].*expandDims/);
    const gray = tf.zeros<tf.Rank.R4>([1, 32, 32, 1]);
    expect(() => enc.features(gray)).toThrow(/expected 3 channels.*normalize/);
    const odd = tf.zeros<tf.Rank.R4>([1, 40, 32, 3]);
    expect(() => enc.features(odd)).toThrow(/multiples of 16.*got 40×32.*48×32/);
    const ints = tf.zeros<tf.Rank.R4>([1, 32, 32, 3], 'int32');
    expect(() => enc.features(ints)).toThrow(/float32/);
    const two = tf.zeros<tf.Rank.R4>([1, 8, 8, 2]);
    expect(() => enc.normalize(two)).toThrow(/1 \(gray\) or 3 \(RGB\) channels/);
    tf.dispose([rank3, gray, odd, ints, two]);
    expect(tf.memory().numTensors).toBe(before);
    enc.dispose();
    expect(() => enc.features(odd)).toThrow(/after dispose/);
  });

  it('rejects bad options by name', async () => {
    await expect(createEncoder({ arch: 'resnet18', weights: 'random', taps: ['layer5'] })).rejects.toThrow(/"layer5" is not a tap of resnet18; use layer1, layer2, layer3, layer4/);
    await expect(createEncoder({ arch: { block: 'basic', layers: [1, 1] }, weights: 'random', taps: ['layer3'] })).rejects.toThrow(/use layer1, layer2$/);
    await expect(createEncoder({ arch: 'resnet34' as 'resnet18', weights: 'random', taps: ['layer1'] })).rejects.toThrow(/unknown arch "resnet34"/);
    await expect(createEncoder({ arch: 'resnet18', weights: 'random', taps: [] })).rejects.toThrow(/taps must be a non-empty list/);
    await expect(createEncoder({ arch: { block: 'basic', layers: [2, 2], widthPerGroup: 128 }, weights: 'random', taps: ['layer1'] })).rejects.toThrow(/basic blocks only support 64/);
    await expect(createEncoder({ arch: 'resnet18', taps: ['layer1'] })).rejects.toThrow(/resnet18 has no default weights/);
    await expect(createEncoder({ arch: 'resnet18', weights: '/nonexistent/x.safetensors', taps: ['layer1'] })).rejects.toThrow(/does not exist/);
  });
});
