import * as tf from '@tensorflow/tfjs-core';
import { applyConvUnit, convUnitCost, disposeConvUnit, makeConvUnit, withStatistics, type Activation, type BatchNormParams, type BatchNormRecorder, type BatchNormStatistics, type ConvUnit } from './conv-unit.js';
import type { ParamSpec, StateDict } from './state-dict.js';

/**
 * MobileNet V1 from a TF.js layers model (model.json + weight shards), run with tfjs-core ops only
 * (no tfjs-layers). Only the layers up to the deepest tap are built, and only the shards holding
 * their weights are read, so the network's head (and a missing shard past the tap) is never needed.
 */

/** Short names for the usual taps: the last layer at strides 4, 8 and 16. */
export const MOBILENET_TAP_ALIASES: Readonly<Record<string, string>> = {
  layer1: 'conv_pw_3_relu',
  layer2: 'conv_pw_5_relu',
  layer3: 'conv_pw_11_relu',
};

interface KerasLayer {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound: string[];
}

interface ManifestGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

/** A parsed TF.js layers model: its layers in order and where each weight is stored. */
export interface KerasModelSpec {
  /** model.json path, or a label for the built-in topology. */
  source: string;
  layers: KerasLayer[];
  groups: ManifestGroup[];
  /** Folder the shard paths are relative to. */
  folder: string;
  inputChannels: number;
}

type Op =
  | { kind: 'unit'; unit: ConvUnit; activation: Activation; output: string }
  | { kind: 'pad'; pad: [[number, number], [number, number]]; output: string }
  | { kind: 'bn'; bn: BatchNormParams; output: string }
  | { kind: 'act'; activation: Activation; output: string };

export interface MobileNetModel {
  ops: Op[];
  /** Output layer name → channels and stride, for every layer that can be tapped. */
  taps: Map<string, { channels: number; stride: number }>;
}

const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

function asLayers(raw: unknown, source: string): KerasLayer[] {
  const topo = (raw as { modelTopology?: { model_config?: { config?: { layers?: unknown } }; config?: { layers?: unknown } } }).modelTopology;
  const layers = topo?.model_config?.config?.layers ?? topo?.config?.layers;
  if (!Array.isArray(layers)) throw new Error(`${source}: not a TF.js layers model (no modelTopology.model_config.config.layers)`);
  return layers.map((l: { class_name?: unknown; name?: unknown; config?: unknown; inbound_nodes?: unknown }) => {
    const cfg = (l.config ?? {}) as Record<string, unknown>;
    const name = typeof l.name === 'string' ? l.name : String(cfg.name);
    const nodes = Array.isArray(l.inbound_nodes) ? (l.inbound_nodes as unknown[][]) : [];
    if (nodes.length > 1) throw new Error(`${source}: layer "${name}" is called more than once; only single-path models are supported`);
    const first = nodes[0] ?? [];
    const inbound = first.map((n) => String((n as unknown[])[0]));
    return { class_name: String(l.class_name), name, config: cfg, inbound };
  });
}

/**
 * A parsed model.json (its JSON value). `source` names it in messages; `folder` is what the shard
 * paths are relative to (a folder in Node, a URL or label elsewhere).
 */
export function parseKerasModel(raw: unknown, source: string, folder: string): KerasModelSpec {
  const layers = asLayers(raw, source);
  const manifest = (raw as { weightsManifest?: unknown }).weightsManifest;
  if (!Array.isArray(manifest)) throw new Error(`${source}: no weightsManifest`);
  const inputLayer = layers.find((l) => l.class_name === 'InputLayer');
  const shape = inputLayer?.config.batch_input_shape;
  const inputChannels = Array.isArray(shape) && typeof shape[3] === 'number' ? shape[3] : 3;
  return { source, layers, groups: manifest as ManifestGroup[], folder, inputChannels };
}

