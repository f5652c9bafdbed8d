import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { SeededRandom } from '../random.js';
import { registerWasmTrainingKernels } from './index.js';
import { type ConvPad, randomValues, relativeError, runOn } from './testing.js';

const TOLERANCE = 1e-5;
const rng = new SeededRandom(20261126);
/** Largest relative error seen per kernel, printed at the end (the report quotes them). */
const worst: Record<string, number> = {};
function check(name: string, actual: Float32Array, expected: Float32Array): void {
  const err = relativeError(actual, expected);
  worst[name] = Math.max(worst[name] ?? 0, err);
  expect(err, name).toBeLessThanOrEqual(TOLERANCE);
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
});

const EXPLICIT: ConvPad = [
  [0, 0],
  [1, 2],
  [2, 0],
  [0, 0],
];
const PADS: ConvPad[] = ['same', 'valid', EXPLICIT];
const padName = (p: ConvPad) => (typeof p === 'string' ? p : 'explicit');

describe('conv2d gradients on wasm match cpu', () => {
  // Odd sizes, batch 2, in 3 / out 5 channels.
  const xShape: [number, number, number, number] = [2, 9, 11, 3];
  for (const stride of [1, 2]) {
    for (const pad of PADS) {
      for (const k of [1, 2, 3, 5]) {
        it(`stride ${stride}, ${padName(pad)}, kernel ${k}: dx and dW by tf.grads, and both kernels directly`, async () => {
          const fShape: [number, number, number, number] = [k, k, 3, 5];
          const x = { values: randomValues(rng, xShape), shape: xShape };
          const w = { values: randomValues(rng, fShape), shape: fShape };
          const yShape = tf.tidy(() => tf.conv2d(tf.zeros<tf.Rank.R4>(xShape), tf.zeros<tf.Rank.R4>(fShape), stride, pad).shape);
          const dy = { values: randomValues(rng, yShape), shape: yShape };
          const viaGrads = (a: tf.Tensor, b: tf.Tensor, g: tf.Tensor) =>
            tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, stride, pad))([a, b], g);
          const direct = (a: tf.Tensor, b: tf.Tensor, g: tf.Tensor) => [
            tf.engine().runKernel<tf.Tensor>('Conv2DBackpropFilter', { x: a, dy: g }, { strides: stride, pad, dataFormat: 'NHWC', filterShape: fShape }),
            tf.engine().runKernel<tf.Tensor>('Conv2DBackpropInput', { dy: g, filter: b }, { strides: stride, pad, dataFormat: 'NHWC', inputShape: xShape }),
          ];
          const [dxRef, dwRef] = await runOn('cpu', [x, w, dy], viaGrads);
          const [dx, dw] = await runOn('wasm', [x, w, dy], viaGrads);
          check('Conv2DBackpropInput', dx!, dxRef!);
          check('Conv2DBackpropFilter', dw!, dwRef!);
          const [kwRef, kxRef] = await runOn('cpu', [x, w, dy], direct);
          const [kw, kx] = await runOn('wasm', [x, w, dy], direct);
          check('Conv2DBackpropFilter', kw!, kwRef!);
          check('Conv2DBackpropInput', kx!, kxRef!);
        });
      }
    }
  }

  it('sums the filter gradient over batch chunks (images with over 2048 output pixels go one by one)', async () => {
    const xShape = [3, 47, 45, 2];
    const fShape = [3, 3, 2, 3];
    const x = { values: randomValues(rng, xShape), shape: xShape };
    const w = { values: randomValues(rng, fShape), shape: fShape };
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, 1, 'same'))))([a, b]);
    const ref = await runOn('cpu', [x, w], f);
    const got = await runOn('wasm', [x, w], f);
    check('Conv2DBackpropInput', got[0]!, ref[0]!);
    check('Conv2DBackpropFilter', got[1]!, ref[1]!);
  });

  it('takes NCHW and unequal strides (fallback and transposes)', async () => {
    const xShape4 = [2, 3, 9, 7]; // NCHW
    const fShape = [3, 3, 3, 4];
    const x = { values: randomValues(rng, xShape4), shape: xShape4 };
    const w = { values: randomValues(rng, fShape), shape: fShape };
    const yShape = [2, 4, 5, 4]; // same, strides [2, 2] in NCHW: ceil(9/2), ceil(7/2)
    const dy = { values: randomValues(rng, yShape), shape: yShape };
    const nchw = (a: tf.Tensor, b: tf.Tensor, g: tf.Tensor) => [
      tf.engine().runKernel<tf.Tensor>('Conv2DBackpropFilter', { x: a, dy: g }, { strides: 2, pad: 'same', dataFormat: 'NCHW', filterShape: fShape }),
    ];
    check('Conv2DBackpropFilter', (await runOn('wasm', [x, w, dy], nchw))[0]!, (await runOn('cpu', [x, w, dy], nchw))[0]!);
    // Unequal strides on NHWC: the input gradient keeps wasm's own kernel, the filter gradient is ours.
    const xs = [2, 9, 7, 3];
    const fs = [3, 3, 3, 4];
    const xv = { values: randomValues(rng, xs), shape: xs };
    const wv = { values: randomValues(rng, fs), shape: fs };
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, [2, 1], 'same'))))([a, b]);
    const ref = await runOn('cpu', [xv, wv], f);
    const got = await runOn('wasm', [xv, wv], f);
    check('Conv2DBackpropInput', got[0]!, ref[0]!);
    check('Conv2DBackpropFilter', got[1]!, ref[1]!);
  });
});

