/** The memory-lean custom-gradient ops equal their plain-op formulations, values and gradients. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, maxAbsDiff, randomInput, useBackend } from '../test/helpers.js';
import {
  affineCouplingForward,
  batchNormRelu,
  channelAffine,
  conv2dSame,
  couplingLogDet,
  linearWithBias,
  twoLinearWithBias,
  type ClampSpec,
} from './fused.js';

/** Values and gradients (w.r.t. every input) of sum(f(inputs)·weights) for both formulations agree. */
function expectSameGradients(
  fused: (...xs: tf.Tensor[]) => tf.Tensor,
  plain: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  tolerance = 1e-5,
): void {
  const a = fused(...inputs);
  const b = plain(...inputs);
  expect(a.shape).toEqual(b.shape);
  expect(maxAbsDiff(a, b)).toBeLessThan(tolerance);
  const weights = randomInput(a.shape, 99);
  const ga = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(fused(...xs), weights)))(inputs);
  const gb = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(plain(...xs), weights)))(inputs);
  ga.forEach((g, i) => {
    const scale = Math.max(1, tf.max(tf.abs(gb[i]!)).dataSync()[0]!);
    expect(maxAbsDiff(g, gb[i]!) / scale, `gradient of input ${i}`).toBeLessThan(tolerance * 10);
  });
  tf.dispose([a, b, weights, ...ga, ...gb]);
}

function plainClamp(s: tf.Tensor, spec: ClampSpec): tf.Tensor {
  return spec.mode === 'soft' ? tf.mul(tf.tanh(tf.div(s, spec.clamp)), spec.clamp) : tf.mul(tf.tanh(s), spec.clamp);
}

