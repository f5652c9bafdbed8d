import * as tf from '@tensorflow/tfjs-core';
import type { EncoderGraph } from '@aeflow/backbone';
import { topQuarterCount, type AEFlow } from '@aeflow/model';
import { onnx } from './onnx-proto.js';
import { OnnxGraph } from './onnx-graph.js';

/** The opset the exporter writes (ONNX 1.12; ONNX Runtime ≥ 1.12). */
export const ONNX_OPSET = 17;

/**
 * The graph's input and outputs. Layout is NCHW (ONNX's convention, PyTorch's and anomalib's);
 * inside TensorFlow.js aeflow is NHWC, so a caller holding NHWC pixels transposes once
 * ({@link nhwcToNchw}).
 */
export const ONNX_IO = {
  /** [batch, 1 or 3, size, size] float32 in [0, 1]; a gray channel is repeated to 3 inside the graph. */
  input: 'image',
  /** [batch]: β·score_flow + (1 − β)·score_recon, higher = more anomalous. */
  score: 'score',
  /** [batch]: the flow part (or the kNN distance). */
  scoreFlow: 'score_flow',
  /** [batch]: −SSIM(x, x′) (0 without a decoder). */
  scoreRecon: 'score_recon',
  /** [batch, size, size]: where the image differs from normal (as `AEFlow.scoreTensors`' `residual`). */
  anomalyMap: 'anomaly_map',
  /** [batch, C, h, w]: the flow's output z′ (models with a flow or a decoder). */
  z: 'z',
  /** [batch]: log|det ∂z′/∂z| (models with a flow). */
  logDet: 'log_det',
  /** [batch, 3, size, size]: x′ in [0, 1] (models with a decoder). */
  reconstruction: 'reconstruction',
} as const;

export interface OnnxExportOptions {
  /** Written to the model's producer_version (e.g. the aeflow version). */
  producerVersion?: string;
  /** Extra metadata_props (e.g. the run folder it came from). */
  metadata?: Record<string, string>;
}

/** What {@link exportOnnx} returns. */
export interface OnnxExport {
  /** The serialized ModelProto. */
  bytes: Uint8Array;
  /** The graph's outputs, in order (the names of {@link ONNX_IO} this model has). */
  outputs: string[];
  /** The metadata_props written. */
  metadata: Record<string, string>;
}

const LOG_2PI = Math.log(2 * Math.PI);