describe('depthwiseConv2d gradients on wasm match cpu', () => {
  type DwPad = ConvPad | number;
  const dwPadName = (p: DwPad) => (typeof p === 'number' ? `pad ${p}` : padName(p));
  const dwGrads = (stride: number | [number, number], pad: DwPad) => (a: tf.Tensor, b: tf.Tensor, g: tf.Tensor) =>
    tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.depthwiseConv2d(p as tf.Tensor4D, q as tf.Tensor4D, stride, pad))([a, b], g);
  const dwOutShape = (xShape: number[], fShape: number[], stride: number | [number, number], pad: DwPad) =>
    tf.tidy(() => tf.depthwiseConv2d(tf.zeros<tf.Rank.R4>(xShape as [number, number, number, number]), tf.zeros<tf.Rank.R4>(fShape as [number, number, number, number]), stride, pad).shape);

  it('without the kernels tf.grad through depthwiseConv2d throws on wasm (what they are for)', async () => {
    await tf.setBackend('wasm');
    const x = tf.ones<tf.Rank.R4>([1, 5, 5, 2]);
    const w = tf.ones<tf.Rank.R4>([3, 3, 2, 1]);
    tf.unregisterKernel('DepthwiseConv2dNativeBackpropInput', 'wasm');
    tf.unregisterKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm');
    try {
      expect(() => tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.depthwiseConv2d(p as tf.Tensor4D, q as tf.Tensor4D, 1, 'same'))([x, w])).toThrow(
        /DepthwiseConv2dNativeBackprop(Input|Filter)' not registered for backend 'wasm'/,
      );
    } finally {
      registerWasmTrainingKernels();
      tf.dispose([x, w]);
    }
    expect(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm')).toBeDefined();
    expect(tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm')).toBeDefined();
  });

  // Even and odd sizes, batch 1 and 3, channel multiplier 1 and 2; equal and unequal strides.
  const SHAPES: [number, number, number, number][] = [
    [1, 8, 8, 4],
    [3, 9, 7, 3],
  ];
  for (const xShape of SHAPES) {
    for (const stride of [1, 2, [1, 2], [2, 1]] as (number | [number, number])[]) {
      // A number pad only where the output size is whole (tfjs leaves it fractional otherwise).
      for (const pad of (stride === 1 ? [...PADS, 1] : PADS) as DwPad[]) {
        for (const multiplier of [1, 2]) {
          it(`x [${xShape.join(', ')}], 3×3, stride ${String(stride)}, ${dwPadName(pad)}, multiplier ${multiplier}: dx and dW by tf.grads`, async () => {
            const fShape = [3, 3, xShape[3], multiplier];
            const x = { values: randomValues(rng, xShape), shape: xShape };
            const w = { values: randomValues(rng, fShape), shape: fShape };
            const yShape = dwOutShape(xShape, fShape, stride, pad);
            const dy = { values: randomValues(rng, yShape), shape: yShape };
            const [dxRef, dwRef] = await runOn('cpu', [x, w, dy], dwGrads(stride, pad));
            const [dx, dw] = await runOn('wasm', [x, w, dy], dwGrads(stride, pad));
            check('DepthwiseConv2dNativeBackpropInput', dx!, dxRef!);
            check('DepthwiseConv2dNativeBackpropFilter', dw!, dwRef!);
          });
        }
      }
    }
  }

  // Other kernel sizes (larger than the stride or not), multiplier 3, many channels, and a pad
  // wider than the kernel (stride 1, multiplier 1 then takes the loop, not the forward kernel).
  for (const [xShape, k, stride, pad, multiplier] of [
    [[2, 10, 11, 5], 1, 2, 'same', 3],
    [[2, 10, 11, 5], 2, 2, 'valid', 1],
    [[2, 10, 11, 5], 5, 1, 'same', 2],
    [[2, 10, 11, 5], 5, 2, EXPLICIT, 1],
    [[1, 5, 5, 2], 5, 1, 'valid', 1],
    [[2, 6, 6, 72], 3, 2, 'same', 1],
    [[2, 6, 6, 72], 3, 1, 'same', 1],
    [
      [2, 7, 6, 4],
      3,
      1,
      [
        [0, 0],
        [3, 0],
        [0, 4],
        [0, 0],
      ],
      1,
    ],
  ] as [[number, number, number, number], number, number, DwPad, number][]) {
    it(`x [${xShape.join(', ')}], ${k}×${k}, stride ${stride}, ${dwPadName(pad)}, multiplier ${multiplier}: both kernels directly`, async () => {
      const fShape: [number, number, number, number] = [k, k, xShape[3], multiplier];
      const yShape = dwOutShape(xShape, fShape, stride, pad);
      const x = { values: randomValues(rng, xShape), shape: xShape };
      const w = { values: randomValues(rng, fShape), shape: fShape };
      const dy = { values: randomValues(rng, yShape), shape: yShape };
      const direct = (a: tf.Tensor, b: tf.Tensor, g: tf.Tensor) => [
        tf.engine().runKernel<tf.Tensor>('DepthwiseConv2dNativeBackpropInput', { dy: g, filter: b }, { strides: stride, pad, dilations: 1, inputShape: xShape }),
        tf.engine().runKernel<tf.Tensor>('DepthwiseConv2dNativeBackpropFilter', { x: a, dy: g }, { strides: stride, pad, dilations: 1, filterShape: fShape }),
      ];
      const [dxRef, dwRef] = await runOn('cpu', [x, w, dy], direct);
      const [dx, dw] = await runOn('wasm', [x, w, dy], direct);
      check('DepthwiseConv2dNativeBackpropInput', dx!, dxRef!);
      check('DepthwiseConv2dNativeBackpropFilter', dw!, dwRef!);
    });
  }

  it('refuses dilations other than 1 with an error naming the op, the attribute and the fix', async () => {
    await tf.setBackend('wasm');
    const dy = tf.zeros<tf.Rank.R4>([1, 4, 4, 2]);
    const w = tf.zeros<tf.Rank.R4>([3, 3, 2, 1]);
    const x = tf.zeros<tf.Rank.R4>([1, 4, 4, 2]);
    try {
      expect(() =>
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, { strides: 1, pad: 'same', dilations: [2, 2], inputShape: [1, 4, 4, 2] }),
      ).toThrow(/DepthwiseConv2dNativeBackpropInput.*dilations is \[2, 2\].*use dilations 1/);
      expect(() =>
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dilations: 2, filterShape: [3, 3, 2, 1] }),
      ).toThrow(/DepthwiseConv2dNativeBackpropFilter.*dilations is \[2, 2\].*use dilations 1/);
    } finally {
      tf.dispose([dy, w, x]);
    }
  });

  /** A MobileNet unit: depthwise 3×3 → BatchNorm with given statistics → relu6 → 1×1 conv. */
  const mobileNetUnit = (stride: number) => (x: tf.Tensor, dw: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, pw: tf.Tensor) =>
    tf.grads((a: tf.Tensor, d: tf.Tensor, g: tf.Tensor, b: tf.Tensor, p: tf.Tensor) => {
      const h = tf.depthwiseConv2d(a as tf.Tensor4D, d as tf.Tensor4D, stride, 'same');
      const n = tf.batchNorm(h, mean as tf.Tensor1D, variance as tf.Tensor1D, b as tf.Tensor1D, g as tf.Tensor1D, 1e-3);
      const y = tf.conv2d(tf.relu6(n), p as tf.Tensor4D, 1, 'same');
      return tf.sum(tf.square(y));
    })([x, dw, gamma, beta, pw]);

  for (const stride of [1, 2]) {
    it(`a MobileNet unit (depthwise 3×3 stride ${stride} → BatchNorm → relu6 → 1×1 conv): every gradient matches cpu`, async () => {
      const C = 16;
      const xShape = [3, 10, 10, C];
      const r = new SeededRandom(100 + stride);
      const positive = (n: number) => Float32Array.from(randomValues(r, [n]), (v) => 0.5 + Math.abs(v));
      const inputs = [
        { values: randomValues(r, xShape), shape: xShape },
        { values: randomValues(r, [3, 3, C, 1]).map((v) => 0.5 * v), shape: [3, 3, C, 1] },
        { values: randomValues(r, [C]), shape: [C] },
        { values: positive(C), shape: [C] },
        { values: positive(C), shape: [C] },
        { values: randomValues(r, [C]), shape: [C] },
        { values: randomValues(r, [1, 1, C, 24]).map((v) => 0.25 * v), shape: [1, 1, C, 24] },
      ];
      const ref = await runOn('cpu', inputs, mobileNetUnit(stride));
      const got = await runOn('wasm', inputs, mobileNetUnit(stride));
      const names = ['input', 'depthwise filter', 'gamma', 'beta', 'pointwise filter'];
      for (let i = 0; i < names.length; i++) check(`MobileNet unit: ${names[i]}`, got[i]!, ref[i]!);
    });
  }

  it('keeps the tensor count and the wasm buffers flat over repeated depthwise gradients', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomNormal<tf.Rank.R4>([2, 9, 9, 6]);
    const w = tf.randomNormal<tf.Rank.R4>([3, 3, 6, 2]);
    const step = () => tf.tidy(() => tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(tf.depthwiseConv2d(p as tf.Tensor4D, q as tf.Tensor4D, 2, 'same'))))([x, w]));
    tf.dispose(step());
    const before = tf.memory().numTensors;
    const buffersBefore = tf.engine().backend.numDataIds();
    for (let i = 0; i < 5; i++) tf.dispose(step());
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.engine().backend.numDataIds()).toBe(buffersBefore);
    tf.dispose([x, w]);
  });
});

