/**
 * The property suite every layer passes, on cpu and wasm: invertibility, log-det symmetry,
 * log-det = log|det J| from the full Jacobian, gradients to every variable, save → load,
 * flat tensor count, clear errors on bad input.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  hasConvFilterGradient,
  jacobian,
  logAbsDetOf,
  maxAbsDiff,
  NO_FILTER_GRAD,
  perturb,
  randomInput,
  useBackend,
} from '../test/helpers.js';
import { ActNorm } from './actnorm.js';
import { AffineCoupling } from './affine-coupling.js';
import { AllInOneBlock } from './all-in-one-block.js';
import { convSubnet } from './conv-subnet.js';
import { createAllInOneFlow } from './create-all-in-one-flow.js';
import { nllPerDim } from './density.js';
import { doubleConvSubnet } from './double-conv-subnet.js';
import type { FlowLayer, FlowOptions } from './flow-layer.js';
import { InvertibleConv1x1 } from './invertible-conv1x1.js';
import { mlpSubnet } from './mlp-subnet.js';
import { Permute } from './permute.js';
import { positionalEncoding2d } from './positional-encoding.js';
import { resnetSubnet } from './resnet-subnet.js';
import { deserializeFlow, serializeFlow } from './serialization.js';

interface LayerCase {
  name: string;
  build(seed: number): FlowLayer;
  /** Input shape for the batch tests. */
  shape: number[];
  /** One-sample shape for the Jacobian (D = product ≤ 16). */
  jacobianShape: number[];
  /** Uses 3×3 convolutions whose filter gradient needs Conv2DBackpropFilter. */
  convFilters: boolean;
  /** Has BatchNorm: check both modes. */
  batchNorm?: boolean;
  /** Log-det 0 by construction (a permutation, a GIN block). */
  volumePreserving?: boolean;
}

/** A test wrapper around a layer: the layer itself and how to wrap a rebuilt copy the same way. */
interface Wrapped {
  inner: FlowLayer;
  rewrap(layer: FlowLayer): FlowLayer;
}

/**
 * A conditional layer seen through the plain interface: every NHWC pass gets the positional
 * encoding of its input's grid (batch 1, broadcast) as the condition, so the whole suite runs on
 * the conditional path (the Jacobian test then checks log p(x | c) at a fixed c).
 */
function conditionedOnPosition(layer: FlowLayer, channels: number): FlowLayer {
  const withCondition =
    <R>(pass: (x: tf.Tensor, o: FlowOptions) => R) =>
    (x: tf.Tensor, o: FlowOptions = {}): R => {
      if (x.rank !== 4) return pass(x, o); // let the layer report the bad rank
      const condition = positionalEncoding2d(x.shape[1]!, x.shape[2]!, channels);
      try {
        return pass(x, { ...o, condition });
      } finally {
        condition.dispose();
      }
    };
  const wrapped: FlowLayer & Wrapped = {
    inner: layer,
    rewrap: (other) => conditionedOnPosition(other, channels),
    name: layer.name,
    forward: withCondition((x, o) => layer.forward(x, o)),
    inverse: withCondition((y, o) => layer.inverse(y, o)),
    get trainableVariables() {
      return layer.trainableVariables;
    },
    getWeights: () => layer.getWeights(),
    setWeights: (w) => layer.setWeights(w),
    dispose: () => layer.dispose(),
  };
  return wrapped;
}

const NHWC = [2, 3, 3, 4];
const NHWC_ONE = [1, 2, 2, 4];

