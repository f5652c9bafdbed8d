/**
 * Interoperability with PyTorch checkpoints: a state dict written by hand in PyTorch's layouts
 * (Conv2d [out, in, kh, kw], Linear [out, in], BatchNorm [C], FrEIA's global_scale /
 * global_offset [1, C, 1, 1], an index permutation) loads into the layers and gives (a) the same
 * output as layers whose TensorFlow.js-layout variables hold the same values, and (b) the output
 * of a plain-loop reference that reads the PyTorch tensors with PyTorch's indexing (NCHW conv,
 * zero padding 1, eval-mode BatchNorm, FrEIA's AllInOneBlock forward).
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, maxAbsDiff, perturb, randomInput, useBackend } from '../test/helpers.js';
import { AffineCoupling } from './affine-coupling.js';
import { AllInOneBlock } from './all-in-one-block.js';
import { createAllInOneFlow } from './create-all-in-one-flow.js';
import { isLegacyFlowRecord } from './legacy-weights.js';
import type { Permute } from './permute.js';
import type { SequenceFlow } from './sequence-flow.js';
import { MlpSubnet, mlpSubnet } from './mlp-subnet.js';
import { type ResNetSubnet, resnetSubnet } from './resnet-subnet.js';
import { seededRandom } from './random.js';

const C = 5; // channels of the block: C1 = 3 passive, C2 = 2 transformed
const C1 = C - Math.floor(C / 2);
const C2 = Math.floor(C / 2);
const HIDDEN = 4;
const H = 3;
const W = 4;
const N = 2;
const EPS = 1e-5;

/** A flat array with its shape, indexed in row-major order (as torch.Tensor.contiguous()). */
interface Arr {
  shape: number[];
  data: Float32Array;
}

function randomArr(shape: number[], random: () => number, scale = 0.5, offset = 0): Arr {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = offset + scale * (2 * random() - 1);
  return { shape, data };
}

function at(a: Arr, ...idx: number[]): number {
  let flat = 0;
  for (let k = 0; k < idx.length; k++) flat = flat * a.shape[k]! + idx[k]!;
  return a.data[flat]!;
}

/** The PyTorch state dict of FrEIA-style weights for one block, built from plain arrays. */
interface TorchBlock {
  conv1: Arr; // [HIDDEN, C1, 3, 3]
  bn: { weight: Arr; bias: Arr; mean: Arr; var: Arr }; // [HIDDEN]
  conv2: Arr; // [2·C2, HIDDEN, 1, 1]
  conv2Bias: Arr;
  shortcut: Arr; // [2·C2, C1, 1, 1]
  shortcutBias: Arr;
  globalScale: Arr; // [1, C, 1, 1]
  globalOffset: Arr;
  perm: number[];
}

function makeTorchBlock(seed: number): TorchBlock {
  const r = seededRandom(seed);
  return {
    conv1: randomArr([HIDDEN, C1, 3, 3], r),
    bn: {
      weight: randomArr([HIDDEN], r, 0.3, 1),
      bias: randomArr([HIDDEN], r, 0.3),
      mean: randomArr([HIDDEN], r, 0.3),
      var: randomArr([HIDDEN], r, 0.3, 1),
    },
    conv2: randomArr([2 * C2, HIDDEN, 1, 1], r),
    conv2Bias: randomArr([2 * C2], r),
    shortcut: randomArr([2 * C2, C1, 1, 1], r),
    shortcutBias: randomArr([2 * C2], r),
    globalScale: randomArr([1, C, 1, 1], r, 1, 9), // FrEIA's SOFTPLUS parameter (≈ scale 1 at 9.93)
    globalOffset: randomArr([1, C, 1, 1], r, 0.3),
    perm: [3, 0, 4, 1, 2],
  };
}

const tensorOf = (a: Arr): tf.Tensor => tf.tensor(a.data, a.shape, 'float32');

/** Our keys for the block (`coupling.subnet.*`, `actnorm.*`, `permute.*`) → PyTorch-layout tensors. */
function stateDict(b: TorchBlock): Record<string, tf.Tensor> {
  return {
    'coupling.subnet.conv1.weight': tensorOf(b.conv1),
    'coupling.subnet.bn1.weight': tensorOf(b.bn.weight),
    'coupling.subnet.bn1.bias': tensorOf(b.bn.bias),
    'coupling.subnet.bn1.running_mean': tensorOf(b.bn.mean),
    'coupling.subnet.bn1.running_var': tensorOf(b.bn.var),
    'coupling.subnet.bn1.num_batches_tracked': tf.scalar(7, 'int32'),
    'coupling.subnet.conv2.weight': tensorOf(b.conv2),
    'coupling.subnet.conv2.bias': tensorOf(b.conv2Bias),
    'coupling.subnet.shortcut.weight': tensorOf(b.shortcut),
    'coupling.subnet.shortcut.bias': tensorOf(b.shortcutBias),
    'actnorm.global_scale': tensorOf(b.globalScale),
    'actnorm.global_offset': tensorOf(b.globalOffset),
    'permute.permutation': tf.tensor1d(b.perm, 'int32'),
  };
}