/** The MobileNet V1 1.0 topology as Keras writes it, for `weights: 'random'` (no model.json needed). */
export function mobilenetV1Topology(): KerasModelSpec {
  const layers: KerasLayer[] = [{ class_name: 'InputLayer', name: 'input_1', config: {}, inbound: [] }];
  let prev = 'input_1';
  const add = (class_name: string, name: string, config: Record<string, unknown>): void => {
    layers.push({ class_name, name, config, inbound: [prev] });
    prev = name;
  };
  const bnAct = (base: string): void => {
    add('BatchNormalization', `${base}_bn`, { epsilon: 0.001, center: true, scale: true });
    add('Activation', `${base}_relu`, { activation: 'relu6' });
  };
  add('Conv2D', 'conv1', { filters: 32, kernel_size: [3, 3], strides: [2, 2], padding: 'same', use_bias: false, activation: 'linear' });
  bnAct('conv1');
  const strides = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1];
  const filters = [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024];
  strides.forEach((s, i) => {
    add('DepthwiseConv2D', `conv_dw_${i + 1}`, { kernel_size: [3, 3], strides: [s, s], padding: 'same', depth_multiplier: 1, use_bias: false, activation: 'linear' });
    bnAct(`conv_dw_${i + 1}`);
    add('Conv2D', `conv_pw_${i + 1}`, { filters: filters[i], kernel_size: [1, 1], strides: [1, 1], padding: 'same', use_bias: false, activation: 'linear' });
    bnAct(`conv_pw_${i + 1}`);
  });
  return { source: 'built-in MobileNet V1 1.0 topology', layers, groups: [], folder: '', inputChannels: 3 };
}

function pair(v: unknown, what: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((n) => typeof n === 'number')) return [v[0] as number, v[1] as number];
  throw new Error(`${what}: expected a number or a pair, got ${JSON.stringify(v)}`);
}

function activationOf(layer: KerasLayer, source: string): Activation | undefined {
  if (layer.class_name === 'Activation') {
    const a = layer.config.activation;
    if (a === 'relu' || a === 'relu6' || a === 'linear') return a;
    throw new Error(`${source}: layer "${layer.name}" uses activation ${JSON.stringify(a)}; supported: relu, relu6, linear`);
  }
  if (layer.class_name === 'ReLU') {
    const slope = Number(layer.config.negative_slope ?? 0);
    const max = layer.config.max_value;
    if (slope !== 0 || (max != null && max !== 6)) {
      throw new Error(`${source}: layer "${layer.name}" is a ReLU with negative_slope ${slope} / max_value ${String(max)}; only ReLU and ReLU6 are supported`);
    }
    return max === 6 ? 'relu6' : 'relu';
  }
  return undefined;
}

interface ConvGroup {
  conv: KerasLayer;
  bn?: KerasLayer;
  act?: KerasLayer;
  activation: Activation;
  output: string;
  kernel: number;
  stride: number;
  inChannels: number;
  outChannels: number;
  multiplier: number;
}

type Plan = Array<
  | { kind: 'group'; group: ConvGroup }
  | { kind: 'pad'; layer: KerasLayer; pad: [[number, number], [number, number]] }
  | { kind: 'bn'; layer: KerasLayer; channels: number }
  | { kind: 'act'; layer: KerasLayer; activation: Activation }
>;

function checkBnAxis(l: KerasLayer, src: string): void {
  const axis = l.config.axis;
  if (axis !== undefined && axis !== -1 && axis !== 3 && !(Array.isArray(axis) && (axis[0] === -1 || axis[0] === 3))) {
    throw new Error(`${src}: BatchNormalization "${l.name}" normalises axis ${JSON.stringify(axis)}; only the channel axis is supported`);
  }
}

function bnParamSpecs(n: string, config: Record<string, unknown>, channels: number): ParamSpec[] {
  const specs: ParamSpec[] = [];
  if (config.scale !== false) specs.push({ key: `${n}/gamma`, shape: [channels], init: 'bn-gamma' });
  if (config.center !== false) specs.push({ key: `${n}/beta`, shape: [channels], init: 'bn-beta' });
  specs.push({ key: `${n}/moving_mean`, shape: [channels], init: 'bn-mean' });
  specs.push({ key: `${n}/moving_variance`, shape: [channels], init: 'bn-var' });
  return specs;
}