describe('Conv2DBackpropInput with few positions and many channels (a flow on a 4×4 map) matches cpu', () => {
  // Few output positions against wide filters: the route that packs dyᵀ instead of the filter.
  for (const [xShape, outChannels] of [
    [[2, 3, 3, 24], 40],
    [[1, 4, 4, 32], 64],
    [[3, 2, 5, 16], 48],
  ] as [[number, number, number, number], number][]) {
    for (const stride of [1, 2]) {
      for (const pad of PADS) {
        for (const k of [1, 2, 3]) {
          it(`x [${xShape.join(', ')}] → ${outChannels}, stride ${stride}, ${padName(pad)}, kernel ${k}`, async () => {
            const fShape: [number, number, number, number] = [k, k, xShape[3], outChannels];
            const yShape = tf.tidy(() => tf.conv2d(tf.zeros<tf.Rank.R4>(xShape), tf.zeros<tf.Rank.R4>(fShape), stride, pad).shape);
            const w = { values: randomValues(rng, fShape), shape: fShape };
            const dy = { values: randomValues(rng, yShape), shape: yShape };
            const f = (b: tf.Tensor, g: tf.Tensor) => [
              tf.engine().runKernel<tf.Tensor>('Conv2DBackpropInput', { dy: g, filter: b }, { strides: stride, pad, dataFormat: 'NHWC', inputShape: xShape }),
            ];
            check('Conv2DBackpropInput', (await runOn('wasm', [w, dy], f))[0]!, (await runOn('cpu', [w, dy], f))[0]!);
          });
        }
      }
    }
  }
});