const CASES: LayerCase[] = [
  {
    name: 'AffineCoupling (conv subnet)',
    build: (seed) => new AffineCoupling({ channels: 4, subnet: convSubnet({ hiddenChannels: 8 }), seed }),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: true,
  },
  {
    name: 'AffineCoupling (conv subnet, conditioned on position)',
    build: (seed) => conditionedOnPosition(new AffineCoupling({ channels: 4, subnet: convSubnet({ hiddenChannels: 8 }), conditionChannels: 8, seed }), 8),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: true,
  },
  {
    name: 'AffineCoupling (resnet subnet, BatchNorm)',
    build: (seed) => new AffineCoupling({ channels: 4, subnet: resnetSubnet({ hiddenChannels: 8 }), seed }),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: true,
    batchNorm: true,
  },
  {
    name: 'AffineCoupling (mlp subnet, [batch, 5] odd split, legacy clamp)',
    build: (seed) =>
      new AffineCoupling({ channels: 5, subnet: mlpSubnet({ hiddenChannels: 8 }), clampMode: 'legacy', clamp: 1.5, seed }),
    shape: [6, 5],
    jacobianShape: [1, 5],
    convFilters: false,
  },
  {
    name: 'ActNorm (softplus)',
    build: () => new ActNorm({ channels: 4 }),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: false,
  },
  {
    name: 'ActNorm (sigmoid, FrEIA SIGMOID)',
    build: () => new ActNorm({ channels: 4, scaleActivation: 'sigmoid', initScale: 0.7 }),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: false,
  },
  {
    name: 'AffineCoupling (double-conv subnet, volume-preserving GIN)',
    build: (seed) => new AffineCoupling({ channels: 4, subnet: doubleConvSubnet({ hiddenChannels: 6 }), volumePreserving: true, seed }),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: true,
    volumePreserving: true,
  },
  {
    name: 'ActNorm (exp, [batch, features])',
    build: () => new ActNorm({ channels: 3, scaleActivation: 'exp', initScale: 0.5 }),
    shape: [4, 3],
    jacobianShape: [1, 3],
    convFilters: false,
  },
  {
    name: 'Permute (reverse)',
    build: () => new Permute({ channels: 4, permutation: 'reverse' }),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: false,
  },
  {
    name: 'Permute (random)',
    build: (seed) => new Permute({ channels: 5, permutation: 'random', seed }),
    shape: [3, 2, 5],
    jacobianShape: [1, 2, 5],
    convFilters: false,
  },
  {
    name: 'InvertibleConv1x1',
    build: (seed) => new InvertibleConv1x1({ channels: 4, seed }),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: false,
  },
  {
    name: 'AllInOneBlock (resnet, reverse)',
    build: (seed) => new AllInOneBlock({ channels: 4, subnet: resnetSubnet({ hiddenChannels: 8 }), seed }),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: true,
    batchNorm: true,
  },
  {
    name: 'AllInOneBlock (conv, invertible 1×1, exp actnorm)',
    build: (seed) =>
      new AllInOneBlock({ channels: 4, subnet: convSubnet({ hiddenChannels: 8 }), permutation: 'invertible1x1', actnorm: 'exp', seed }),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: true,
  },
  {
    name: 'AllInOneBlock (conv, soft permutation = fixed invertible 1×1, reverse permutation, sigmoid actnorm)',
    build: (seed) =>
      new AllInOneBlock({
        channels: 5,
        subnet: convSubnet({ hiddenChannels: 8 }),
        permutation: 'soft',
        reversePermutation: true,
        actnorm: 'sigmoid',
        seed,
      }),
    shape: [2, 3, 2, 5],
    jacobianShape: [1, 1, 2, 5],
    convFilters: true,
  },
  {
    name: 'AllInOneBlock (double-conv kernel 1, random permutation, reverse permutation, GIN)',
    build: (seed) =>
      new AllInOneBlock({
        channels: 4,
        subnet: doubleConvSubnet({ kernelSize: 1 }),
        permutation: 'random',
        reversePermutation: true,
        volumePreserving: true,
        seed,
      }),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: false,
    volumePreserving: true,
  },
  {
    name: 'SequenceFlow: 8-block AllInOne flow (conv, random permutation)',
    build: (seed) => createAllInOneFlow({ channels: 4, blocks: 8, subnet: 'conv', hiddenChannels: 8, permutation: 'random', seed }),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: true,
  },
  {
    name: 'SequenceFlow: 4-block AllInOne flow conditioned on position (conv, reverse)',
    build: (seed) => conditionedOnPosition(createAllInOneFlow({ channels: 4, blocks: 4, subnet: 'conv', hiddenChannels: 8, conditionChannels: 4, seed }), 4),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: true,
  },
  {
    name: 'SequenceFlow: 8-block AllInOne flow (resnet, reverse)',
    build: (seed) => createAllInOneFlow({ channels: 4, blocks: 8, subnet: 'resnet', hiddenChannels: 8, seed }),
    shape: NHWC,
    jacobianShape: NHWC_ONE,
    convFilters: true,
    batchNorm: true,
  },
];

/** A layer with all weights moved off their identity-like initial values. */
function buildPerturbed(c: LayerCase, seed: number): FlowLayer {
  const layer = c.build(seed);
  perturb(layer.trainableVariables, seed + 100, 0.3);
  return layer;
}