/**
 * Walks the layers from the input in order, grouping convolution → BatchNorm → activation, until
 * every requested tap has been reached. Returns the plan and the channels/stride of each tap.
 */
function plan(spec: KerasModelSpec, taps: readonly string[]): { steps: Plan; info: Map<string, { channels: number; stride: number }> } {
  const src = spec.source;
  const steps: Plan = [];
  const info = new Map<string, { channels: number; stride: number }>();
  const remaining = new Set(taps);
  let channels = spec.inputChannels;
  let stride = 1;
  let prev = spec.layers[0]?.name;
  if (spec.layers[0]?.class_name !== 'InputLayer') throw new Error(`${src}: the first layer is not an InputLayer`);
  const known = new Set(spec.layers.map((l) => l.name));
  const unknown = taps.filter((t) => !known.has(t));
  if (unknown.length > 0) {
    throw new Error(
      `${src}: no layer named ${unknown.map((t) => `"${t}"`).join(', ')}; tap names are layer names such as conv_pw_5_relu or conv_pw_11_relu (or the aliases ${Object.keys(MOBILENET_TAP_ALIASES).join(', ')})`,
    );
  }
  const follows = (l: KerasLayer): void => {
    if (l.inbound.length !== 1 || l.inbound[0] !== prev) {
      throw new Error(`${src}: layer "${l.name}" does not take the output of "${prev}"; only single-path (sequential) models are supported up to the tap`);
    }
    prev = l.name;
  };
  for (let i = 1; i < spec.layers.length && remaining.size > 0; i++) {
    const l = spec.layers[i]!;
    follows(l);
    if (l.class_name === 'ZeroPadding2D') {
      const p = l.config.padding;
      let pad: [[number, number], [number, number]];
      if (typeof p === 'number') pad = [[p, p], [p, p]];
      else if (Array.isArray(p) && p.every((q) => typeof q === 'number')) pad = [[p[0] as number, p[0] as number], [p[1] as number, p[1] as number]];
      else pad = [pair((p as unknown[])[0], `${l.name}.padding`), pair((p as unknown[])[1], `${l.name}.padding`)];
      steps.push({ kind: 'pad', layer: l, pad });
      if (remaining.delete(l.name)) info.set(l.name, { channels, stride });
      continue;
    }
    if (l.class_name === 'BatchNormalization') {
      // Only reached when the convolution before it is itself a tap, so it could not be fused.
      checkBnAxis(l, src);
      steps.push({ kind: 'bn', layer: l, channels });
      if (remaining.delete(l.name)) info.set(l.name, { channels, stride });
      continue;
    }
    const standalone = activationOf(l, src);
    if (standalone !== undefined) {
      steps.push({ kind: 'act', layer: l, activation: standalone });
      if (remaining.delete(l.name)) info.set(l.name, { channels, stride });
      continue;
    }
    if (l.class_name !== 'Conv2D' && l.class_name !== 'DepthwiseConv2D') {
      const nextTap = [...remaining].join(', ');
      throw new Error(`${src}: layer "${l.name}" (${l.class_name}) is not supported, and the tap(s) ${nextTap} come after it`);
    }
    const [kh, kw] = pair(l.config.kernel_size, `${l.name}.kernel_size`);
    const [sh, sw] = pair(l.config.strides ?? [1, 1], `${l.name}.strides`);
    const [dh, dw] = pair(l.config.dilation_rate ?? [1, 1], `${l.name}.dilation_rate`);
    if (kh !== kw || sh !== sw || dh !== 1 || dw !== 1) {
      throw new Error(`${src}: layer "${l.name}" has kernel ${kh}×${kw}, strides ${sh}×${sw}, dilation ${dh}×${dw}; only square kernels, equal strides and no dilation are supported`);
    }
    if (l.config.data_format !== undefined && l.config.data_format !== 'channels_last') {
      throw new Error(`${src}: layer "${l.name}" is ${JSON.stringify(l.config.data_format)}; only channels_last is supported`);
    }
    const multiplier = l.class_name === 'DepthwiseConv2D' ? Number(l.config.depth_multiplier ?? 1) : 1;
    const outChannels = l.class_name === 'DepthwiseConv2D' ? channels * multiplier : Number(l.config.filters);
    const group: ConvGroup = {
      conv: l,
      activation: 'linear',
      output: l.name,
      kernel: kh,
      stride: sh,
      inChannels: channels,
      outChannels,
      multiplier,
    };
    const own = l.config.activation ?? 'linear';
    if (own !== 'linear') {
      const a = activationOf({ ...l, class_name: 'Activation' }, src)!;
      group.activation = a;
    }
    const next = spec.layers[i + 1];
    if (own === 'linear' && next?.class_name === 'BatchNormalization' && next.inbound[0] === l.name && !remaining.has(l.name)) {
      checkBnAxis(next, src);
      i++;
      follows(next);
      group.bn = next;
      group.output = next.name;
    }
    const after = spec.layers[i + 1];
    if (group.activation === 'linear' && after && after.inbound[0] === group.output && !remaining.has(group.output)) {
      const a = activationOf(after, src);
      if (a !== undefined) {
        i++;
        follows(after);
        group.act = after;
        group.activation = a;
        group.output = after.name;
      }
    }
    stride *= sh;
    channels = outChannels;
    steps.push({ kind: 'group', group });
    if (remaining.delete(group.output)) info.set(group.output, { channels, stride });
  }
  if (remaining.size > 0) {
    throw new Error(`${src}: ${[...remaining].map((t) => `"${t}"`).join(', ')} is not on the path from the input`);
  }
  return { steps, info };
}