describe('conv2dTranspose on wasm matches cpu, forward and gradients', () => {
  const cases: { k: number; stride: number; pad: 'same' | 'valid' }[] = [
    { k: 2, stride: 2, pad: 'valid' }, // the decoder's up-sampling
    { k: 2, stride: 2, pad: 'same' },
    { k: 3, stride: 2, pad: 'same' },
    { k: 3, stride: 2, pad: 'valid' },
    { k: 5, stride: 2, pad: 'same' },
    { k: 1, stride: 2, pad: 'valid' },
    { k: 3, stride: 1, pad: 'same' },
    { k: 5, stride: 1, pad: 'valid' },
  ];
  for (const { k, stride, pad } of cases) {
    it(`kernel ${k}, stride ${stride}, ${pad}`, async () => {
      const inShape = [2, 5, 7, 6];
      const fShape = [k, k, 3, 6]; // [kh, kw, out channels, in channels]
      const outH = pad === 'same' ? 5 * stride : (5 - 1) * stride + k;
      const outW = pad === 'same' ? 7 * stride : (7 - 1) * stride + k;
      const outShape: [number, number, number, number] = [2, outH, outW, 3];
      const x = { values: randomValues(rng, inShape), shape: inShape };
      const w = { values: randomValues(rng, fShape), shape: fShape };
      const dy = { values: randomValues(rng, outShape), shape: outShape };
      const f = (a: tf.Tensor, b: tf.Tensor, g: tf.Tensor) => {
        const up = (p: tf.Tensor, q: tf.Tensor) => tf.conv2dTranspose(p as tf.Tensor4D, q as tf.Tensor4D, outShape, stride, pad);
        return [up(a, b), ...tf.grads(up)([a, b], g)];
      };
      const ref = await runOn('cpu', [x, w, dy], f);
      const got = await runOn('wasm', [x, w, dy], f);
      check('Conv2DBackpropInput', got[0]!, ref[0]!); // the forward pass is Conv2DBackpropInput
      check('Conv2D', got[1]!, ref[1]!); // d/dx is a forward conv
      check('Conv2DBackpropFilter', got[2]!, ref[2]!);
    });
  }
});