/** Writes the same values into a subnet's TensorFlow.js-layout variables directly (index loops). */
function assignTfLayout(subnet: ResNetSubnet, b: TorchBlock): void {
  const conv1 = new Float32Array(3 * 3 * C1 * HIDDEN); // [kh, kw, in, out]
  for (let kh = 0; kh < 3; kh++)
    for (let kw = 0; kw < 3; kw++)
      for (let i = 0; i < C1; i++)
        for (let o = 0; o < HIDDEN; o++) conv1[((kh * 3 + kw) * C1 + i) * HIDDEN + o] = at(b.conv1, o, i, kh, kw);
  const dense = (w: Arr, cin: number, cout: number): Float32Array => {
    const out = new Float32Array(cin * cout); // [in, out]
    for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) out[i * cout + o] = at(w, o, i, 0, 0);
    return out;
  };
  tf.tidy(() => {
    subnet.conv1.weight.assign(tf.tensor(conv1, [3, 3, C1, HIDDEN]));
    subnet.bn1.weight.assign(tensorOf(b.bn.weight));
    subnet.bn1.bias.assign(tensorOf(b.bn.bias));
    subnet.bn1.runningMean.assign(tensorOf(b.bn.mean));
    subnet.bn1.runningVar.assign(tensorOf(b.bn.var));
    subnet.conv2.weight.assign(tf.tensor(dense(b.conv2, HIDDEN, 2 * C2), [HIDDEN, 2 * C2]));
    subnet.conv2.bias!.assign(tensorOf(b.conv2Bias));
    subnet.shortcut.weight.assign(tf.tensor(dense(b.shortcut, C1, 2 * C2), [C1, 2 * C2]));
    subnet.shortcut.bias!.assign(tensorOf(b.shortcutBias));
  });
}

/** NHWC input as a plain array. */
function makeInput(seed: number): Arr {
  return randomArr([N, H, W, C], seededRandom(seed), 1);
}

/**
 * FrEIA's AllInOneBlock forward in eval mode (SOFTPLUS global affine, soft clamp 2, fixed
 * permutation), reading the PyTorch tensors with PyTorch's indexing. Returns NHWC output and
 * the per-sample log-det.
 */
function referenceBlock(b: TorchBlock, x: Arr): { y: Float32Array; logDet: number[] } {
  const xs = (n: number, h: number, w: number, c: number): number => at(x, n, h, w, c);
  const y = new Float32Array(N * H * W * C);
  const logDet = new Array<number>(N).fill(0);
  const scale = Array.from({ length: C }, (_, c) => 0.2 * Math.log1p(Math.exp(at(b.globalScale, 0, c, 0, 0) / 2)));
  const pre = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        // subnet(x1): relu(bn(conv3x3(x1))) → conv1x1, plus shortcut(x1)
        const hid = new Float64Array(HIDDEN);
        for (let o = 0; o < HIDDEN; o++) {
          let s = 0;
          for (let i = 0; i < C1; i++)
            for (let kh = 0; kh < 3; kh++)
              for (let kw = 0; kw < 3; kw++) {
                const hh = h + kh - 1;
                const ww = w + kw - 1;
                if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
                s += at(b.conv1, o, i, kh, kw) * xs(n, hh, ww, i);
              }
          const bn = ((s - at(b.bn.mean, o)) / Math.sqrt(at(b.bn.var, o) + EPS)) * at(b.bn.weight, o) + at(b.bn.bias, o);
          hid[o] = Math.max(0, bn);
        }
        const a = new Float64Array(2 * C2);
        for (let o = 0; o < 2 * C2; o++) {
          let s = at(b.conv2Bias, o) + at(b.shortcutBias, o);
          for (let i = 0; i < HIDDEN; i++) s += at(b.conv2, o, i, 0, 0) * hid[i]!;
          for (let i = 0; i < C1; i++) s += at(b.shortcut, o, i, 0, 0) * xs(n, h, w, i);
          a[o] = 0.1 * s;
        }
        for (let c = 0; c < C1; c++) pre[c] = xs(n, h, w, c);
        for (let c = 0; c < C2; c++) {
          const j = 2 * Math.tanh(a[c]! / 2);
          pre[C1 + c] = xs(n, h, w, C1 + c) * Math.exp(j) + a[C2 + c]!;
          logDet[n]! += j;
        }
        for (let c = 0; c < C; c++) pre[c] = pre[c]! * scale[c]! + at(b.globalOffset, 0, c, 0, 0);
        for (let j = 0; j < C; j++) y[((n * H + h) * W + w) * C + j] = pre[b.perm[j]!]!;
      }
    }
    logDet[n]! += H * W * scale.reduce((s, v) => s + Math.log(v), 0);
  }
  return { y, logDet };
}