/** The model's weights as plain arrays (read once; the tensors are disposed). */
function readWeights(model: AEFlow): Map<string, { data: Float32Array | Int32Array; shape: number[] }> {
  const tensors = model.getWeights();
  try {
    return new Map(Object.entries(tensors).map(([k, t]) => [k, { data: t.dataSync() as Float32Array | Int32Array, shape: [...t.shape] }]));
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

class Exporter {
  readonly g = new OnnxGraph();
  private readonly w: Map<string, { data: Float32Array | Int32Array; shape: number[] }>;

  constructor(readonly model: AEFlow) {
    this.w = readWeights(model);
  }

  weight(key: string): { data: Float32Array | Int32Array; shape: number[] } {
    const v = this.w.get(key);
    if (!v) throw new Error(`exportOnnx: the model has no weight "${key}" (it has ${[...this.w.keys()].slice(0, 8).join(', ')}…); is it a model kind or flow setting the exporter does not know?`);
    return v;
  }

  constantOf(key: string): string {
    const v = this.weight(key);
    return this.g.constant(key, v.data, v.shape);
  }

  activation(x: string, a: 'linear' | 'relu' | 'relu6'): string {
    if (a === 'relu') return this.g.op('Relu', [x]);
    if (a === 'relu6') return this.g.op('Clip', [x, this.g.scalar(0), this.g.scalar(6)], {}, 'relu6');
    return x;
  }

  /** The encoder's graph, from the normalised NCHW input to the tap. */
  encoder(input: string): string {
    const graph: EncoderGraph = this.model.encoder.graph();
    const names = new Map<string, string>([[graph.input, input]]);
    const get = (n: string): string => {
      const v = names.get(n);
      if (v === undefined) throw new Error(`exportOnnx: the encoder graph uses "${n}" before it is made`);
      return v;
    };
    const g = this.g;
    const bn = (x: string, p: { gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array; epsilon: number }, name: string): string => {
      const c = p.gamma.length;
      return g.op(
        'BatchNormalization',
        [x, g.constant(`${name}.bn.weight`, p.gamma, [c]), g.constant(`${name}.bn.bias`, p.beta, [c]), g.constant(`${name}.bn.mean`, p.mean, [c]), g.constant(`${name}.bn.var`, p.variance, [c])],
        { epsilon: { float: p.epsilon } },
      );
    };
    for (const node of graph.nodes) {
      let out: string;
      if (node.op === 'conv') {
        const prefix = `encoder.${node.name}`;
        const inputs = [get(node.input), g.constant(`${prefix}.weight`, node.weight, node.weightShape)];
        if (node.bias) inputs.push(g.constant(`${prefix}.bias`, node.bias, [node.bias.length]));
        const [, , kh, kw] = node.weightShape;
        const attrs = {
          kernel_shape: [kh, kw],
          strides: [node.stride, node.stride],
          group: node.group,
          ...(node.pad === 'same' ? { auto_pad: 'SAME_UPPER' } : { pads: [node.pad[0], node.pad[1], node.pad[2], node.pad[3]] }),
        };
        out = g.op('Conv', inputs, attrs);
        if (node.batchNorm) out = bn(out, node.batchNorm, prefix);
        out = this.activation(out, node.activation);
      } else if (node.op === 'maxPool') {
        out = g.op('MaxPool', [get(node.input)], { kernel_shape: [node.kernel, node.kernel], strides: [node.stride, node.stride], pads: [...node.pad] });
      } else if (node.op === 'pad') {
        const [t, l, b, r] = node.pad;
        out = g.op('Pad', [get(node.input), g.ints('pads', [0, 0, t, l, 0, 0, b, r])], { mode: 'constant' });
      } else if (node.op === 'batchNorm') {
        out = bn(get(node.input), node, `encoder.${node.output}`);
      } else if (node.op === 'activation') {
        out = this.activation(get(node.input), node.activation);
      } else {
        out = this.activation(g.op('Add', [get(node.inputs[0]), get(node.inputs[1])]), node.activation);
      }
      names.set(node.output, out);
    }
    const tap = graph.outputs[this.model.tap];
    if (tap === undefined) throw new Error(`exportOnnx: the encoder graph has no output for the tap "${this.model.tap}"`);
    return get(tap);
  }

  /** `Σ over axes` (opset 13+: axes as an input). */
  reduceSum(x: string, axes: number[], keepdims: 0 | 1): string {
    return this.g.op('ReduceSum', [x, this.g.ints('axes', axes)], { keepdims });
  }

  /** `mean over axes` (opset 17: axes as an attribute). */
  reduceMean(x: string, axes: number[], keepdims: 0 | 1): string {
    return this.g.op('ReduceMean', [x], { axes, keepdims });
  }

  /** `flow.featureNorm: 'l2'`: each position's vector to norm √C. */
  flowInput(features: string): string {
    if (this.model.config.flow.featureNorm === 'none') return features;
    const g = this.g;
    const norm = g.op('Sqrt', [g.op('Add', [this.reduceSum(g.op('Mul', [features, features]), [1], 1), g.scalar(1e-12)])]);
    return g.op('Mul', [g.op('Div', [features, norm]), g.scalar(Math.sqrt(this.model.featureChannels))], {}, 'flow_input');
  }

  /** The flow: z′ and log-det [N]. */
  flow(x: string): { z: string; logDet: string } {
    const g = this.g;
    const cfg = this.model.config.flow;
    const c = this.model.featureChannels;
    const c2 = Math.floor(c / 2);
    const c1 = c - c2;
    const h = this.model.featureSize;
    const positions = h * h;
    let condition: string | undefined;
    if (cfg.positional > 0) {
      // The positional encoding (NHWC [1, h, w, P] in tfjs) as a constant [1, P, h, w], expanded over the batch.
      const pe = positionalEncoding(h, h, cfg.positional);
      const constant = g.constant('flow.position', pe, [1, cfg.positional, h, h]);
      const batch = g.op('Shape', [x], { start: 0, end: 1 });
      condition = g.op('Expand', [constant, g.op('Concat', [batch, g.ints('ones', [1, 1, 1])], { axis: 0 })], {}, 'position');
    }
    let logDetConstant = 0;
    let logDet: string | undefined;
    for (let i = 0; i < cfg.blocks; i++) {
      const p = `flow.${i}`;
      // coupling: x1 passive, x2 active
      const [x1, x2] = g.opN('Split', [x, g.ints('split', [c1, c2])], 2, { axis: 1 }, `${p}.split`) as [string, string];
      const sin = condition ? g.op('Concat', [x1, condition], { axis: 1 }) : x1;
      const conv = (input: string, key: string, pad: number, bias = true): string =>
        g.op('Conv', bias ? [input, this.constantOf(`${key}.weight`), this.constantOf(`${key}.bias`)] : [input, this.constantOf(`${key}.weight`)], { pads: [pad, pad, pad, pad] });
      let raw: string;
      if (cfg.subnet === 'conv') {
        raw = conv(g.op('Relu', [conv(sin, `${p}.coupling.subnet.conv1`, 1)]), `${p}.coupling.subnet.conv2`, 0);
      } else {
        const b = `${p}.coupling.subnet.bn1`;
        const normed = g.op(
          'BatchNormalization',
          [conv(sin, `${p}.coupling.subnet.conv1`, 1, false), this.constantOf(`${b}.weight`), this.constantOf(`${b}.bias`), this.constantOf(`${b}.running_mean`), this.constantOf(`${b}.running_var`)],
          { epsilon: { float: 1e-5 } },
        );
        raw = g.op('Add', [conv(g.op('Relu', [normed]), `${p}.coupling.subnet.conv2`, 0), conv(sin, `${p}.coupling.subnet.shortcut`, 0)]);
      }
      const [sRaw, tRaw] = g.opN('Split', [raw, g.ints('split', [c2, c2])], 2, { axis: 1 }, `${p}.st`) as [string, string];
      const s = g.op('Mul', [sRaw, g.scalar(0.1)]);
      const t = g.op('Mul', [tRaw, g.scalar(0.1)]);
      const clamp = g.scalar(cfg.clamp);
      const j = g.op('Mul', [g.op('Tanh', [cfg.clampMode === 'soft' ? g.op('Div', [s, clamp]) : s]), clamp], {}, `${p}.j`);
      const y2 = g.op('Add', [g.op('Mul', [x2, g.op('Exp', [j])]), t]);
      const coupled = g.op('Concat', [x1, y2], { axis: 1 });
      const jSum = this.reduceSum(j, [1, 2, 3], 0);
      logDet = logDet ? g.op('Add', [logDet, jSum]) : jSum;
      // actnorm: scale = 0.2·softplus(γ/2) (FrEIA's SOFTPLUS), computed once here in float64
      const gamma = this.weight(`${p}.actnorm.global_scale`).data;
      const scale = Float32Array.from(gamma, (v) => 0.2 * softplus(v / 2));
      for (const sc of scale) logDetConstant += positions * Math.log(sc);
      const affine = g.op('Add', [g.op('Mul', [coupled, g.constant(`${p}.actnorm.scale`, scale, [1, c, 1, 1])]), this.constantOf(`${p}.actnorm.global_offset`)], {}, `${p}.actnorm`);
      if (cfg.permutation === 'invertible1x1') {
        const { matrix, logScaleSum } = invertibleConvMatrix(this, `${p}.invconv`, c);
        logDetConstant += positions * logScaleSum;
        x = g.op('Conv', [affine, g.constant(`${p}.invconv.weight`, matrix, [c, c, 1, 1])], {}, `${p}.out`);
      } else {
        const perm = this.weight(`${p}.permute.permutation`).data;
        x = g.op('Gather', [affine, g.constant(`${p}.permute.permutation`, perm, [c], 'int64')], { axis: 1 }, `${p}.out`);
      }
    }
    return { z: x, logDet: g.op('Add', [logDet!, g.scalar(logDetConstant)], {}, 'log_det_value') };
  }

  /** −½·(z² + log 2π) elementwise. */
  logPrior(z: string): string {
    const g = this.g;
    return g.op('Mul', [g.op('Add', [g.op('Mul', [z, z]), g.scalar(LOG_2PI)]), g.scalar(-0.5)]);
  }

  /**
   * The k nearest rows of the memory: mean Euclidean distance [N] and indices [N, k]. `block`: only
   * columns [start, start + width) of the memory, against queries of that width.
   */
  nearest(queries: string, unit: boolean, block?: { start: number; width: number; name: string }): { distance: string; indices: string } {
    const g = this.g;
    const bank = this.weight('memory.bank');
    const [m, columns] = bank.shape as [number, number];
    const { start, width: c } = block ?? { start: 0, width: columns };
    const suffix = block ? `_${block.name}` : '';
    const k = Math.min(this.model.config.knn.k, m);
    const bankT = new Float32Array(c * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < c; j++) bankT[j * m + i] = bank.data[i * columns + start + j]!;
    const twice = g.op('Mul', [g.op('MatMul', [queries, g.constant(`memory.bank_t${suffix}`, bankT, [c, m])]), g.scalar(2)]);
    let lengths: string;
    if (unit) lengths = g.scalar(2);
    else {
      const bankSq = new Float32Array(m);
      for (let i = 0; i < m; i++) {
        let s = 0;
        for (let j = 0; j < c; j++) s += bank.data[i * columns + start + j]! ** 2;
        bankSq[i] = s;
      }
      lengths = g.op('Add', [this.reduceSum(g.op('Mul', [queries, queries]), [1], 1), g.constant(`memory.bank_sq${suffix}`, bankSq, [1, m])]);
    }
    const [values, indices] = g.opN('TopK', [g.op('Neg', [g.op('Relu', [g.op('Sub', [lengths, twice])])]), g.ints('k', [k])], 2, { axis: 1, largest: 1, sorted: 1 }, `nearest${suffix}`) as [string, string];
    return { distance: this.reduceMean(g.op('Sqrt', [g.op('Neg', [values])]), [1], 0), indices };
  }

  /**
   * `score.flow: 'knn'`: the latent kNN distance of z′ [N, C, h, w] as the model's flowScore — 'whole':
   * of z′ pooled over positions; `knn.regions: 'left-right'`: of each half's columns pooled (the left
   * ⌈w/2⌉, the right ⌈w/2⌉) against the memory's same half, the two distances averaged.
   */
  latentKnnDistance(z: string, width: number): string {
    const g = this.g;
    if (this.model.config.knn.regions === 'whole') return this.nearest(this.reduceMean(z, [2, 3], 0), false).distance;
    const half = Math.ceil(width / 2);
    const c = this.model.featureChannels;
    const side = (name: string, from: number, index: number): string => {
      const columns = g.op('Slice', [z, g.ints(`${name}.starts`, [from]), g.ints(`${name}.ends`, [from + half]), g.ints(`${name}.axes`, [3])], {}, name);
      return this.nearest(this.reduceMean(columns, [2, 3], 0), false, { start: index * c, width: c, name }).distance;
    };
    const sum = g.op('Add', [side('left', 0, 0), side('right', width - half, 1)]);
    return g.op('Mul', [sum, g.scalar(0.5)], {}, 'latent_knn_left_right');
  }

  /**
   * `score.synthetic: 'nsa'` / `'nsa-patch'`: the latent kNN distance standardised by its
   * leave-one-out statistics over the memory, plus the synthetic-anomaly head's logit standardised
   * by its training-normal statistics (as the model's flowScore). 'nsa': the logit of the pooled
   * encoder features; 'nsa-patch': a logit per position (a 1×1 convolution), the mean of the top
   * quarter (TopK).
   */
  plusSyntheticHead(distance: string, features: string, positions: number): string {
    const g = this.g;
    const loo = this.model.memory!.leaveOneOut(this.model.config.knn.k, 'exportOnnx');
    const [mean, sd] = this.weight('synthetic.head.stats').data;
    let logit: string;
    if (this.model.config.score.synthetic === 'nsa-patch') {
      const w = this.weight('synthetic.head.weight');
      const perPosition = g.op('Conv', [features, g.constant('synthetic.head.weight_1x1', w.data, [1, w.shape[0]!, 1, 1]), this.constantOf('synthetic.head.bias')], { kernel_shape: [1, 1] });
      const [top] = g.opN('TopK', [g.op('Flatten', [perPosition], { axis: 1 }), g.ints('top_quarter', [topQuarterCount(positions)])], 2, { axis: 1, largest: 1, sorted: 1 }, 'synthetic_top_quarter') as [string, string];
      logit = this.reduceMean(top, [1], 0);
    } else {
      logit = this.reduceSum(g.op('Add', [g.op('MatMul', [this.reduceMean(features, [2, 3], 0), this.constantOf('synthetic.head.weight')]), this.constantOf('synthetic.head.bias')]), [1], 0);
    }
    const head = g.op('Div', [g.op('Sub', [logit, g.scalar(mean!)]), g.scalar(sd!)], {}, 'synthetic_score');
    const knn = g.op('Div', [g.op('Sub', [distance, g.scalar(loo.mean)]), g.scalar(loo.sd)], {}, 'latent_knn_standardised');
    return g.op('Add', [knn, head], {}, 'latent_knn_nsa');
  }

  /** Bilinear upsampling of [N, 1, h, w] to the image size, as tfjs' resizeBilinear (no half-pixel centres), squeezed to [N, H, W]. */
  upsampleMap(map: string): string {
    const g = this.g;
    const f = this.model.config.size / this.model.featureSize;
    const resized = g.op('Resize', [map, '', g.constant('scales', [1, 1, f, f], [4])], { mode: 'linear', coordinate_transformation_mode: 'asymmetric' });
    return g.op('Squeeze', [resized, g.ints('axes', [1])]);
  }
}

/** 0.2·softplus, computed stably in float64. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** As @aeflow/flows' positionalEncoding2d, in NCHW: [P, h, w]. */
function positionalEncoding(height: number, width: number, channels: number): Float32Array {
  const out = new Float32Array(channels * height * width);
  for (let i = 0; i < height; i++) {
    const u = (i + 0.5) / height;
    for (let j = 0; j < width; j++) {
      const v = (j + 0.5) / width;
      for (let k = 0; k < channels / 4; k++) {
        const w = Math.PI * 2 ** k;
        const at = (ch: number): number => (ch * height + i) * width + j;
        out[at(4 * k)] = Math.sin(w * u);
        out[at(4 * k + 1)] = Math.cos(w * u);
        out[at(4 * k + 2)] = Math.sin(w * v);
        out[at(4 * k + 3)] = Math.cos(w * v);
      }
    }
  }
  return out;
}

/**
 * Glow's W = P·L·(U + diag(sign·exp(log_scale))) in float64 from the saved parts: row i of W is
 * row permutation[i] of L·U′ (as @aeflow/flows' InvertibleConv1x1). As a 1×1 Conv weight [out, in].
 */
function invertibleConvMatrix(e: Exporter, prefix: string, n: number): { matrix: Float32Array; logScaleSum: number } {
  const lower = e.weight(`${prefix}.lower`).data;
  const upper = e.weight(`${prefix}.upper`).data;
  const logScale = e.weight(`${prefix}.log_scale`).data;
  const sign = e.weight(`${prefix}.sign`).data;
  const perm = e.weight(`${prefix}.permutation`).data;
  const lu = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let col = 0; col < n; col++) {
      // (L·U′)[r, col] = Σ_k L[r, k]·U′[k, col], L unit lower, U′ upper with the diagonal s
      let sum = 0;
      for (let k = 0; k <= Math.min(r, col); k++) {
        const l = k === r ? 1 : lower[r * n + k]!;
        const u = k === col ? sign[k]! * Math.exp(logScale[k]!) : upper[k * n + col]!;
        sum += l * u;
      }
      lu[r * n + col] = sum;
    }
  }
  const matrix = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let col = 0; col < n; col++) matrix[i * n + col] = lu[perm[i]! * n + col]!;
  let logScaleSum = 0;
  for (const v of logScale) logScaleSum += v;
  return { matrix, logScaleSum };
}