function lossOf(layer: FlowLayer, x: tf.Tensor): tf.Scalar {
  const { y, logDet } = layer.forward(x, { training: true });
  return tf.mean(nllPerDim(y, logDet));
}

describe.each(BACKENDS)('every layer on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  describe.each(CASES)('$name', (c) => {
    let layer: FlowLayer;
    beforeAll(() => {
      layer = buildPerturbed(c, 7);
    });
    afterAll(() => layer.dispose());

    it('inverse(forward(x)) ≈ x within 1e-4 and logDet(forward) = −logDet(inverse)', () => {
      for (const training of c.batchNorm ? [false, true] : [false]) {
        const x = randomInput(c.shape, 1);
        const { y, logDet } = layer.forward(x, { training });
        const back = layer.inverse(y, { training });
        expect(maxAbsDiff(back.x, x)).toBeLessThan(1e-4);
        expect(logDet.shape).toEqual([c.shape[0]]);
        expect(back.logDet.shape).toEqual([c.shape[0]]);
        expect(maxAbsDiff(tf.neg(back.logDet), logDet)).toBeLessThan(1e-4 * Math.max(1, tf.max(tf.abs(logDet)).dataSync()[0]!));
        // A non-trivial transform (except a permutation, whose log-det is 0).
        if (!c.name.startsWith('Permute') && !c.volumePreserving) expect(Math.abs(logDet.dataSync()[0]!)).toBeGreaterThan(1e-3);
        if (c.volumePreserving) expect(Math.abs(logDet.dataSync()[0]!)).toBeLessThan(1e-6);
        expect(maxAbsDiff(y, x)).toBeGreaterThan(1e-3);
        tf.dispose([x, y, logDet, back.x, back.logDet]);
      }
    });

    it('log-det equals log|det J| of the full Jacobian (autodiff, float64 LU)', () => {
      const x = randomInput(c.jacobianShape, 2);
      const d = x.size;
      const jac = jacobian((input) => layer.forward(input).y, x);
      const expected = logAbsDetOf(jac, d);
      const { y, logDet } = layer.forward(x);
      const got = logDet.dataSync()[0]!;
      expect(Math.abs(got - expected)).toBeLessThan(2e-3 * Math.max(1, Math.abs(expected)));
      tf.dispose([x, y, logDet]);
    });

    it('gradients of the NLL reach every trainable variable', (ctx) => {
      if (backend === 'wasm' && c.convFilters && !hasConvFilterGradient()) {
        console.warn(`${c.name} on wasm: ${NO_FILTER_GRAD}`);
        ctx.skip();
      }
      const x = randomInput(c.shape, 3);
      const vars = layer.trainableVariables;
      if (vars.length === 0) {
        // Nothing to train: the gradient must still flow to the input.
        const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(layer.forward(input).y, tf.reshape(tf.range(0, x.size), x.shape))))(x);
        expect(tf.max(tf.abs(g)).dataSync()[0]).toBeGreaterThan(0);
        tf.dispose([x, g]);
        return;
      }
      const { value, grads } = tf.variableGrads(() => lossOf(layer, x), vars);
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      for (const v of vars) {
        const g = grads[v.name];
        expect(g, `gradient for ${v.name}`).toBeDefined();
        expect(tf.max(tf.abs(g!)).dataSync()[0], `|gradient| of a variable of shape [${v.shape.join(', ')}]`).toBeGreaterThan(0);
      }
      tf.dispose([x, value, ...Object.values(grads)]);
    });

    it('save → load into a differently seeded layer gives identical outputs', () => {
      const x = randomInput(c.shape, 4);
      if (c.batchNorm) tf.dispose(layer.forward(x, { training: true })); // non-trivial running statistics
      const other = c.build(1234);
      const saved = layer.getWeights();
      for (const [key, t] of Object.entries(saved)) {
        expect(key).toMatch(/^[\w.]+$/);
        expect(t.isDisposed).toBe(false);
      }
      other.setWeights(saved);
      const reread = other.getWeights();
      expect(Object.keys(reread).sort()).toEqual(Object.keys(saved).sort());
      // The record round-trips exactly (same PyTorch-layout values, same dtypes, new tensors).
      for (const [key, t] of Object.entries(saved)) {
        const r = reread[key]!;
        expect(r, key).not.toBe(t);
        expect(r.dtype, key).toBe(t.dtype);
        expect(r.shape, key).toEqual(t.shape);
        expect(Array.from(r.dataSync()), key).toEqual(Array.from(t.dataSync()));
      }
      tf.dispose(Object.values(reread));
      const a = layer.forward(x);
      const b = other.forward(x);
      expect(maxAbsDiff(a.y, b.y)).toBe(0);
      expect(maxAbsDiff(a.logDet, b.logDet)).toBe(0);
      const ai = layer.inverse(a.y);
      const bi = other.inverse(a.y);
      expect(maxAbsDiff(ai.x, bi.x)).toBe(0);
      other.dispose();
      // getWeights returns copies: disposing them (after loading them back) leaves the layer intact.
      const own = layer.getWeights();
      layer.setWeights(own);
      tf.dispose(Object.values(own));
      tf.dispose(Object.values(saved));
      const c2 = layer.forward(x);
      expect(maxAbsDiff(a.y, c2.y)).toBe(0);
      tf.dispose([x, a.y, a.logDet, b.y, b.logDet, ai.x, ai.logDet, bi.x, bi.logDet, c2.y, c2.logDet]);
    });

    it('getConfig → JSON → fromConfig + setWeights rebuilds it: same outputs, same log-det', () => {
      const wrapped = layer as Partial<Wrapped>;
      const inner = wrapped.inner ?? layer;
      const described = serializeFlow(inner);
      const json = JSON.stringify(described);
      // JSON-able: nothing is lost through JSON.
      expect(JSON.parse(json)).toEqual(described);
      const x = randomInput(c.shape, 9);
      if (c.batchNorm) tf.dispose(layer.forward(x, { training: true })); // non-trivial running statistics
      const before = tf.memory().numTensors;
      const rebuiltInner = deserializeFlow(JSON.parse(json));
      expect(serializeFlow(rebuiltInner)).toEqual(described);
      const rebuilt = wrapped.rewrap ? wrapped.rewrap(rebuiltInner) : rebuiltInner;
      const saved = layer.getWeights();
      rebuilt.setWeights(saved);
      tf.dispose(Object.values(saved));
      expect(rebuilt.trainableVariables.map((v) => v.shape)).toEqual(layer.trainableVariables.map((v) => v.shape));
      const a = layer.forward(x);
      const b = rebuilt.forward(x);
      expect(maxAbsDiff(a.y, b.y)).toBe(0);
      expect(maxAbsDiff(a.logDet, b.logDet)).toBe(0);
      const ai = layer.inverse(a.y);
      const bi = rebuilt.inverse(a.y);
      expect(maxAbsDiff(ai.x, bi.x)).toBe(0);
      expect(maxAbsDiff(ai.logDet, bi.logDet)).toBe(0);
      tf.dispose([a.y, a.logDet, b.y, b.logDet, ai.x, ai.logDet, bi.x, bi.logDet]);
      rebuilt.dispose();
      // Building from JSON, passes and disposing leave nothing behind (only the original layer's inverse cache may appear).
      expect(tf.memory().numTensors - before).toBeLessThanOrEqual(c.name.includes('1×1') || c.name.includes('Invertible') ? 1 : 0);
      x.dispose();
    });

    it('keeps the tensor count flat across training steps and passes', (ctx) => {
      const x = randomInput(c.shape, 5);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 2; i++) {
        const f = layer.forward(x, { training: true });
        const inv = layer.inverse(f.y);
        tf.dispose([f.y, f.logDet, inv.x, inv.logDet]);
      }
      // InvertibleConv1x1 caches one inverse matrix: allow for it on the first inverse.
      const afterPasses = tf.memory().numTensors;
      expect(afterPasses - before).toBeLessThanOrEqual(c.name.includes('1×1') || c.name.includes('Invertible') ? 1 : 0);
      const vars = layer.trainableVariables;
      if (vars.length === 0 || (backend === 'wasm' && c.convFilters && !hasConvFilterGradient())) {
        if (vars.length > 0) console.warn(`${c.name} on wasm, training steps: ${NO_FILTER_GRAD}`);
        tf.dispose(x);
        if (vars.length > 0) ctx.skip();
        return;
      }
      const optimizer = tf.train.adam(1e-3);
      const step = (): void => {
        const loss = optimizer.minimize(() => lossOf(layer, x), true, vars);
        loss?.dispose();
      };
      step(); // creates the optimizer's slots
      const counts: number[] = [];
      for (let i = 0; i < 3; i++) {
        step();
        const inv = layer.inverse(x);
        tf.dispose([inv.x, inv.logDet]);
        counts.push(tf.memory().numTensors);
      }
      expect(new Set(counts).size).toBe(1);
      optimizer.dispose();
      tf.dispose(x);
    });

    it('dispose() releases every tensor the layer made (construction, passes, caches)', () => {
      const x = randomInput(c.shape, 8);
      const before = tf.memory().numTensors;
      const fresh = buildPerturbed(c, 11);
      const f = fresh.forward(x, { training: true });
      const inv = fresh.inverse(f.y);
      tf.dispose([f.y, f.logDet, inv.x, inv.logDet]);
      fresh.dispose();
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    });

    it('building and disposing a layer (and the tensors getWeights returns) leaves tf.memory().numTensors exactly where it was', () => {
      // Every variable's initial value must be released at construction (tf.variable keeps the
      // initial tensor's handle alive otherwise): without that, this count grows by one per variable.
      const before = tf.memory().numTensors;
      const built = c.build(21);
      const owned = tf.memory().numTensors - before;
      expect(owned).toBeGreaterThan(0);
      // getWeights returns new tensors and nothing else: disposing them restores the count.
      const weights = built.getWeights();
      expect(tf.memory().numTensors - before).toBe(owned + Object.keys(weights).length);
      tf.dispose(Object.values(weights));
      expect(tf.memory().numTensors - before).toBe(owned);
      built.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });

    it('rejects bad input and bad weights with errors naming the problem', () => {
      const channels = c.shape[c.shape.length - 1]!;
      const wrongChannels = randomInput([...c.shape.slice(0, -1), channels + 1], 6);
      expect(() => layer.forward(wrongChannels)).toThrow(/channels/);
      expect(() => layer.inverse(wrongChannels)).toThrow(/channels/);
      const rank1 = tf.zeros([channels]);
      expect(() => layer.forward(rank1)).toThrow(/rank 1/);
      const values = randomInput(c.shape, 7).dataSync().slice();
      values[1] = Number.NaN;
      const withNaN = tf.tensor(values, c.shape);
      expect(() => layer.forward(withNaN)).toThrow(/NaN or Inf/);
      expect(() => layer.forward(withNaN)).toThrow(/"/); // names the layer
      values[1] = Number.POSITIVE_INFINITY;
      const withInf = tf.tensor(values, c.shape);
      expect(() => layer.inverse(withInf)).toThrow(/inverse input contains NaN or Inf/);
      if (c.shape.length === 4) {
        // NCHW whose width equals the channel count: the last axis matches, the layout does not.
        const nchw = randomInput([c.shape[0]!, channels, channels + 1, channels], 8);
        expect(() => layer.forward(nchw)).toThrow(/looks NCHW \[batch, channels=\d+, height=\d+, width=\d+\], not NHWC/);
        expect(() => layer.inverse(nchw)).toThrow(/looks NCHW/);
        // Declared NHWC (height = C is legitimate then), it runs.
        const ok = layer.forward(nchw, { layout: 'NHWC' });
        expect(ok.y.shape).toEqual(nchw.shape);
        tf.dispose([nchw, ok.y, ok.logDet]);
      }

      const weights = layer.getWeights();
      const keys = Object.keys(weights);
      const firstKey = keys[0]!;
      const missing = { ...weights };
      delete missing[firstKey];
      expect(() => layer.setWeights(missing)).toThrow(`"${firstKey}" is missing`);
      const wrongShape = { ...weights, [firstKey]: tf.zeros([...weights[firstKey]!.shape, 2]) };
      const own = `[${weights[firstKey]!.shape.join(', ')}]`;
      const bad = `[${[...weights[firstKey]!.shape, 2].join(', ')}]`;
      expect(() => layer.setWeights(wrongShape)).toThrow(`weight "${firstKey}" has shape ${bad} but the layer expects ${own}`);
      const extra = { ...weights, 'no.such.weight': tf.zeros([1]) };
      expect(() => layer.setWeights(extra)).toThrow(/"no\.such\.weight" is not a weight/);
      tf.dispose([wrongChannels, rank1, withNaN, withInf, wrongShape[firstKey]!, extra['no.such.weight'], ...Object.values(weights)]);
    });
  });
});