describe.each(BACKENDS)('fused ops on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('linearWithBias = x·w + b on the last axis (weights as tensors and as variables)', () => {
    for (const asVariable of [false, true]) {
      const w0 = randomInput([5, 3], 2) as tf.Tensor2D;
      const w = asVariable ? tf.variable(w0) : w0;
      // The weight is closed over when it is a variable, so it is not among the differentiated inputs here.
      expectSameGradients(
        (x, b) => linearWithBias(x, w, b as tf.Tensor1D),
        (x, b) => tf.add(tf.reshape(tf.matMul(tf.reshape(x, [-1, 5]), w), [2, 3, 3]), b),
        [randomInput([2, 3, 5], 1), randomInput([3], 3)],
      );
      if (asVariable) {
        const x = randomInput([2, 3, 5], 1);
        const { grads } = tf.variableGrads(() => tf.sum(tf.square(linearWithBias(x, w, tf.zeros([3])))), [w as tf.Variable]);
        const plain = tf.grad((v: tf.Tensor) => tf.sum(tf.square(tf.matMul(tf.reshape(x, [-1, 5]), v as tf.Tensor2D))))(w);
        expect(maxAbsDiff(grads[(w as tf.Variable).name]!, plain)).toBeLessThan(1e-4);
        w.dispose();
      }
    }
    expectSameGradients(
      (x, w, b) => linearWithBias(x, w as tf.Tensor2D, b as tf.Tensor1D),
      (x, w, b) => tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b),
      [randomInput([6, 5], 1), randomInput([5, 3], 2), randomInput([3], 3)],
    );
  });

  it('twoLinearWithBias = a·wa + c·wc + b', () => {
    expectSameGradients(
      (a, c, wa, wc, b) => twoLinearWithBias(a, wa as tf.Tensor2D, c, wc as tf.Tensor2D, b as tf.Tensor1D),
      (a, c, wa, wc, b) =>
        tf.add(
          tf.add(tf.reshape(tf.matMul(tf.reshape(a, [-1, 4]), wa as tf.Tensor2D), [2, 3, 3, 6]), tf.reshape(tf.matMul(tf.reshape(c, [-1, 2]), wc as tf.Tensor2D), [2, 3, 3, 6])),
          b,
        ),
      [randomInput([2, 3, 3, 4], 1), randomInput([2, 3, 3, 2], 2), randomInput([4, 6], 3), randomInput([2, 6], 4), randomInput([6], 5)],
    );
  });

  it('conv2dSame = tf.conv2d(x, w, 1, "same") with the filter as a tensor and as a variable', () => {
    const x = randomInput([2, 5, 4, 3], 1);
    const w = randomInput([3, 3, 3, 4], 2);
    expectSameGradients((a, f) => conv2dSame(a as tf.Tensor4D, f as tf.Tensor4D), (a, f) => tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'), [x, w], 1e-4);
    const v = tf.variable(w);
    const f = (conv: (a: tf.Tensor4D) => tf.Tensor) => tf.variableGrads(() => tf.sum(tf.square(conv(x as tf.Tensor4D))), [v]).grads[v.name]!;
    expect(maxAbsDiff(f((a) => conv2dSame(a, v as tf.Tensor4D)), f((a) => tf.conv2d(a, v as tf.Tensor4D, 1, 'same')))).toBeLessThan(1e-3);
    v.dispose();
  });

  it.each([
    { clamp: 2, mode: 'soft', coefficientScale: 0.1 },
    { clamp: 1.5, mode: 'legacy', coefficientScale: 0.7 },
  ] as ClampSpec[])('affine coupling forward and its log-det (%o)', (spec) => {
    const plainY = (x2: tf.Tensor, raw: tf.Tensor): tf.Tensor => {
      const [s, t] = tf.split(tf.mul(raw, spec.coefficientScale), 2, -1);
      return tf.add(tf.mul(x2, tf.exp(plainClamp(s!, spec))), t!);
    };
    const plainLogDet = (raw: tf.Tensor): tf.Tensor => {
      const [s] = tf.split(tf.mul(raw, spec.coefficientScale), 2, -1);
      return tf.sum(plainClamp(s!, spec), [1, 2, 3]);
    };
    const x2 = randomInput([2, 3, 3, 2], 4);
    const raw = randomInput([2, 3, 3, 4], 5, 8); // large enough to reach the clamp's curved part
    expectSameGradients((a, b) => affineCouplingForward(a, b, spec), plainY, [x2, raw]);
    expectSameGradients((r) => couplingLogDet(r, spec), plainLogDet, [raw]);
  });

  it('channelAffine = x·scale + offset', () => {
    expectSameGradients(
      (x, s, o) => channelAffine(x, s, o),
      (x, s, o) => tf.add(tf.mul(x, s), o),
      [randomInput([2, 3, 3, 4], 6), randomInput([4], 7), randomInput([4], 8)],
    );
  });

  it('batchNormRelu equals relu(batchNorm) in training mode (through the batch moments) and in eval mode', () => {
    const x = tf.add(randomInput([3, 4, 4, 5], 9, 2), 0.5);
    const gamma = tf.add(randomInput([5], 10, 0.3), 1);
    const beta = randomInput([5], 11, 0.3);
    let seen: { mean: tf.Tensor; variance: tf.Tensor } | undefined;
    expectSameGradients(
      (a, g, b) =>
        batchNormRelu(a, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5, {
          training: true,
          onMoments: (m) => {
            if (seen) tf.dispose([seen.mean, seen.variance]);
            seen = m;
          },
        }),
      (a, g, b) => {
        const { mean, variance } = tf.moments(a, [0, 1, 2]);
        return tf.relu(tf.batchNorm(a, mean, variance, b, g, 1e-5));
      },
      [x, gamma, beta],
      1e-4,
    );
    const ref = tf.moments(x, [0, 1, 2]);
    expect(maxAbsDiff(seen!.mean, ref.mean)).toBeLessThan(1e-5);
    expect(maxAbsDiff(seen!.variance, ref.variance)).toBeLessThan(1e-4);
    const runningMean = randomInput([5], 12, 0.2) as tf.Tensor1D;
    const runningVar = tf.add<tf.Tensor1D>(tf.abs(randomInput([5], 13)), 0.5);
    expectSameGradients(
      (a, g, b) => batchNormRelu(a, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5, { training: false, runningMean, runningVar }),
      (a, g, b) => tf.relu(tf.batchNorm(a, runningMean, runningVar, b, g, 1e-5)),
      [x, gamma, beta],
      1e-4,
    );
    tf.dispose([seen!.mean, seen!.variance]);
  });

  it('without a Conv2DBackpropFilter kernel, conv2dSame still gives input gradients, and filter gradients fail loudly', () => {
    const kernel = tf.getKernel('Conv2DBackpropFilter', tf.getBackend());
    if (kernel) tf.unregisterKernel('Conv2DBackpropFilter', tf.getBackend());
    try {
      const x = randomInput([1, 4, 4, 2], 1) as tf.Tensor4D;
      const w = randomInput([3, 3, 2, 3], 2) as tf.Tensor4D;
      const gx = tf.grad((a: tf.Tensor) => tf.sum(tf.square(conv2dSame(a as tf.Tensor4D, w))))(x);
      const ref = tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, w, 1, 'same'))))(x);
      expect(maxAbsDiff(gx, ref)).toBeLessThan(1e-4);
      expect(() => tf.grad((f: tf.Tensor) => tf.sum(conv2dSame(x, f as tf.Tensor4D)))(w)).toThrow(/Conv2DBackpropFilter/);
    } finally {
      if (kernel) tf.registerKernel(kernel);
    }
  });
});
