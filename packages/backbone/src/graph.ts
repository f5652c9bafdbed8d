import type { Activation, ConvUnit } from './conv-unit.js';
import type { MobileNetModel } from './mobilenet.js';
import type { ResNetModel } from './resnet.js';

/**
 * An encoder as plain data for exporters (ONNX): its operations in order, weights in PyTorch /
 * ONNX layout (NCHW activations, OIHW filters), eval-mode BatchNorm folded where the encoder folds
 * it. Nothing here is a tensor: an exporter needs no backend to read it.
 */
export type EncoderGraphNode =
  | {
      op: 'conv';
      /** The layer's name (torchvision module or Keras layer). */
      name: string;
      input: string;
      output: string;
      /** [out, in / group, kh, kw]. */
      weight: Float32Array;
      weightShape: [number, number, number, number];
      bias?: Float32Array;
      /** Eval-mode BatchNorm after the convolution, when not folded into it. */
      batchNorm?: { gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array; epsilon: number };
      /** 1, or the channel count for a depthwise convolution. */
      group: number;
      stride: number;
      /** [top, left, bottom, right], or TensorFlow's 'same' (the extra pixel at the end, ONNX's SAME_UPPER). */
      pad: [number, number, number, number] | 'same';
      activation: Activation;
    }
  | { op: 'maxPool'; input: string; output: string; kernel: number; stride: number; pad: [number, number, number, number] }
  | { op: 'pad'; input: string; output: string; pad: [number, number, number, number] }
  | { op: 'batchNorm'; input: string; output: string; gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array; epsilon: number }
  | { op: 'activation'; input: string; output: string; activation: Activation }
  /** `activation(a + b)` (a residual connection). */
  | { op: 'add'; inputs: [string, string]; output: string; activation: Activation };

export interface EncoderGraph {
  /** The name of the normalised NCHW input (3 channels). */
  input: string;
  nodes: EncoderGraphNode[];
  /** Tap name → the name of its output. */
  outputs: Record<string, string>;
}

/** HWIO (conv) or [kh, kw, C, multiplier] (depthwise) → OIHW ([C·multiplier, 1, kh, kw] for depthwise). */
function toOihw(unit: ConvUnit): { weight: Float32Array; shape: [number, number, number, number] } {
  const [kh, kw, a, b] = unit.filter.shape;
  const src = unit.filter.dataSync() as Float32Array;
  const out = new Float32Array(src.length);
  if (unit.kind === 'conv') {
    // filter[h][w][i][o] → weight[o][i][h][w]
    for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) for (let i = 0; i < a; i++) for (let o = 0; o < b; o++) out[((o * a + i) * kh + h) * kw + w] = src[((h * kw + w) * a + i) * b + o]!;
    return { weight: out, shape: [b, a, kh, kw] };
  }
  // depthwise filter[h][w][c][m] → weight[c·multiplier + m][0][h][w]
  for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) for (let c = 0; c < a; c++) for (let m = 0; m < b; m++) out[((c * b + m) * kh + h) * kw + w] = src[((h * kw + w) * a + c) * b + m]!;
  return { weight: out, shape: [a * b, 1, kh, kw] };
}

/** A conv unit as a graph node. */
export function convNode(unit: ConvUnit, input: string, output: string, activation: Activation): EncoderGraphNode {
  const { weight, shape } = toOihw(unit);
  const p = unit.pad;
  const pad: [number, number, number, number] | 'same' = p === 'same' ? 'same' : p === 'valid' ? [0, 0, 0, 0] : [p, p, p, p];
  const bn = unit.batchNorm;
  return {
    op: 'conv',
    name: unit.name,
    input,
    output,
    weight,
    weightShape: shape,
    ...(unit.bias ? { bias: unit.bias.dataSync() as Float32Array } : {}),
    ...(bn
      ? {
          batchNorm: {
            gamma: bn.gamma.dataSync() as Float32Array,
            beta: bn.beta.dataSync() as Float32Array,
            mean: bn.mean.dataSync() as Float32Array,
            variance: bn.variance.dataSync() as Float32Array,
            epsilon: bn.epsilon,
          },
        }
      : {}),
    group: unit.kind === 'depthwise' ? unit.inChannels : 1,
    stride: unit.stride,
    pad,
    activation,
  };
}

/** The stem and stages of a ResNet (as `resnetForward` runs them) up to the deepest wanted stage. */
export function resnetGraph(model: ResNetModel, stages: ReadonlyMap<string, number>): EncoderGraph {
  const nodes: EncoderGraphNode[] = [];
  const outputs: Record<string, string> = {};
  nodes.push(convNode(model.stem, 'input', 'stem', 'relu'));
  // PyTorch's max-pool pads with −inf; after the ReLU every value is ≥ 0, so any pad value gives the same result.
  nodes.push({ op: 'maxPool', input: 'stem', output: 'maxpool', kernel: 3, stride: 2, pad: [1, 1, 1, 1] });
  let h = 'maxpool';
  model.stages.forEach((blocks, s) => {
    blocks.forEach((b, i) => {
      const prefix = `layer${s + 1}.${i}`;
      let y = h;
      b.convs.forEach((u, k) => {
        const out = `${prefix}.conv${k + 1}`;
        nodes.push(convNode(u, y, out, k === b.convs.length - 1 ? 'linear' : 'relu'));
        y = out;
      });
      let shortcut = h;
      if (b.downsample) {
        shortcut = `${prefix}.downsample`;
        nodes.push(convNode(b.downsample, h, shortcut, 'linear'));
      }
      nodes.push({ op: 'add', inputs: [y, shortcut], output: prefix, activation: 'relu' });
      h = prefix;
    });
    for (const [tap, stage] of stages) if (stage === s) outputs[tap] = h;
  });
  return { input: 'input', nodes, outputs };
}

/** The ops of a MobileNet (as `mobilenetForward` runs them) up to its taps. */
export function mobilenetGraph(model: MobileNetModel, layerOf: ReadonlyMap<string, string>): EncoderGraph {
  const nodes: EncoderGraphNode[] = [];
  let h = 'input';
  for (const op of model.ops) {
    const out = op.output;
    if (op.kind === 'pad') nodes.push({ op: 'pad', input: h, output: out, pad: [op.pad[0][0], op.pad[1][0], op.pad[0][1], op.pad[1][1]] });
    else if (op.kind === 'act') nodes.push({ op: 'activation', input: h, output: out, activation: op.activation });
    else if (op.kind === 'bn') {
      const bn = op.bn;
      nodes.push({
        op: 'batchNorm',
        input: h,
        output: out,
        gamma: bn.gamma.dataSync() as Float32Array,
        beta: bn.beta.dataSync() as Float32Array,
        mean: bn.mean.dataSync() as Float32Array,
        variance: bn.variance.dataSync() as Float32Array,
        epsilon: bn.epsilon,
      });
    } else nodes.push(convNode(op.unit, h, out, op.activation));
    h = out;
  }
  const outputs: Record<string, string> = {};
  for (const [tap, layer] of layerOf) outputs[tap] = layer;
  return { input: 'input', nodes, outputs };
}