function groupParamSpecs(g: ConvGroup): ParamSpec[] {
  const specs: ParamSpec[] = [];
  const k = g.kernel;
  if (g.conv.class_name === 'DepthwiseConv2D') specs.push({ key: `${g.conv.name}/depthwise_kernel`, shape: [k, k, g.inChannels, g.multiplier], init: 'he-conv' });
  else specs.push({ key: `${g.conv.name}/kernel`, shape: [k, k, g.inChannels, g.outChannels], init: 'he-conv' });
  if (g.conv.config.use_bias === true) specs.push({ key: `${g.conv.name}/bias`, shape: [g.outChannels], init: 'bn-beta' });
  if (g.bn) specs.push(...bnParamSpecs(g.bn.name, g.bn.config, g.outChannels));
  return specs;
}

/** The weights (Keras names and shapes) the layers up to the taps need. */
export function mobilenetParamSpecs(spec: KerasModelSpec, taps: readonly string[]): ParamSpec[] {
  return plan(spec, taps).steps.flatMap((s) =>
    s.kind === 'group' ? groupParamSpecs(s.group) : s.kind === 'bn' ? bnParamSpecs(s.layer.name, s.layer.config, s.channels) : [],
  );
}

/** He-normal fan-out for a Keras kernel (HWIO, or [h, w, C, multiplier] for depthwise). */
export function kerasFanOut(spec: ParamSpec): number {
  const [h, w, , o] = spec.shape as [number, number, number, number];
  return h * w * o;
}

/** Where the weight shards of a TF.js model come from: files (Node), fetched or in-memory bytes. */
export interface ShardReader {
  /** The bytes of a shard, by its path in the weightsManifest. */
  read(path: string): Promise<Uint8Array>;
  /** How to name that shard in messages and in the weights hash (e.g. its file path). */
  name(path: string): string;
}

/**
 * Decodes the weights in `specs` from the shards of a TF.js model: only the weight groups that
 * hold one of them are read (a group's shards are concatenated and decoded with tfjs-core's
 * `tf.io.decodeWeights`). Returns the values and the names of the shards read (for the weights hash).
 */