/** Gaussian window of the SSIM (as @aeflow/model's ssimMap: 11 taps, σ 1.5). */
function gaussian1d(size: number, sigma: number): number[] {
  const r = (size - 1) / 2;
  const g = Array.from({ length: size }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const s = g.reduce((a, b) => a + b, 0);
  return g.map((v) => v / s);
}

/** Mean SSIM per image [N] of two [N, 3, H, W] batches in [0, 1] (data range 1, valid region), as @aeflow/model's ssimMap. */
function ssimPerImage(e: Exporter, a: string, b: string): string {
  const g = e.g;
  const size = 11;
  const c1 = 0.01 ** 2;
  const c2 = 0.03 ** 2;
  const planes = g.op('Concat', [a, b, g.op('Mul', [a, a]), g.op('Mul', [b, b]), g.op('Mul', [a, b])], { axis: 1 }, 'ssim_planes');
  const w = gaussian1d(size, 1.5);
  const channels = 15;
  const along = (x: string, dims: [number, number]): string =>
    g.op('Conv', [x, g.constant('ssim.window', Array.from({ length: channels }, () => w).flat(), [channels, 1, ...dims])], { group: channels, kernel_shape: dims });
  const filtered = along(along(planes, [1, size]), [size, 1]);
  const [muA, muB, aa, bb, ab] = g.opN('Split', [filtered, g.ints('split', [3, 3, 3, 3, 3])], 5, { axis: 1 }, 'ssim_moments');
  const muAB = g.op('Mul', [muA!, muB!]);
  const muA2 = g.op('Mul', [muA!, muA!]);
  const muB2 = g.op('Mul', [muB!, muB!]);
  const varA = g.op('Sub', [aa!, muA2]);
  const varB = g.op('Sub', [bb!, muB2]);
  const cov = g.op('Sub', [ab!, muAB]);
  const two = g.scalar(2);
  const num = g.op('Mul', [g.op('Add', [g.op('Mul', [muAB, two]), g.scalar(c1)]), g.op('Add', [g.op('Mul', [cov, two]), g.scalar(c2)])]);
  const den = g.op('Mul', [g.op('Add', [g.op('Add', [muA2, muB2]), g.scalar(c1)]), g.op('Add', [g.op('Add', [varA, varB]), g.scalar(c2)])]);
  return e.reduceMean(g.op('Div', [num, den], {}, 'ssim_map'), [1, 2, 3], 0);
}

/**
 * The run's whole scoring graph as an ONNX model (opset 17): image → encoder → flow (z′, log-det)
 * → decoder → scores (flow part, SSIM part, total) and the anomaly map, for every model kind
 * (`aeflow`, `ae`, `fastflow`, `knn` with its memory as a constant). Preprocessing beyond
 * "NCHW in [0, 1] at size × size" happens inside the graph (gray → RGB, the encoder's
 * normalisation); what remains is written to metadata_props (`aeflow.preprocessing`).
 *
 * Weights are read once from the model (`getWeights`, the safetensors names, and the encoder's
 * `graph()`); the model is not changed.
 */
export function exportOnnx(model: AEFlow, options: OnnxExportOptions = {}): OnnxExport {
  const e = new Exporter(model);
  const g = e.g;
  const cfg = model.config;
  const size = cfg.size;
  const image = g.input(ONNX_IO.input, 'float32', ['batch', 'channels', size, size], 'NCHW float32 in [0, 1]; 1 (gray) or 3 (RGB) channels');
  const rgb = g.op('Expand', [image, g.ints('rgb_shape', [1, 3, 1, 1])], {}, 'image_rgb');
  const norm = model.encoder.normalization;
  const normalized =
    norm.kind === 'imagenet'
      ? g.op('Div', [g.op('Sub', [rgb, g.constant('imagenet.mean', norm.mean, [1, 3, 1, 1])]), g.constant('imagenet.std', norm.std, [1, 3, 1, 1])], {}, 'normalized')
      : g.op('Sub', [g.op('Mul', [rgb, g.scalar(2)]), g.scalar(1)], {}, 'normalized');
  const features = e.encoder(normalized);
  const beta = model.beta;
  const h = model.featureSize;
  const c = model.featureChannels;
  const outputs: Array<[string, string, Array<number | string>, string]> = [];
  let flowScore: string;
  let reconScore: string | undefined;
  let map: string;
  if (cfg.model === 'knn') {
    const pooled = e.reduceMean(features, [2, 3], 0);
    const length = g.op('Sqrt', [g.op('Add', [e.reduceSum(g.op('Mul', [pooled, pooled]), [1], 1), g.scalar(1e-12)])]);
    const unit = g.op('Div', [pooled, length]);
    const { distance, indices } = e.nearest(unit, true);
    const bank = e.weight('memory.bank');
    const neighbours = e.reduceMean(g.op('Gather', [g.constant('memory.bank', bank.data, bank.shape), indices], { axis: 0 }), [1], 0);
    const direction = g.op('Div', [g.op('Sub', [unit, neighbours]), length]);
    const perPosition = e.reduceSum(g.op('Mul', [features, g.op('Unsqueeze', [direction, g.ints('axes', [2, 3])])]), [1], 1);
    map = e.upsampleMap(perPosition);
    flowScore = distance;
  } else {
    const input = e.flowInput(features);
    let z = input;
    let logDet: string | undefined;
    if (model.flowModel) ({ z, logDet } = e.flow(input));
    outputs.push([ONNX_IO.z, z, ['batch', c, h, h], "the flow's output z′ (NCHW)"]);
    if (logDet) outputs.push([ONNX_IO.logDet, logDet, ['batch'], 'log|det ∂z′/∂z| per image']);
    if (!model.flowModel) flowScore = '';
    else if (cfg.score.flow === 'nll') {
      const dims = c * h * h;
      flowScore = g.op('Div', [g.op('Neg', [g.op('Add', [e.reduceSum(e.logPrior(z), [1, 2, 3], 0), logDet!])]), g.scalar(dims)]);
    } else if (cfg.score.flow === 'knn') {
      const distance = e.latentKnnDistance(z, h);
      flowScore = cfg.score.synthetic !== 'none' ? e.plusSyntheticHead(distance, features, h * h) : distance;
    } else if (model.decoder) {
      // −exp(mean over dimensions of log N(z′; 0, I)); without a decoder (FastFlow) the map's mean, below
      flowScore = g.op('Neg', [g.op('Exp', [e.reduceMean(e.logPrior(z), [1, 2, 3], 0)])]);
    } else flowScore = '';
    if (model.decoder) {
      let x = z;
      const blocks = model.decoder.numBlocks;
      for (let i = 0; i < blocks; i++) {
        const p = `decoder.blocks.${i}`;
        x = g.op('ConvTranspose', [x, e.constantOf(`${p}.up.weight`), e.constantOf(`${p}.up.bias`)], { kernel_shape: [2, 2], strides: [2, 2] });
        if (i < blocks - 1) {
          x = g.op('Relu', [x]);
          x = g.op('Conv', [x, e.constantOf(`${p}.conv.weight`), e.constantOf(`${p}.conv.bias`)], { pads: [1, 1, 1, 1] });
          x = g.op('Relu', [x]);
        }
      }
      const d = norm.kind === 'imagenet' ? { scale: norm.std, offset: norm.mean } : { scale: [0.5, 0.5, 0.5], offset: [0.5, 0.5, 0.5] };
      const pixels = g.op('Add', [g.op('Mul', [x, g.constant('denorm.scale', d.scale, [1, 3, 1, 1])]), g.constant('denorm.offset', d.offset, [1, 3, 1, 1])]);
      const xHat = g.op('Clip', [pixels, g.scalar(0), g.scalar(1)], {}, 'x_hat');
      outputs.push([ONNX_IO.reconstruction, xHat, ['batch', 3, size, size], 'x′ in [0, 1] (NCHW)']);
      reconScore = g.op('Neg', [ssimPerImage(e, xHat, rgb)]);
      map = e.reduceMean(g.op('Abs', [g.op('Sub', [rgb, xHat])]), [1], 0);
    } else {
      // FastFlow's map: −exp(−½·mean_c z′²) per feature position, upsampled
      const perPosition = g.op('Neg', [g.op('Exp', [g.op('Mul', [e.reduceMean(g.op('Mul', [z, z]), [1], 1), g.scalar(-0.5)])])]);
      map = e.upsampleMap(perPosition);
      if (model.flowModel && cfg.score.flow === 'density') flowScore = e.reduceMean(perPosition, [1, 2, 3], 0);
    }
    if (flowScore === '') flowScore = g.op('Mul', [reconScore!, g.scalar(0)], {}, 'zeros');
  }
  reconScore ??= g.op('Mul', [flowScore, g.scalar(0)], {}, 'zeros');
  const total = g.op('Add', [g.op('Mul', [flowScore, g.scalar(beta)]), g.op('Mul', [reconScore, g.scalar(1 - beta)])]);
  g.output(total, ONNX_IO.score, 'float32', ['batch'], `β·score_flow + (1 − β)·score_recon, β = ${beta}; higher = more anomalous`);
  g.output(flowScore, ONNX_IO.scoreFlow, 'float32', ['batch'], 'the flow part of the score');
  g.output(reconScore, ONNX_IO.scoreRecon, 'float32', ['batch'], '−SSIM(x, x′) (0 without a decoder)');
  g.output(map, ONNX_IO.anomalyMap, 'float32', ['batch', size, size], 'where the image differs from normal');
  for (const [name, value, dims, doc] of outputs) g.output(value, name, 'float32', dims, doc);
  const outputNames = [ONNX_IO.score, ONNX_IO.scoreFlow, ONNX_IO.scoreRecon, ONNX_IO.anomalyMap, ...outputs.map((o) => o[0])];
  const preprocessing = {
    layout: 'NCHW',
    dtype: 'float32',
    range: [0, 1],
    size: [size, size],
    channels: '1 (gray, repeated to 3 inside the graph) or 3 (RGB)',
    resize: `to ${size}×${size} before the graph (as @aeflow/datasets: decode, resize, divide by the maximum value)`,
    normalization: norm.kind === 'imagenet' ? { kind: 'imagenet', mean: norm.mean, std: norm.std, where: 'inside the graph' } : { kind: 'minus-one-to-one', where: 'inside the graph' },
  };
  const metadata: Record<string, string> = {
    'aeflow.model': cfg.model,
    'aeflow.beta': String(beta),
    'aeflow.config': JSON.stringify(cfg),
    'aeflow.encoder': JSON.stringify({ id: model.encoder.id, tap: model.tap, weights: model.encoder.weights, weightsHash: model.encoder.weightsHash }),
    'aeflow.preprocessing': JSON.stringify(preprocessing),
    'aeflow.outputs': outputNames.join(','),
    ...options.metadata,
  };
  const bytes = g.serialize({
    name: `aeflow-${cfg.model}`,
    opset: ONNX_OPSET,
    producerName: 'aeflow',
    producerVersion: options.producerVersion ?? '0.0.0',
    docString: `AE-FLOW (${cfg.model}) scoring graph: image [batch, 1|3, ${size}, ${size}] in [0, 1] → score, score_flow, score_recon, anomaly_map${outputs.length ? `, ${outputs.map((o) => o[0]).join(', ')}` : ''}`,
    metadata,
  });
  return { bytes, outputs: outputNames, metadata };
}

/** NHWC pixels (tfjs' layout, what @aeflow/datasets yields) → NCHW (the ONNX model's input). */
export function nhwcToNchw(data: Float32Array, shape: readonly [number, number, number, number]): Float32Array {
  const [n, h, w, c] = shape;
  if (data.length !== n * h * w * c) throw new Error(`nhwcToNchw: ${data.length} values for shape [${shape.join(', ')}]`);
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + x] = data[((b * h + y) * w + x) * c + k]!;
  return out;
}

/** metadata_props of a serialized model (e.g. `aeflow.preprocessing`, `aeflow.config`). */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const model = onnx.ModelProto.decode(bytes);
  return Object.fromEntries(model.metadataProps.map((p): [string, string] => [p.key ?? '', p.value ?? '']));
}