describe('UnsortedSegmentSum on wasm (the gradient of gather)', () => {
  it('matches cpu directly, with repeated, missing and out-of-range ids', async () => {
    const x = { values: randomValues(rng, [7, 4, 3]), shape: [7, 4, 3] };
    const ids = [2, 0, 2, 5, 1, -1, 2];
    const f = (a: tf.Tensor) => [tf.unsortedSegmentSum(a, tf.tensor1d(ids, 'int32'), 5)];
    const [got] = await runOn('wasm', [x], f);
    // Reference by hand: cpu's kernel rejects negative ids.
    const want = new Float32Array(5 * 12);
    ids.forEach((s, i) => {
      if (s < 0 || s >= 5) return;
      for (let j = 0; j < 12; j++) want[s * 12 + j]! += x.values[i * 12 + j]!;
    });
    check('UnsortedSegmentSum', got!, want);
    const g = (a: tf.Tensor) => [tf.unsortedSegmentSum(a, tf.tensor1d([2, 0, 2, 4, 1, 3, 2], 'int32'), 5)];
    check('UnsortedSegmentSum', (await runOn('wasm', [x], g))[0]!, (await runOn('cpu', [x], g))[0]!);
  });

  it('gives gather its gradient: a channel permutation and repeated rows', async () => {
    const x = { values: randomValues(rng, [2, 3, 4, 6]), shape: [2, 3, 4, 6] };
    const perm = rng.permutation(6);
    const f = (a: tf.Tensor) =>
      tf.grads((p: tf.Tensor) => tf.sum(tf.mul(tf.gather(p, perm, 3), tf.range(0, 6))))([a]).concat(
        tf.grads((p: tf.Tensor) => tf.sum(tf.square(tf.gather(p, [1, 1, 0, 1], 0))))([a]),
      );
    const ref = await runOn('cpu', [x], f);
    const got = await runOn('wasm', [x], f);
    check('UnsortedSegmentSum', got[0]!, ref[0]!);
    check('UnsortedSegmentSum', got[1]!, ref[1]!);
  });
});

