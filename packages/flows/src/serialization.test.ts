/**
 * A flow's architecture through JSON: errors for what cannot be saved or loaded, user subnets
 * and layers by registration, and a whole trained flow saved as JSON + a safetensors-style
 * record and rebuilt identically by someone holding only @aeflow/flows.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, perturb, randomInput, useBackend } from '../test/helpers.js';
import { AffineCoupling } from './affine-coupling.js';
import { createAllInOneFlow } from './create-all-in-one-flow.js';
import { MlpSubnet } from './mlp-subnet.js';
import { Permute } from './permute.js';
import { SequenceFlow } from './sequence-flow.js';
import { deserializeFlow, registerFlowLayer, serializeFlow } from './serialization.js';
import type { Subnet } from './subnet.js';
import { registerSubnet } from './subnet-serialization.js';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('serializeFlow / deserializeFlow', () => {
  it('rebuilds a perturbed 4-block flow of every built-in kind from JSON text and its weights', () => {
    for (const subnet of ['resnet', 'conv', 'double-conv'] as const) {
      const flow = createAllInOneFlow({ channels: 6, blocks: 4, subnet, hiddenChannels: 5, permutation: 'random', actnorm: 'sigmoid', seed: 3 });
      perturb(flow.trainableVariables, 4, 0.3);
      const x = randomInput([2, 3, 3, 6], 5);
      if (subnet === 'resnet') tf.dispose(flow.forward(x, { training: true }));
      const text = JSON.stringify(serializeFlow(flow));
      const weights = flow.getWeights();
      const copy = deserializeFlow(JSON.parse(text));
      expect(copy).toBeInstanceOf(SequenceFlow);
      copy.setWeights(weights);
      tf.dispose(Object.values(weights));
      const a = flow.forward(x);
      const b = copy.forward(x);
      expect(maxAbsDiff(a.y, b.y), subnet).toBe(0);
      expect(maxAbsDiff(a.logDet, b.logDet), subnet).toBe(0);
      tf.dispose([x, a.y, a.logDet, b.y, b.logDet]);
      flow.dispose();
      copy.dispose();
    }
  });

  it('says what is wrong with a config: unknown class, unknown field, bad value, bad shape', () => {
    expect(() => deserializeFlow({ className: 'Nope', config: {} })).toThrow(/unknown flow layer class "Nope" \(known: AffineCoupling, .*registerFlowLayer/);
    expect(() => deserializeFlow({ className: 'Permute', config: { channels: 3, chanels: 4 } })).toThrow(/Permute\.fromConfig: unknown config field "chanels"/);
    expect(() => deserializeFlow({ className: 'ActNorm', config: { channels: 3, scaleActivation: 'relu' } })).toThrow(/scaleActivation must be one of/);
    expect(() => deserializeFlow({ className: 'SequenceFlow', config: { layers: [] } })).toThrow(/"layers" must be a non-empty array/);
    expect(() => deserializeFlow('AllInOneBlock')).toThrow(/expected \{ className, config \}/);
    expect(() =>
      deserializeFlow({ className: 'AffineCoupling', config: { channels: 4, subnet: { className: 'MySubnet', config: {} } } }),
    ).toThrow(/unknown subnet class "MySubnet".*registerSubnet\("MySubnet", fromConfig\)/);
    // A failed sequence releases the layers it had built.
    const before = tf.memory().numTensors;
    expect(() =>
      deserializeFlow({
        className: 'SequenceFlow',
        config: { layers: [{ className: 'Permute', config: { channels: 3 } }, { className: 'ActNorm', config: { channels: 0 } }] },
      }),
    ).toThrow(/layers\[1\]|channels must be/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a subnet without getConfig cannot be saved; registered, it round-trips', () => {
    class ScaledMlp implements Subnet {
      readonly name = 'scaled-mlp';
      readonly inner: MlpSubnet;
      constructor(
        readonly inChannels: number,
        readonly outChannels: number,
        readonly gain: number,
      ) {
        this.inner = new MlpSubnet(inChannels, outChannels, () => 0.3, { hiddenChannels: 4, zeroInitLast: false });
      }
      apply(x: tf.Tensor, training: boolean): tf.Tensor {
        return tf.tidy(() => tf.mul(this.inner.apply(x, training), this.gain));
      }
      get trainableVariables(): tf.Variable[] {
        return this.inner.trainableVariables;
      }
      getWeights(): Record<string, tf.Tensor> {
        return this.inner.getWeights();
      }
      setWeights(w: Record<string, tf.Tensor>): void {
        this.inner.setWeights(w);
      }
      dispose(): void {
        this.inner.dispose();
      }
      get macsPerPosition(): number {
        return this.inner.macsPerPosition;
      }
    }
    const plain = new AffineCoupling({ channels: 4, subnet: (i, o) => new ScaledMlp(i, o, 2) });
    expect(() => serializeFlow(plain)).toThrow(/subnet "scaled-mlp" has no getClassName\(\)\/getConfig\(\).*registerSubnet/);
    plain.dispose();

    class SavableScaledMlp extends ScaledMlp {
      getClassName(): string {
        return 'SavableScaledMlp';
      }
      getConfig() {
        return { inChannels: this.inChannels, outChannels: this.outChannels, gain: this.gain };
      }
    }
    expect(() => registerSubnet('ConvSubnet', () => new SavableScaledMlp(1, 2, 1))).toThrow(/built-in subnet/);
    registerSubnet('SavableScaledMlp', (c) => new SavableScaledMlp(c.inChannels as number, c.outChannels as number, c.gain as number));
    const layer = new AffineCoupling({ channels: 4, subnet: (i, o) => new SavableScaledMlp(i, o, 3) });
    const copy = deserializeFlow(JSON.parse(JSON.stringify(serializeFlow(layer))));
    const x = randomInput([3, 4], 1);
    const a = layer.forward(x);
    const b = copy.forward(x);
    expect(maxAbsDiff(a.y, b.y)).toBe(0);
    expect(Math.abs(a.logDet.dataSync()[0]!)).toBeGreaterThan(1e-3); // the gain and weights made it across
    tf.dispose([x, a.y, a.logDet, b.y, b.logDet]);
    layer.dispose();
    copy.dispose();
  });

  it('a user layer registered by class name loads inside a SequenceFlow', () => {
    const inner = new Permute({ channels: 3, permutation: [2, 0, 1] });
    const custom = {
      name: 'swap',
      forward: (x: tf.Tensor) => inner.forward(x),
      inverse: (y: tf.Tensor) => inner.inverse(y),
      trainableVariables: [],
      getWeights: () => ({}),
      setWeights: () => undefined,
      dispose: () => inner.dispose(),
      getClassName: () => 'Swap',
      getConfig: () => ({}),
    };
    const seq = new SequenceFlow([custom, new Permute({ channels: 3, permutation: [1, 2, 0] })]);
    const json = JSON.stringify(serializeFlow(seq));
    expect(() => deserializeFlow(JSON.parse(json))).toThrow(/unknown flow layer class "Swap"/);
    expect(() => registerFlowLayer('Permute', () => custom)).toThrow(/built-in layer/);
    registerFlowLayer('Swap', () => ({ ...custom, dispose: () => undefined }));
    const copy = deserializeFlow(JSON.parse(json));
    const x = tf.tensor2d([[1, 2, 3]]);
    const a = seq.forward(x);
    const b = copy.forward(x);
    expect(Array.from(b.y.dataSync())).toEqual(Array.from(a.y.dataSync()));
    tf.dispose([x, a.y, a.logDet, b.y, b.logDet]);
    seq.dispose();
    copy.dispose();
  });
});