export async function decodeKerasWeights(
  spec: KerasModelSpec,
  specs: readonly ParamSpec[],
  shards: ShardReader,
): Promise<{ dict: StateDict; files: string[] }> {
  const where = new Map<string, { group: ManifestGroup; entry: tf.io.WeightsManifestEntry }>();
  for (const group of spec.groups) for (const entry of group.weights) where.set(entry.name, { group, entry });
  const groups = new Set<ManifestGroup>();
  for (const s of specs) {
    const w = where.get(s.key);
    if (!w) throw new Error(`${spec.source}: weight "${s.key}" is not in the weightsManifest (needs shape ${fmt(s.shape)})`);
    if (w.entry.shape.length !== s.shape.length || w.entry.shape.some((d, i) => d !== s.shape[i])) {
      throw new Error(`${spec.source}: weight "${s.key}" has shape ${fmt(w.entry.shape)} in the manifest but the layer config needs ${fmt(s.shape)}`);
    }
    groups.add(w.group);
  }
  const dict: StateDict = new Map();
  const files: string[] = [];
  const wanted = new Set(specs.map((s) => s.key));
  for (const group of groups) {
    const buffers: Uint8Array[] = [];
    for (const p of group.paths) {
      const file = shards.name(p);
      try {
        buffers.push(await shards.read(p));
      } catch (err) {
        const needed = group.weights.filter((e) => wanted.has(e.name)).map((e) => e.name);
        throw new Error(`${file}: cannot read this weight shard (${(err as { code?: string }).code ?? (err as Error).message}); it holds ${needed.join(', ')}, which the requested taps need`);
      }
      files.push(file);
    }
    const total = buffers.reduce((a, b) => a + b.byteLength, 0);
    const joined = new Uint8Array(total);
    let off = 0;
    for (const b of buffers) {
      joined.set(b, off);
      off += b.byteLength;
    }
    let tensors: tf.NamedTensorMap;
    try {
      tensors = tf.io.decodeWeights(joined.buffer, group.weights);
    } catch (err) {
      throw new Error(`${group.paths.map((p) => shards.name(p)).join(' + ')}: cannot decode (${(err as Error).message}); is a shard truncated?`);
    }
    try {
      for (const [name, t] of Object.entries(tensors)) {
        if (wanted.has(name)) dict.set(name, Float32Array.from(t.dataSync() as ArrayLike<number>));
      }
    } finally {
      Object.values(tensors).forEach((t) => t.dispose());
    }
  }
  return { dict, files };
}

/**
 * Builds the ops up to the taps from Keras-named weights; `statistics` (keyed by convolution name)
 * replace the moving mean/variance of those convolutions' BatchNorms, and their names go to `used`.
 */