describe('GatherV2 and SplitV along the last axis on wasm (channel permutations, coupling halves)', () => {
  const exact = (a: Float32Array, b: Float32Array) => expect(Array.from(a)).toEqual(Array.from(b));

  it('gather: matches cpu exactly for ranks 1–4, axis -1 or rank − 1, repeated, dropped and 2-D indices', async () => {
    for (const shape of [[7], [5, 6], [2, 3, 6], [2, 3, 4, 6], [3, 2, 2, 1]]) {
      const x = { values: randomValues(rng, shape), shape };
      const c = shape.at(-1)!;
      const perm = rng.permutation(c);
      const many = Array.from({ length: c + 3 }, (_, i) => (i * 5) % c);
      for (const axis of [-1, shape.length - 1]) {
        const f = (a: tf.Tensor) => [
          tf.gather(a, perm, axis),
          tf.gather(a, many, axis),
          tf.gather(a, [0], axis),
          tf.gather(a, tf.tensor2d(many.slice(0, 4), [2, 2], 'int32'), axis),
        ];
        const ref = await runOn('cpu', [x], f);
        const got = await runOn('wasm', [x], f);
        ref.forEach((r, i) => exact(got[i]!, r));
      }
    }
  });

  it('gather: int32 data, batchDims along the last axis (wasm\'s own kernel got it wrong), other axes through wasm\'s kernel', async () => {
    await tf.setBackend('wasm');
    const ints = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 2, 3], 'int32');
    const g = tf.gather(ints, [2, 0], -1);
    expect(g.dtype).toBe('int32');
    expect(Array.from(await g.data())).toEqual([3, 1, 6, 4, 9, 7, 12, 10]);
    tf.dispose([ints, g]);
    const x = { values: randomValues(rng, [4, 3, 5]), shape: [4, 3, 5] };
    const f = (a: tf.Tensor) => [
      tf.gather(a, [3, 0, 0], 0),
      tf.gather(a, [2, 1], 1),
      tf.gather(a, tf.tensor2d([[1, 0], [2, 2], [0, 1], [1, 1]], [4, 2], 'int32'), 2, 1),
      tf.gather(a, tf.tensor3d([[[4], [0], [1]], [[1], [1], [2]], [[0], [3], [3]], [[2], [2], [4]]], [4, 3, 1], 'int32'), -1, 2),
    ];
    const ref = await runOn('cpu', [x], f);
    const got = await runOn('wasm', [x], f);
    ref.forEach((r, i) => exact(got[i]!, r));
  });

  it('gather: an index outside the axis is an error naming it and the range', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([2, 4]);
    expect(() => tf.gather(x, [0, 4], 1)).toThrow('GatherV2: index 4 (at 1) is not in [0, 3], the size of the gathered axis');
    x.dispose();
  });

  it('split: matches cpu exactly for sizes, counts and -1, short and long rows, and other axes', async () => {
    for (const shape of [[6], [3, 8], [2, 3, 4, 130], [2, 2, 2, 6]]) {
      const x = { values: randomValues(rng, shape), shape };
      const c = shape.at(-1)!;
      const f = (a: tf.Tensor) => [
        ...tf.split(a, [c - Math.floor(c / 2), Math.floor(c / 2)], -1),
        ...tf.split(a, 2, shape.length - 1),
        ...tf.split(a, [1, -1], -1),
        ...(shape.length > 1 ? tf.split(a, [1, shape[0]! - 1], 0) : []),
      ];
      const ref = await runOn('cpu', [x], f);
      const got = await runOn('wasm', [x], f);
      expect(got.length).toBe(ref.length);
      ref.forEach((r, i) => exact(got[i]!, r));
    }
  });

  it('split and gather leave no tensor or wasm buffer behind, and their gradients match cpu', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomNormal([2, 3, 3, 8]);
    const before = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    for (let i = 0; i < 5; i++) tf.dispose([tf.gather(x, [7, 6, 5, 4, 3, 2, 1, 0], 3), ...tf.split(x, [5, 3], 3)]);
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.memory().numBytes).toBe(bytes);
    x.dispose();
    const v = { values: randomValues(rng, [2, 3, 3, 8]), shape: [2, 3, 3, 8] };
    const f = (a: tf.Tensor) =>
      tf.grads((p: tf.Tensor) => {
        const [l, r] = tf.split(tf.gather(p, [3, 1, 0, 2, 7, 5, 6, 4], 3), [3, 5], 3);
        return tf.add(tf.sum(tf.mul(l!, tf.range(0, 3))), tf.sum(tf.square(r!)));
      })([a]);
    check('GatherV2/SplitV gradient', (await runOn('wasm', [v], f))[0]!, (await runOn('cpu', [v], f))[0]!);
  });
});

