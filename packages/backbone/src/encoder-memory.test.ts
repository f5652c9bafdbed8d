import * as tf from '@tensorflow/tfjs-core';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@aeflow/tensor/node';
import { buildEncoder, type Encoder, type ResNetArch } from './index.js';
import { createEncoder } from './node.js';

const HOME = process.env.AEFLOW_HOME;
const golden = (name: string): string => join(HOME ?? '', 'golden', 'backbone', name);
const MODEL = join(HOME ?? '', 'assets', 'mobilenet_v1_1.0_224');
const NEEDS_HOME = '(needs AEFLOW_HOME: set it to the shared folder)';
const WIDE_TINY: ResNetArch = { block: 'bottleneck', layers: [1, 1, 1], widthPerGroup: 128 };

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
});

/** The features of both encoders on the same input are the same numbers. */
async function expectSameFeatures(a: Encoder, b: Encoder, size: number): Promise<void> {
  const x = tf.randomNormal<tf.Rank.R4>([1, size, size, 3], 0, 1, 'float32', 5);
  const fa = a.features(x);
  const fb = b.features(x);
  for (const t of a.taps) {
    expect(fa[t]!.shape).toEqual(fb[t]!.shape);
    expect(Array.from(await fa[t]!.data())).toEqual(Array.from(await fb[t]!.data()));
  }
  tf.dispose([x, ...Object.values(fa), ...Object.values(fb)]);
}

describe('buildEncoder (browser-safe: weights in memory)', () => {
  it.skipIf(!HOME)(`a ResNet from safetensors bytes is the encoder createEncoder reads from the file, with the same weightsHash ${NEEDS_HOME}`, async () => {
    const file = golden('wide-tiny.safetensors');
    const fromFile = await createEncoder({ arch: WIDE_TINY, weights: file, taps: ['layer2', 'layer3'] });
    const before = tf.memory().numTensors;
    const fromBytes = await buildEncoder({ arch: WIDE_TINY, weights: { safetensors: await readFile(file), source: 'wide-tiny' }, taps: ['layer2', 'layer3'] });
    expect(fromBytes.weightsHash).toBe(fromFile.weightsHash);
    expect(fromBytes.describe()).toEqual({ ...fromFile.describe(), weights: 'wide-tiny' });
    await expectSameFeatures(fromFile, fromBytes, 32);
    fromBytes.dispose();
    expect(tf.memory().numTensors).toBe(before); // the decoded tensors were all released
    fromFile.dispose();
  });

  it('random weights: the same encoder and hash as createEncoder (Web Crypto vs node:crypto)', async () => {
    const a = await createEncoder({ arch: 'resnet18', weights: 'random', seed: 2, taps: ['layer1'] });
    const b = await buildEncoder({ arch: 'resnet18', weights: 'random', seed: 2, taps: ['layer1'] });
    expect(b.weightsHash).toBe(a.weightsHash);
    expect(b.weightsHash).toMatch(/^[0-9a-f]{64}$/);
    await expectSameFeatures(a, b, 32);
    a.dispose();
    b.dispose();
  });

  it.skipIf(!HOME)(`MobileNet from model.json and shard bytes: same encoder and hash; a needed shard left out is named ${NEEDS_HOME}`, async () => {
    const names = (await readdir(MODEL)).filter((f) => f !== 'model.json');
    const shards: Record<string, Uint8Array> = {};
    for (const n of names) shards[n] = await readFile(join(MODEL, n));
    const modelJson = await readFile(join(MODEL, 'model.json'));
    const fromFile = await createEncoder({ arch: 'mobilenet_v1', weights: MODEL, taps: ['layer2'] });
    const fromBytes = await buildEncoder({ arch: 'mobilenet_v1', weights: { modelJson, shards, source: 'https://example.org/mobilenet' }, taps: ['layer2'] });
    expect(fromBytes.weightsHash).toBe(fromFile.weightsHash);
    expect(fromBytes.weights).toBe('https://example.org/mobilenet');
    await expectSameFeatures(fromFile, fromBytes, 64);
    fromFile.dispose();
    fromBytes.dispose();
    const { 'group1-shard1of1': _dropped, ...rest } = shards;
    const err = await buildEncoder({ arch: 'mobilenet_v1', weights: { modelJson, shards: rest, source: 'm' }, taps: ['layer2'] }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^m\/group1-shard1of1: cannot read this weight shard \(not in weights\.shards \(pass its bytes under the key "group1-shard1of1"\)\); it holds conv1\/kernel/);
  });

  it('says what weights each arch needs', async () => {
    await expect(buildEncoder({ arch: 'resnet18', weights: { modelJson: '{}', shards: {} }, taps: ['layer1'] })).rejects.toThrow(
      /buildEncoder: resnet18 needs weights: \{ safetensors: <bytes/,
    );
    await expect(buildEncoder({ arch: 'mobilenet_v1', weights: { safetensors: new Uint8Array(8) }, taps: ['layer1'] })).rejects.toThrow(
      /buildEncoder: mobilenet_v1 needs weights: \{ modelJson/,
    );
    await expect(buildEncoder({ arch: 'resnet18', weights: 'resnet.safetensors' as 'random', taps: ['layer1'] })).rejects.toThrow(
      /weights must be 'random', \{ safetensors \} \(ResNets\) or \{ modelJson, shards \}/,
    );
    await expect(buildEncoder({ arch: 'resnet18', weights: { safetensors: new Uint8Array(4), source: 'tiny.bin' }, taps: ['layer1'] })).rejects.toThrow(
      /tiny\.bin: not a valid safetensors file/,
    );
  });
});
