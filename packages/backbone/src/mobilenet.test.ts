import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@aeflow/tensor/node';
import { createEncoder } from './node.js';
import { readKerasModel, readKerasWeights } from './mobilenet-file.js';
import { pearson, relativeError } from './test-utils.js';

const HOME = process.env.AEFLOW_HOME;
const MODEL = join(HOME ?? '', 'assets', 'mobilenet_v1_1.0_224');
const NEEDS_HOME = '(needs AEFLOW_HOME: set it to the shared folder)';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
});

/** Two real chest X-rays as gray [2, 224, 224, 1] images in [0, 1]. */
async function chestXrays(): Promise<tf.Tensor4D> {
  const dir = join(HOME!, 'data', 'chest-xray', 'train', 'NORMAL');
  const files = readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort().slice(0, 2);
  const images: tf.Tensor4D[] = [];
  for (const f of files) {
    const { data } = await sharp(join(dir, f)).resize(224, 224).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    images.push(tf.tensor4d(Float32Array.from(data, (v) => v / 255), [1, 224, 224, 1]));
  }
  const batch = tf.concat<tf.Tensor4D>(images);
  tf.dispose(images);
  return batch;
}

describe('MobileNet V1 from its TF.js layers files', () => {
  it.skipIf(!HOME)(`gives the documented tap shapes at 64, 128 and 224 px ${NEEDS_HOME}`, async () => {
    const vars = Object.keys(tf.engine().registeredVariables).length;
    const enc = await createEncoder({ arch: 'mobilenet_v1', weights: MODEL, taps: ['conv_pw_5_relu', 'conv_pw_11_relu'] });
    expect(Object.keys(tf.engine().registeredVariables).length).toBe(vars);
    expect(enc.channels).toEqual({ conv_pw_5_relu: 256, conv_pw_11_relu: 512 });
    expect(enc.stride).toEqual({ conv_pw_5_relu: 8, conv_pw_11_relu: 16 });
    const before = tf.memory().numTensors;
    for (const size of [64, 128, 224]) {
      const x = tf.zeros<tf.Rank.R4>([2, size, size, 3]);
      const f = enc.features(x);
      expect(f.conv_pw_5_relu.shape).toEqual([2, size / 8, size / 8, 256]);
      expect(f.conv_pw_11_relu.shape).toEqual([2, size / 16, size / 16, 512]);
      tf.dispose([x, f.conv_pw_5_relu, f.conv_pw_11_relu]);
      expect(tf.memory().numTensors).toBe(before);
    }
    expect(() => enc.features(tf.zeros<tf.Rank.R4>([1, 72, 64, 3]))).toThrow(/multiples of 16.*72×64/);
    enc.dispose();
  });

  it.skipIf(!HOME)(`matches tfjs-layers running the same model.json to 1e-4 ${NEEDS_HOME}`, async () => {
    // Reference: the whole model loaded by tfjs-layers (the absent conv_pw_13 shard zero-filled,
    // it lies past the taps), cut at the tapped layers.
    const json = JSON.parse(await readFile(join(MODEL, 'model.json'), 'utf8')) as {
      modelTopology: { model_config: { config: { layers: Array<{ config: { batch_input_shape?: unknown } }> } } };
      weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
    };
    // Any input size (the file fixes 224×224), to check TensorFlow's 'same' padding at odd sizes too.
    json.modelTopology.model_config.config.layers[0]!.config.batch_input_shape = [null, null, null, 3];
    const parts: Uint8Array[] = [];
    for (const group of json.weightsManifest) {
      for (const p of group.paths) {
        const file = join(MODEL, p);
        if (existsSync(file)) parts.push(new Uint8Array(await readFile(file)));
        else parts.push(new Uint8Array(group.weights.reduce((a, w) => a + 4 * w.shape.reduce((x, d) => x * d, 1), 0)));
      }
    }
    const data = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
    let off = 0;
    for (const p of parts) {
      data.set(p, off);
      off += p.length;
    }
    const full = await tfl.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData: data.buffer }),
    );
    const taps = ['conv_pw_3_relu', 'conv_pw_5_relu', 'conv_pw_11_relu'] as const;
    const cut = tfl.model({ inputs: full.inputs, outputs: taps.map((t) => full.getLayer(t).output as tfl.SymbolicTensor) });
    const enc = await createEncoder({ arch: 'mobilenet_v1', weights: MODEL, taps });
    const x = tf.randomUniform<tf.Rank.R4>([1, 80, 112, 3], -1, 1, 'float32', 5);
    const expected = cut.predict(x) as tf.Tensor[];
    const ours = enc.features(x);
    taps.forEach((t, i) => expect(relativeError(ours[t], expected[i]!)).toBeLessThan(1e-4));
    tf.dispose([x, ...expected, ...Object.values(ours)]);
    full.dispose();
    enc.dispose();
  });

  it.skipIf(!HOME)(`uses the trained weights: a chest X-ray's channel means track the BatchNorm moving means ${NEEDS_HOME}`, async () => {
    // Taps on the convolutions themselves (before their BatchNorm): over real images the mean of
    // each channel is what BatchNorm learned as its moving mean, if every weight up to there is
    // the trained one in the right layout. Random weights give no such agreement (the control).
    const layers = ['conv_pw_1', 'conv_pw_5', 'conv_pw_11'];
    const spec = await readKerasModel(MODEL);
    const sizes = { conv_pw_1: 64, conv_pw_5: 256, conv_pw_11: 512 } as Record<string, number>;
    const { dict } = await readKerasWeights(
      spec,
      layers.map((l) => ({ key: `${l}_bn/moving_mean`, shape: [sizes[l]!], init: 'bn-mean' as const })),
    );
    const gray = await chestXrays();
    const correlation = async (weights: string): Promise<number[]> => {
      const enc = await createEncoder({ arch: 'mobilenet_v1', weights, taps: layers });
      const x = enc.normalize(gray);
      const f = enc.features(x);
      const r = layers.map((l) => {
        const means = tf.tidy(() => tf.mean(f[l]!, [0, 1, 2]).dataSync());
        return pearson(means, dict.get(`${l}_bn/moving_mean`)!);
      });
      tf.dispose([x, ...Object.values(f)]);
      enc.dispose();
      return r;
    };
    const trained = await correlation(MODEL);
    const random = await correlation('random');
    gray.dispose();
    for (const r of trained) expect(r).toBeGreaterThan(0.9);
    for (const r of random) expect(Math.abs(r)).toBeLessThan(0.3);
  });

  it.skipIf(!HOME)(`never needs the conv_pw_13 shard, and says which file is missing when it would ${NEEDS_HOME}`, async () => {
    const enc = await createEncoder({ arch: 'mobilenet_v1', weights: join(MODEL, 'model.json'), taps: ['conv_pw_12_relu'] });
    expect(enc.channels.conv_pw_12_relu).toBe(1024);
    expect(enc.stride.conv_pw_12_relu).toBe(32);
    enc.dispose();
    const err = await createEncoder({ arch: 'mobilenet_v1', weights: MODEL, taps: ['conv_pw_13_relu'] }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/group37-shard1of1: cannot read this weight shard \(ENOENT\); it holds conv_pw_13\/kernel/);
  });

  it.skipIf(!HOME)(`resolves the declared assets (checksums verified) and accepts the layer aliases ${NEEDS_HOME}`, async () => {
    const enc = await createEncoder({ arch: 'mobilenet_v1', taps: ['layer2', 'layer3'], asset: { home: HOME, download: false, verify: true } });
    expect(enc.channels).toEqual({ layer2: 256, layer3: 512 });
    expect(enc.stride).toEqual({ layer2: 8, layer3: 16 });
    expect(enc.normalization).toEqual({ kind: 'minus-one-to-one' });
    const named = await createEncoder({ arch: 'mobilenet_v1', weights: MODEL, taps: ['conv_pw_5_relu', 'conv_pw_11_relu'] });
    expect(enc.weightsHash).toBe(named.weightsHash);
    expect(enc.weightsHash).toMatch(/^[0-9a-f]{64}$/);
    const x = tf.randomUniform<tf.Rank.R4>([1, 32, 32, 3], -1, 1, 'float32', 2);
    const a = enc.features(x);
    const b = named.features(x);
    expect(relativeError(a.layer3, b.conv_pw_11_relu)).toBe(0);
    tf.dispose([x, a.layer2, a.layer3, b.conv_pw_5_relu, b.conv_pw_11_relu]);
    named.dispose();
    enc.dispose();
    await expect(createEncoder({ arch: 'mobilenet_v1', weights: MODEL, taps: ['layer2', 'conv_pw_5_relu'] })).rejects.toThrow(/same layer/);
    await expect(createEncoder({ arch: 'mobilenet_v1', weights: MODEL, taps: ['conv_pw_99_relu'] })).rejects.toThrow(/no layer named "conv_pw_99_relu"/);
  });

  it.skipIf(!HOME)(`folded and unfolded BatchNorm agree, and the input is scaled to [-1, 1] ${NEEDS_HOME}`, async () => {
    const folded = await createEncoder({ arch: 'mobilenet_v1', weights: MODEL, taps: ['layer3'] });
    const plain = await createEncoder({ arch: 'mobilenet_v1', weights: MODEL, taps: ['layer3'], foldBatchNorm: false });
    const images = tf.tensor4d([0, 0.25, 0.5, 1], [1, 2, 2, 1]);
    const n = folded.normalize(images);
    expect(Array.from(n.dataSync())).toEqual([-1, -1, -1, -0.5, -0.5, -0.5, 0, 0, 0, 1, 1, 1]);
    const x = tf.randomUniform<tf.Rank.R4>([2, 64, 64, 3], -1, 1, 'float32', 9);
    const a = folded.features(x).layer3;
    const b = plain.features(x).layer3;
    expect(relativeError(a, b)).toBeLessThan(1e-5);
    tf.dispose([images, n, x, a, b]);
    folded.dispose();
    plain.dispose();
  });
});