describe('Sum over leading or middle axes on wasm (bias gradients), without wasm\'s transpose', () => {
  /** wasm's own Sum: float32 accumulation of the summed elements in row-major order. */
  function sequentialFloat32Sum(values: Float32Array, shape: number[], axes: number[]): Float32Array {
    const kept = shape.map((_, a) => a).filter((a) => !axes.includes(a));
    const strides = shape.map((_, a) => shape.slice(a + 1).reduce((p, q) => p * q, 1));
    const out = new Float32Array(kept.reduce((p, a) => p * shape[a]!, 1));
    for (let i = 0; i < values.length; i++) {
      let o = 0;
      for (const a of kept) o = o * shape[a]! + (Math.floor(i / strides[a]!) % shape[a]!);
      out[o]! += values[i]!;
    }
    return out;
  }
  const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

  it('gives wasm\'s own results to the bit, with keepDims, negative and unsorted axes; other cases go to wasm\'s kernel', async () => {
    const cases: [number[], number[]][] = [
      [[1024, 512], [0]],
      [[16, 8, 8, 64], [0, 1, 2]],
      [[4, 8, 8, 96], [1, 2]],
      [[4, 8, 8, 96], [-3, -2]],
      [[4, 8, 8, 96], [2, 1]],
      [[3, 5, 7, 10], [0, 1]],
      // not ours: the last axis, axes that are not one block, short rows (wasm's kernel, same arithmetic)
      [[16, 300], [1]],
      [[4, 8, 8, 96], [0, 2]],
      [[3, 5, 7], [0, 1]],
    ];
    for (const [shape, axes] of cases) {
      const x = { values: randomValues(rng, shape), shape };
      const sorted = [...new Set(axes.map((a) => (a < 0 ? a + shape.length : a)))].sort((p, q) => p - q);
      const expected = sequentialFloat32Sum(x.values, shape, sorted);
      for (const keepDims of [false, true]) {
        await tf.setBackend('wasm');
        const got = tf.tidy(() => tf.sum(tf.tensor(x.values, shape), axes, keepDims));
        const kept = shape.map((d, a) => (sorted.includes(a) ? 1 : d));
        expect(got.shape, `${JSON.stringify(shape)} ${JSON.stringify(axes)}`).toEqual(keepDims ? kept : shape.filter((_, a) => !sorted.includes(a)));
        expect(bits((await got.data()) as Float32Array), `${JSON.stringify(shape)} ${JSON.stringify(axes)}`).toEqual(bits(expected));
        got.dispose();
      }
      const [cpu] = await runOn('cpu', [x], (a) => [tf.sum(a, axes)]);
      check('Sum (vs cpu)', expected, cpu!);
    }
    // int32 goes to wasm's kernel
    await tf.setBackend('wasm');
    const ints = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
    const summed = tf.sum(ints, 0);
    expect([summed.dtype, Array.from(await summed.data())]).toEqual(['int32', [9, 12]]);
    tf.dispose([ints, summed]);
  });
});