describe.each(BACKENDS)('PyTorch-layout state dicts on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('a hand-built PyTorch state dict for the resnet subnet and the coupling gives the same output as the same values in TF.js-layout variables', () => {
    const b = makeTorchBlock(3);
    const dict = stateDict(b);
    const couplingDict: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(dict)) if (k.startsWith('coupling.')) couplingDict[k.slice('coupling.'.length)] = v;

    const fromTorch = new AffineCoupling({ channels: C, subnet: resnetSubnet({ hiddenChannels: HIDDEN }), seed: 1 });
    fromTorch.setWeights(couplingDict);
    const direct = new AffineCoupling({ channels: C, subnet: resnetSubnet({ hiddenChannels: HIDDEN }), seed: 2 });
    assignTfLayout(direct.subnet as ResNetSubnet, b);

    const x = tensorOf(makeInput(5));
    const x1 = tf.slice(x, [0, 0, 0, 0], [N, H, W, C1]);
    const sa = fromTorch.subnet.apply(x1, false);
    const sb = direct.subnet.apply(x1, false);
    expect(maxAbsDiff(sa, sb)).toBe(0);
    const ya = fromTorch.forward(x);
    const yb = direct.forward(x);
    expect(maxAbsDiff(ya.y, yb.y)).toBe(0);
    expect(maxAbsDiff(ya.logDet, yb.logDet)).toBe(0);
    // The transform is not the identity, so the comparison is not vacuous.
    expect(maxAbsDiff(ya.y, x)).toBeGreaterThan(1e-3);

    // Saving gives back exactly the PyTorch tensors that were loaded.
    const saved = fromTorch.getWeights();
    for (const [k, v] of Object.entries(couplingDict)) {
      expect(saved[k]!.shape, k).toEqual(v.shape);
      expect(Array.from(saved[k]!.dataSync()), k).toEqual(Array.from(v.dataSync()));
    }
    tf.dispose([...Object.values(saved), ...Object.values(dict), x, x1, sa, sb, ya.y, ya.logDet, yb.y, yb.logDet]);
    fromTorch.dispose();
    direct.dispose();
  });

  it('an AllInOne block loaded from a PyTorch state dict matches a plain-loop FrEIA reference reading PyTorch indexing', () => {
    const b = makeTorchBlock(11);
    const dict = stateDict(b);
    const block = new AllInOneBlock({ channels: C, subnet: resnetSubnet({ hiddenChannels: HIDDEN }), seed: 4 });
    block.setWeights(dict);
    const xa = makeInput(6);
    const x = tensorOf(xa);
    const out = block.forward(x);
    const ref = referenceBlock(b, xa);
    const expected = tf.tensor(ref.y, [N, H, W, C]);
    expect(maxAbsDiff(out.y, expected)).toBeLessThan(1e-5);
    const logDet = Array.from(out.logDet.dataSync());
    logDet.forEach((v, n) => expect(v).toBeCloseTo(ref.logDet[n]!, 3));
    tf.dispose([...Object.values(dict), x, out.y, out.logDet, expected]);
    block.dispose();
  });

  it('Linear weights of the mlp subnet load as PyTorch [out, in] and apply y = W·x + b', () => {
    const coupling = new AffineCoupling({ channels: 3, subnet: mlpSubnet({ hiddenChannels: 2, hiddenLayers: 1 }), seed: 1 });
    // C1 = 2 → hidden 2 → 2·C2 = 2.
    const w1 = [[0.5, -1], [2, 0.25]];
    const b1 = [0.1, -0.2];
    const w2 = [[1, -0.5], [0.3, 2]];
    const b2 = [0.05, 0.4];
    const weights = {
      'subnet.fc1.weight': tf.tensor2d(w1),
      'subnet.fc1.bias': tf.tensor1d(b1),
      'subnet.fc2.weight': tf.tensor2d(w2),
      'subnet.fc2.bias': tf.tensor1d(b2),
    };
    coupling.setWeights(weights);
    const xv = [0.7, -1.3];
    const hidden = w1.map((row, o) => Math.max(0, row[0]! * xv[0]! + row[1]! * xv[1]! + b1[o]!));
    const expected = w2.map((row, o) => row[0]! * hidden[0]! + row[1]! * hidden[1]! + b2[o]!);
    const x = tf.tensor2d([xv]);
    const got = coupling.subnet.apply(x, false);
    expect(Array.from(got.dataSync())).toEqual(expected.map((v) => expect.closeTo(v, 6) as number));
    tf.dispose([...Object.values(weights), x, got]);
    coupling.dispose();
  });
});