describe('MobileNet V1 with random weights', () => {
  it('builds from the built-in topology without any file', async () => {
    const enc = await createEncoder({ arch: 'mobilenet_v1', weights: 'random', seed: 1, taps: ['layer1', 'layer3'] });
    expect(enc.channels).toEqual({ layer1: 128, layer3: 512 });
    expect(enc.stride).toEqual({ layer1: 4, layer3: 16 });
    // MobileNet V1 1.0 at 224 px is 569 M multiply-adds in all; up to conv_pw_11 it is most of it.
    const macs = enc.multiplyAdds(224, 224);
    expect(macs).toBeGreaterThan(0.6 * 569e6);
    expect(macs).toBeLessThan(569e6);
    const x = tf.zeros<tf.Rank.R4>([1, 48, 48, 3]);
    const f = enc.features(x);
    expect(f.layer3.shape).toEqual([1, 3, 3, 512]);
    tf.dispose([x, f.layer1, f.layer3]);
    enc.dispose();
  });
});

describe('TF.js layers models in general', () => {
  it('follows ZeroPadding2D, valid padding, conv biases and ReLU layers as model.json says', async () => {
    // A tiny Keras-style model written here: pad (0,1)(0,1) → 3×3/2 depthwise 'valid' → BN → ReLU(max 6)
    // → 1×1 conv with bias → BN → ReLU; compared with the same ops written out in tfjs-core.
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'aeflow-backbone-'));
    const layer = (class_name: string, name: string, inbound: string | null, config: Record<string, unknown>): object => ({
      class_name,
      name,
      config: { name, ...config },
      inbound_nodes: inbound ? [[[inbound, 0, 0, {}]]] : [],
    });
    const layers = [
      layer('InputLayer', 'input', null, { batch_input_shape: [null, null, null, 3] }),
      layer('ZeroPadding2D', 'pad', 'input', { padding: [[0, 1], [0, 1]] }),
      layer('DepthwiseConv2D', 'dw', 'pad', { kernel_size: [3, 3], strides: [2, 2], padding: 'valid', depth_multiplier: 2, use_bias: false, activation: 'linear' }),
      layer('BatchNormalization', 'dw_bn', 'dw', { epsilon: 0.01, axis: -1 }),
      layer('ReLU', 'dw_relu', 'dw_bn', { max_value: 6 }),
      layer('Conv2D', 'pw', 'dw_relu', { filters: 3, kernel_size: [1, 1], strides: [1, 1], padding: 'same', use_bias: true, activation: 'linear' }),
      layer('BatchNormalization', 'pw_bn', 'pw', { epsilon: 0.001, axis: -1 }),
      layer('Activation', 'pw_relu', 'pw_bn', { activation: 'relu' }),
    ];
    const w = {
      'dw/depthwise_kernel': tf.randomNormal([3, 3, 3, 2], 0, 1, 'float32', 1),
      'dw_bn/gamma': tf.tensor1d([1.5, 0.5, 1, 2, 0.8, 1.2]),
      'dw_bn/beta': tf.tensor1d([0.1, -0.2, 0.3, 0, 0.05, -0.05]),
      'dw_bn/moving_mean': tf.tensor1d([0.2, -0.1, 0, 0.5, -0.3, 0.1]),
      'dw_bn/moving_variance': tf.tensor1d([0.5, 2, 1, 1.5, 0.7, 1.1]),
      'pw/kernel': tf.randomNormal([1, 1, 6, 3], 0, 1, 'float32', 2),
      'pw/bias': tf.tensor1d([0.3, -0.3, 0.1]),
      'pw_bn/gamma': tf.tensor1d([1, 2, 0.5]),
      'pw_bn/beta': tf.tensor1d([0, 0.1, -0.1]),
      'pw_bn/moving_mean': tf.tensor1d([0.1, 0.2, 0.3]),
      'pw_bn/moving_variance': tf.tensor1d([1, 0.5, 2]),
    };
    const { data, specs } = await tf.io.encodeWeights(w);
    await writeFile(join(dir, 'weights.bin'), new Uint8Array(data));
    const modelJson = { modelTopology: { model_config: { class_name: 'Model', config: { layers } } }, weightsManifest: [{ paths: ['weights.bin'], weights: specs }] };
    await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
    try {
      const enc = await createEncoder({ arch: 'mobilenet_v1', weights: dir, taps: ['dw_relu', 'pw_relu'] });
      expect(enc.channels).toEqual({ dw_relu: 6, pw_relu: 3 });
      expect(enc.stride).toEqual({ dw_relu: 2, pw_relu: 2 });
      const x = tf.randomNormal<tf.Rank.R4>([1, 6, 8, 3], 0, 1, 'float32', 3);
      const ours = enc.features(x);
      const [dwRef, pwRef] = tf.tidy(() => {
        const padded = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]);
        const dw = tf.depthwiseConv2d(padded, w['dw/depthwise_kernel'] as tf.Tensor4D, 2, 'valid');
        const d = tf.relu6(tf.batchNorm(dw, w['dw_bn/moving_mean'], w['dw_bn/moving_variance'], w['dw_bn/beta'], w['dw_bn/gamma'], 0.01));
        const pw = tf.add(tf.conv2d(d, w['pw/kernel'] as tf.Tensor4D, 1, 'same'), w['pw/bias']);
        const p = tf.relu(tf.batchNorm(pw, w['pw_bn/moving_mean'], w['pw_bn/moving_variance'], w['pw_bn/beta'], w['pw_bn/gamma'], 0.001));
        return [d, p];
      });
      expect(ours.dw_relu.shape).toEqual([1, 3, 4, 6]);
      expect(relativeError(ours.dw_relu, dwRef)).toBeLessThan(1e-5);
      expect(relativeError(ours.pw_relu, pwRef)).toBeLessThan(1e-5);
      tf.dispose([x, dwRef, pwRef, ...Object.values(ours), ...Object.values(w)]);
      enc.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