export function buildMobileNet(
  spec: KerasModelSpec,
  taps: readonly string[],
  dict: StateDict,
  fold: boolean,
  statistics?: BatchNormStatistics,
  used: Set<string> = new Set(),
): MobileNetModel {
  const { steps, info } = plan(spec, taps);
  const ops: Op[] = [];
  const get = (key: string): Float32Array | undefined => dict.get(key);
  try {
    for (const s of steps) {
      if (s.kind === 'pad') {
        ops.push({ kind: 'pad', pad: s.pad, output: s.layer.name });
        continue;
      }
      if (s.kind === 'act') {
        ops.push({ kind: 'act', activation: s.activation, output: s.layer.name });
        continue;
      }
      if (s.kind === 'bn') {
        const n = s.layer.name;
        const c = s.channels;
        const vec = (key: string, dflt: number): tf.Tensor1D => tf.tensor1d(get(key) ?? new Float32Array(c).fill(dflt));
        ops.push({
          kind: 'bn',
          output: n,
          bn: {
            gamma: vec(`${n}/gamma`, 1),
            beta: vec(`${n}/beta`, 0),
            mean: vec(`${n}/moving_mean`, 0),
            variance: vec(`${n}/moving_variance`, 1),
            epsilon: Number(s.layer.config.epsilon ?? 0.001),
          },
        });
        continue;
      }
      const g = s.group;
      const depthwise = g.conv.class_name === 'DepthwiseConv2D';
      const kernel = get(`${g.conv.name}/${depthwise ? 'depthwise_kernel' : 'kernel'}`)!;
      const n = g.outChannels;
      const fill = (v: number): Float32Array => new Float32Array(n).fill(v);
      const bias = get(`${g.conv.name}/bias`);
      const bnName = g.bn?.name;
      let mean = bnName ? get(`${bnName}/moving_mean`)! : fill(0);
      if (bias) mean = mean.map((m, c) => m - bias[c]!); // BN(conv + b) = BN with its mean shifted by b
      const padding = g.conv.config.padding;
      if (padding !== 'same' && padding !== 'valid') throw new Error(`${spec.source}: layer "${g.conv.name}" has padding ${JSON.stringify(padding)}`);
      const unit = makeConvUnit(
        withStatistics(
          {
          name: g.conv.name,
          kind: depthwise ? 'depthwise' : 'conv',
          filter: kernel,
          filterShape: [g.kernel, g.kernel, g.inChannels, depthwise ? g.multiplier : g.outChannels],
          gamma: (bnName && get(`${bnName}/gamma`)) || fill(1),
          beta: (bnName && get(`${bnName}/beta`)) || fill(0),
          mean,
          variance: bnName ? get(`${bnName}/moving_variance`)! : fill(1),
          epsilon: g.bn ? Number(g.bn.config.epsilon ?? 0.001) : 0,
          stride: g.stride,
          pad: padding,
          },
          statistics,
          used,
        ),
        fold,
      );
      ops.push({ kind: 'unit', unit, activation: g.activation, output: g.output });
    }
  } catch (err) {
    disposeMobileNet({ ops, taps: info });
    throw err;
  }
  return { ops, taps: info };
}

export function mobilenetForward(model: MobileNetModel, x: tf.Tensor4D, taps: ReadonlySet<string>, recorder?: BatchNormRecorder): Map<string, tf.Tensor4D> {
  const out = new Map<string, tf.Tensor4D>();
  let h = x;
  for (const op of model.ops) {
    if (op.kind === 'pad') h = tf.pad(h, [[0, 0], op.pad[0], op.pad[1], [0, 0]]);
    else if (op.kind === 'bn') {
      if (recorder) throw new Error(`${op.output}: re-estimating BatchNorm statistics needs every BatchNorm right after its convolution; a tap on the convolution itself (before "${op.output}") separates them`);
      h = tf.batchNorm(h, op.bn.mean, op.bn.variance, op.bn.beta, op.bn.gamma, op.bn.epsilon);
    }
    else if (op.kind === 'act') h = op.activation === 'relu' ? tf.relu(h) : op.activation === 'relu6' ? tf.relu6(h) : h;
    else h = applyConvUnit(h, op.unit, op.activation, recorder);
    if (taps.has(op.output)) out.set(op.output, h);
  }
  return out;
}

export function mobilenetMacs(model: MobileNetModel, height: number, width: number): number {
  let macs = 0;
  let h = height;
  let w = width;
  for (const op of model.ops) {
    if (op.kind === 'pad') {
      h += op.pad[0][0] + op.pad[0][1];
      w += op.pad[1][0] + op.pad[1][1];
      continue;
    }
    if (op.kind !== 'unit') continue;
    const c = convUnitCost(op.unit, h, w);
    macs += c.macs;
    h = c.height;
    w = c.width;
  }
  return macs;
}

export function disposeMobileNet(model: MobileNetModel): void {
  for (const op of model.ops) {
    if (op.kind === 'unit') disposeConvUnit(op.unit);
    if (op.kind === 'bn') tf.dispose([op.bn.gamma, op.bn.beta, op.bn.mean, op.bn.variance]);
  }
}

/** The shard files (relative to the model folder) holding the weights in `specs`. */
export function shardsFor(spec: KerasModelSpec, specs: readonly ParamSpec[]): string[] {
  const wanted = new Set(specs.map((s) => s.key));
  const paths: string[] = [];
  for (const group of spec.groups) {
    if (group.weights.some((e) => wanted.has(e.name))) paths.push(...group.paths);
  }
  return paths;
}
