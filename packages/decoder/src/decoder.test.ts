import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, readSafetensors, writeSafetensors } from '@aeflow/tensor/node';
import { AEFlowDecoder, createDecoder, defaultDecoderWidths } from './index.js';

// Gradients of conv2d / conv2dTranspose need Conv2DBackpropFilter, which the stock wasm backend
// lacks; @aeflow/tensor registers it when its training kernels are present. Until then the
// gradient tests run on cpu.
async function trainingBackend(): Promise<void> {
  await initBackend({ backend: 'wasm', quiet: true });
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) await initBackend({ backend: 'cpu', quiet: true });
}

describe('AEFlowDecoder', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
  });
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('derives the paper widths for Wide-ResNet-50-2 and others from channels/stride', () => {
    expect(defaultDecoderWidths(1024, 16)).toEqual([512, 256, 64]);
    expect(defaultDecoderWidths(512, 16)).toEqual([256, 128, 32]);
    expect(defaultDecoderWidths(256, 8)).toEqual([128, 32]);
    expect(defaultDecoderWidths(64, 2)).toEqual([]);
  });

  it('maps [N, h, w, C] to [N, h·stride, w·stride, 3] with log2(stride) blocks', () => {
    const dec = createDecoder({ inChannels: 32, stride: 16, seed: 1 });
    expect(dec.numBlocks).toBe(4);
    expect(dec.config.widths).toEqual([16, 8, 8]);
    const x = tf.zeros<tf.Rank.R4>([2, 3, 2, 32]);
    const before = tf.memory().numTensors;
    const y = dec.forward(x);
    expect(y.shape).toEqual([2, 48, 32, 3]);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    dec.dispose();
  });

  it('rejects bad configs and inputs with the field named', () => {
    expect(() => createDecoder({ inChannels: 8, stride: 12 })).toThrow(/stride must be a power of two/);
    expect(() => createDecoder({ inChannels: 8, stride: 8, widths: [4] })).toThrow(/widths must be 2 positive/);
    const dec = createDecoder({ inChannels: 8, stride: 2 });
    const x = tf.zeros<tf.Rank.R4>([1, 2, 2, 4]);
    expect(() => dec.forward(x)).toThrow(/4 channels, the decoder was built for inChannels = 8/);
    x.dispose();
    dec.dispose();
  });

  it('uses PyTorch ConvTranspose2d semantics and layout for the 2×2/2 up-convolution', () => {
    // One block (stride 2), 1 input pixel, 2 input channels, 1 output channel: in PyTorch
    // out[0, o, a, b] = Σ_c x[c]·W[c, o, a, b] + bias[o].
    const dec = createDecoder({ inChannels: 2, stride: 2, outChannels: 1 });
    const W = tf.tensor4d([1, 2, 3, 4, 10, 20, 30, 40], [2, 1, 2, 2]); // [in, out, kH, kW]
    const bias = tf.tensor1d([0.5]);
    dec.setWeights({ 'blocks.0.up.weight': W, 'blocks.0.up.bias': bias });
    const x = tf.tensor4d([1, -1], [1, 1, 1, 2]);
    const y = dec.forward(x);
    // x0·W[0] + x1·W[1] = [1,2,3,4] − [10,20,30,40] = [−9, −18, −27, −36], + 0.5
    expect(Array.from(y.dataSync())).toEqual([-8.5, -17.5, -26.5, -35.5]);
    tf.dispose([W, bias, x, y]);
    dec.dispose();
  });

  it('saves and loads through safetensors with PyTorch keys and layouts', async () => {
    dir = await mkdtemp(join(tmpdir(), 'aeflow-decoder-'));
    const a = createDecoder({ inChannels: 16, stride: 8, seed: 3 });
    const b = createDecoder({ inChannels: 16, stride: 8, seed: 4 });
    const weights = a.getWeights();
    expect(Object.keys(weights)).toEqual([
      'blocks.0.up.weight', 'blocks.0.up.bias', 'blocks.0.conv.weight', 'blocks.0.conv.bias',
      'blocks.1.up.weight', 'blocks.1.up.bias', 'blocks.1.conv.weight', 'blocks.1.conv.bias',
      'blocks.2.up.weight', 'blocks.2.up.bias',
    ]);
    expect(weights['blocks.0.up.weight']!.shape).toEqual([16, 8, 2, 2]); // [in, out, kH, kW]
    expect(weights['blocks.0.conv.weight']!.shape).toEqual([8, 8, 3, 3]); // [out, in, kH, kW]
    const path = join(dir, 'decoder.safetensors');
    await writeSafetensors(path, weights);
    tf.dispose(Object.values(weights));
    const loaded = await readSafetensors(path);
    b.setWeights(loaded);
    tf.dispose(Object.values(loaded));
    const x = tf.randomNormal<tf.Rank.R4>([2, 2, 3, 16], 0, 1, 'float32', 7);
    const ya = a.forward(x);
    const yb = b.forward(x);
    expect(Array.from(yb.dataSync())).toEqual(Array.from(ya.dataSync()));
    const bad = a.getWeights();
    delete bad['blocks.2.up.bias'];
    expect(() => b.setWeights(bad)).toThrow(/missing weight blocks\.2\.up\.bias/);
    tf.dispose([x, ya, yb, ...Object.values(bad)]);
    a.dispose();
    b.dispose();
  });

  it('has gradients for every variable matching finite differences, without leaking tensors', async () => {
    await trainingBackend();
    const dec = new AEFlowDecoder({ inChannels: 4, stride: 4, widths: [3], seed: 5 });
    const x = tf.randomNormal<tf.Rank.R4>([2, 2, 2, 4], 0, 1, 'float32', 9);
    const target = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 10);
    const lossFn = (): tf.Scalar => tf.mean(tf.square(tf.sub(dec.forward(x), target)));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const { value, grads } = tf.variableGrads(lossFn, dec.trainableVariables);
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(tf.memory().numTensors).toBe(before);
    const { value, grads } = tf.variableGrads(lossFn, dec.trainableVariables);
    // central finite difference along one coordinate of each variable
    for (const v of dec.trainableVariables) {
      const g = grads[v.name]!.dataSync();
      let k = 0;
      for (let j = 0; j < g.length; j++) if (Math.abs(g[j]!) > Math.abs(g[k]!)) k = j;
      const orig = v.dataSync().slice();
      const eps = 1e-2;
      const probe = (delta: number): number => {
        const p = orig.slice();
        p[k] = p[k]! + delta;
        tf.tidy(() => v.assign(tf.tensor(p, v.shape)));
        return tf.tidy(() => lossFn().dataSync()[0]!);
      };
      const numeric = (probe(eps) - probe(-eps)) / (2 * eps);
      tf.tidy(() => v.assign(tf.tensor(orig, v.shape)));
      expect(Math.abs(g[k]!)).toBeGreaterThan(0);
      expect(Math.abs(numeric - g[k]!)).toBeLessThan(2e-3 + 0.02 * Math.abs(g[k]!));
    }
    tf.dispose([value, x, target, ...Object.values(grads)]);
    dec.dispose();
    await initBackend({ backend: 'wasm', quiet: true });
  });
});

describe('AEFlowDecoder lifetime', () => {
  it('releases every tensor it made on dispose', async () => {
    await initBackend({ backend: 'wasm', quiet: true });
    const before = tf.memory().numTensors;
    const dec = createDecoder({ inChannels: 16, stride: 16 });
    expect(tf.memory().numTensors).toBe(before + dec.trainableVariables.length);
    dec.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