/** The record the flows wrote before the PyTorch layouts: the variables themselves, TF.js layout. */
function legacyRecord(flow: SequenceFlow): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  flow.layers.forEach((layer, i) => {
    const block = layer as AllInOneBlock;
    const subnet = block.coupling.subnet;
    const p = `${i}.coupling.subnet.`;
    if (subnet instanceof MlpSubnet) {
      subnet.layers.forEach((l, k) => {
        out[`${p}fc${k + 1}.weight`] = l.weight;
        out[`${p}fc${k + 1}.bias`] = l.bias!;
      });
    } else {
      const s = subnet as ResNetSubnet;
      out[`${p}conv1.weight`] = s.conv1.weight;
      out[`${p}bn1.weight`] = s.bn1.weight;
      out[`${p}bn1.bias`] = s.bn1.bias;
      out[`${p}bn1.running_mean`] = s.bn1.runningMean;
      out[`${p}bn1.running_var`] = s.bn1.runningVar;
      for (const [name, conv] of [['conv2', s.conv2], ['shortcut', s.shortcut]] as const) {
        out[`${p}${name}.weight`] = conv.weight;
        out[`${p}${name}.bias`] = conv.bias!;
      }
    }
    out[`${i}.actnorm.${block.actnorm.scaleActivation === 'softplus' ? 'gamma' : 'log_scale'}`] = block.actnorm.scaleParam;
    out[`${i}.actnorm.offset`] = block.actnorm.offset;
    out[`${i}.permute.permutation`] = (block.mixing as Permute).getWeights().permutation!;
  });
  return out;
}

describe('records in the old TF.js layout', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it.each([
    ['resnet', [2, 3, 3, 6]],
    ['mlp', [4, 6]],
  ] as const)('a %s flow saved before the PyTorch layouts (actnorm.gamma, [kh, kw, in, out]) loads and gives identical outputs', (subnet, shape) => {
    const a = createAllInOneFlow({ channels: 6, blocks: 2, subnet, hiddenChannels: 5, permutation: 'random', seed: 1 });
    perturb(a.trainableVariables, 9, 0.3);
    const x = randomInput([...shape], 3);
    if (subnet === 'resnet') tf.dispose(a.forward(x, { training: true })); // non-trivial running statistics
    const legacy = legacyRecord(a);
    expect(isLegacyFlowRecord(legacy)).toBe(true);
    const current = a.getWeights();
    expect(isLegacyFlowRecord(current)).toBe(false);
    const ya = a.forward(x);
    const before = tf.memory().numTensors;
    const b = createAllInOneFlow({ channels: 6, blocks: 2, subnet, hiddenChannels: 5, permutation: 'random', seed: 2 });
    b.setWeights(legacy);
    const bWeights = b.getWeights();
    for (const [k, v] of Object.entries(current)) {
      if (k.endsWith('num_batches_tracked')) continue; // the old format had no counter: loads as 0
      expect(Array.from(bWeights[k]!.dataSync()), k).toEqual(Array.from(v.dataSync()));
    }
    const yb = b.forward(x);
    expect(maxAbsDiff(ya.y, yb.y)).toBe(0);
    tf.dispose([...Object.values(bWeights), yb.y, yb.logDet]);
    b.dispose();
    // The conversion released its temporaries: building, loading and disposing b added nothing.
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...Object.values(current), x, ya.y, ya.logDet]);
    Object.entries(legacy).filter(([k]) => k.endsWith('permutation')).forEach(([, t]) => t.dispose());
    a.dispose();
  });
});