describe('Tile on wasm as row copies (BatchNorm gradients tile a [1, 1, 1, C] vector)', () => {
  it('matches cpu exactly for ranks 1–4, repeats on any axis, int32; short rows go to wasm\'s kernel', async () => {
    const cases: [number[], number[]][] = [
      [[1, 1, 1, 512], [32, 8, 8, 1]], // BatchNorm's gradient
      [[2, 3, 1, 40], [2, 1, 3, 1]],
      [[3, 2, 33], [1, 2, 1]],
      [[2, 17], [3, 2]], // rows of 34: repeats on the last axis
      [[70], [3]],
      [[2, 1, 3, 5], [1, 4, 2, 3]], // rows of 15: wasm's kernel
    ];
    for (const [shape, reps] of cases) {
      const x = { values: randomValues(rng, shape), shape };
      const f = (a: tf.Tensor) => [tf.tile(a, reps), tf.tile(tf.cast(tf.mul(a, 100), 'int32'), reps)];
      const ref = await runOn('cpu', [x], f);
      const got = await runOn('wasm', [x], f);
      for (let i = 0; i < ref.length; i++) expect(Array.from(got[i]!), `tile [${shape.join(', ')}] by [${reps.join(', ')}], output ${i}`).toEqual(Array.from(ref[i]!));
    }
  });
});

describe('training on wasm', () => {
  /** A tiny conv net with every supplied kernel on its path: conv, transposed conv, gather. */
  function tinyNet(seed: number) {
    const r = new SeededRandom(seed);
    const vars = {
      w1: tf.variable<tf.Rank.R4>(r.normalTensor([3, 3, 3, 8], 0.3) as tf.Tensor4D),
      w2: tf.variable<tf.Rank.R4>(r.normalTensor([2, 2, 4, 8], 0.3) as tf.Tensor4D),
      w3: tf.variable<tf.Rank.R4>(r.normalTensor([3, 3, 4, 3], 0.3) as tf.Tensor4D),
    };
    const perm = r.permutation(4);
    const forward = (x: tf.Tensor4D) => {
      const h = tf.relu(tf.conv2d(x, vars.w1, 2, 'same')); // [n, 4, 4, 8]
      const up = tf.conv2dTranspose(h, vars.w2, [x.shape[0], 8, 8, 4], 2, 'valid');
      return tf.conv2d(tf.gather(up, perm, 3), vars.w3, 1, 'same');
    };
    return { vars, forward };
  }

  it('keeps the tensor count and the wasm buffers flat over repeated gradient steps', async () => {
    await tf.setBackend('wasm');
    const { vars, forward } = tinyNet(1);
    const x = tf.randomNormal<tf.Rank.R4>([2, 8, 8, 3]);
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(forward(x))), Object.values(vars));
        return [value, ...Object.values(grads)];
      });
    tf.dispose(step()); // first call may set up caches
    const before = tf.memory().numTensors;
    const buffersBefore = tf.engine().backend.numDataIds();
    for (let i = 0; i < 5; i++) tf.dispose(step());
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.engine().backend.numDataIds()).toBe(buffersBefore);
    tf.dispose([x, ...Object.values(vars)]);
  });

  it('trains a tiny conv + transposed conv net with adam (loss falls); without the kernels it throws', async () => {
    await tf.setBackend('wasm');
    const { vars, forward } = tinyNet(2);
    const r = new SeededRandom(3);
    const x = r.normalTensor([4, 8, 8, 3]) as tf.Tensor4D;
    const target = tf.tidy(() => tf.mul(x, 0.5));
    const opt = tf.train.adam(0.02);
    const loss = () => tf.mean<tf.Scalar>(tf.squaredDifference(forward(x), target));

    tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
    try {
      expect(() => opt.minimize(loss, false, Object.values(vars))).toThrow(/Conv2DBackpropFilter/);
    } finally {
      registerWasmTrainingKernels();
    }

    const losses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const l = opt.minimize(loss, true, Object.values(vars))!;
      if (i === 0 || i === 39) losses.push((await l.data())[0]!);
      l.dispose();
    }
    expect(losses[1]!).toBeLessThan(0.5 * losses[0]!);
    opt.dispose();
    tf.dispose([x, target, ...Object.values(vars)]);
    console.log('worst relative errors:', JSON.stringify(worst));
  });
});
