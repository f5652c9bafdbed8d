import * as tf from '@tensorflow/tfjs-core';
import type { BatchNormRecorder, BatchNormStatistics } from './conv-unit.js';
import { mobilenetGraph, resnetGraph, type EncoderGraph } from './graph.js';
import {
  buildMobileNet,
  disposeMobileNet,
  kerasFanOut,
  MOBILENET_TAP_ALIASES,
  mobilenetForward,
  mobilenetMacs,
  mobilenetParamSpecs,
  mobilenetV1Topology,
  type KerasModelSpec,
  type MobileNetModel,
} from './mobilenet.js';
import {
  buildResNet,
  checkResNetArch,
  disposeResNet,
  RESNET_ARCHS,
  RESNET_TAPS,
  resnetForward,
  resnetId,
  resnetMacs,
  resnetParamSpecs,
  resnetTapInfo,
  torchFanOut,
  type ResNetArch,
  type ResNetModel,
  type ResNetName,
} from './resnet.js';
import { randomStateDict, type ParamSpec, type StateDict } from './state-dict.js';

/** A named encoder, or the general torchvision ResNet form. */
export type EncoderArch = ResNetName | 'mobilenet_v1' | ResNetArch;

/** What every way of building an encoder takes (the weights come separately). */
export interface EncoderOptions<T extends string = string> {
  arch: EncoderArch;
  /**
   * Feature maps to return: `layer1` … `layer4` for ResNets; for MobileNet a layer name on the
   * path from the input (e.g. `conv_pw_5_relu`, `conv_pw_11_relu`) or an alias `layer1` (conv_pw_3_relu,
   * stride 4), `layer2` (conv_pw_5_relu, stride 8), `layer3` (conv_pw_11_relu, stride 16).
   */
  taps: readonly T[];
  /** Seed of `weights: 'random'` (default 0). */
  seed?: number;
  /** Fold eval-mode BatchNorm into the convolutions (default true; false keeps them apart, for checking). */
  foldBatchNorm?: boolean;
  /**
   * BatchNorm statistics to use instead of the ones the weights came with (keyed by convolution
   * name), e.g. re-estimated on a domain's training images with `estimateBatchNormStatistics`.
   * Every key must name a convolution the taps need.
   */
  batchNormStatistics?: BatchNormStatistics;
}

/** The input scaling an encoder was trained with. */
export type Normalization =
  | { kind: 'imagenet'; mean: [number, number, number]; std: [number, number, number] }
  | { kind: 'minus-one-to-one' };

/** What a run's config records about its encoder (JSON-able). */
export interface EncoderDescription {
  id: string;
  arch: ResNetArch | 'mobilenet_v1';
  taps: string[];
  channels: Record<string, number>;
  stride: Record<string, number>;
  weights: string;
  weightsHash: string;
  normalization: Normalization;
  foldBatchNorm: boolean;
  /** SHA-256 of the re-estimated BatchNorm statistics in use; null: the weights' own. */
  batchNormStatisticsHash: string | null;
}

/** A frozen, pretrained feature extractor. It holds plain tensors: nothing in it is trainable. */
export interface Encoder<T extends string = string> {
  /** The architecture: `wide_resnet50_2`, `resnet18`, `resnet50`, `resnet(<block>,[…],w<width>)` or `mobilenet_v1`. */
  readonly id: string;
  readonly taps: readonly T[];
  /** Channels of each tap. */
  readonly channels: Readonly<Record<T, number>>;
  /** Input pixels per feature pixel of each tap (4, 8, 16, …). */
  readonly stride: Readonly<Record<T, number>>;
  /** Where the weights came from: a file, a folder or `random(seed=N)`. */
  readonly weights: string;
  /** SHA-256 of the weight file(s) read (or of the generated values for `'random'`). */
  readonly weightsHash: string;
  /**
   * SHA-256 of the BatchNorm statistics given in `batchNormStatistics` (which replace the weights'
   * own, so features differ); null when the weights' own are used. Caches of features key on it.
   */
  readonly batchNormStatisticsHash: string | null;
  readonly normalization: Normalization;
  /** Input height and width must be multiples of this (the largest tap stride). */
  readonly sizeMultiple: number;
  /**
   * Takes an NHWC float32 batch with 3 channels, already normalised; returns NHWC features per tap.
   * With a `recorder` (encoders built with `foldBatchNorm: false`), BatchNorm normalises with the
   * batch's own statistics and records them: see `estimateBatchNormStatistics`.
   */
  features(x: tf.Tensor4D, recorder?: BatchNormRecorder): Record<T, tf.Tensor4D>;
  /** NHWC images in [0, 1] with 1 or 3 channels (gray is repeated) → the input `features` expects. */
  normalize(images: tf.Tensor4D): tf.Tensor4D;
  /** Multiply-adds per image of the given size up to the deepest tap (FLOPs = 2 × this). */
  multiplyAdds(height: number, width: number): number;
  describe(): EncoderDescription;
  /**
   * The network up to the taps as plain data (NCHW, OIHW filters, BatchNorm folded as here):
   * what an exporter (ONNX) writes. Runs on any backend; reads the weights once.
   */
  graph(): EncoderGraph;
  dispose(): void;
}

const IMAGENET: Normalization = { kind: 'imagenet', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

interface Network {
  forward(x: tf.Tensor4D, recorder?: BatchNormRecorder): Map<string, tf.Tensor4D>;
  macs(height: number, width: number): number;
  graph(): EncoderGraph;
  dispose(): void;
}

function checkTaps(taps: unknown): string[] {
  if (!Array.isArray(taps) || taps.length === 0 || !taps.every((t) => typeof t === 'string' && t.length > 0)) {
    throw new Error(`createEncoder: taps must be a non-empty list of layer names (e.g. ['layer3']), got ${JSON.stringify(taps)}`);
  }
  const seen = new Set<string>();
  for (const t of taps as string[]) {
    if (seen.has(t)) throw new Error(`createEncoder: tap "${t}" is listed twice`);
    seen.add(t);
  }
  return taps as string[];
}

function checkSeed(seed: number | undefined): number {
  const s = seed ?? 0;
  if (!Number.isInteger(s)) throw new Error(`createEncoder: seed must be a whole number, got ${seed}`);
  return s;
}

/** Weights a loader found: the values, where they came from and their SHA-256. */
export interface LoadedWeights {
  dict: StateDict;
  /** A file, a folder, a URL or another label of the source. */
  weights: string;
  weightsHash: string;
}

/**
 * @internal Where an encoder's weights come from: files and the asset cache
 * (`createEncoder` in `@aeflow/backbone/node`) or bytes in memory (`buildEncoder`).
 */
export interface WeightsLoader {
  /** A ResNet's checked state dict for `specs` (`label` and `arch` name it; `depth` stages are built). */
  resnet(label: string, arch: Required<ResNetArch>, depth: number, specs: ParamSpec[]): Promise<LoadedWeights>;
  /** MobileNet: the parsed model and the weights the layers up to `layers` need. */
  mobilenet(layers: string[]): Promise<LoadedWeights & { spec: KerasModelSpec }>;
  /** SHA-256 of generated values (`weights: 'random'`), names and values in order. */
  hashArrays(entries: Iterable<[string, Float32Array]>): Promise<string>;
}

async function resnetNetwork(
  archIn: ResNetArch,
  label: string,
  taps: string[],
  opts: EncoderOptions & { weights?: unknown },
  loader: WeightsLoader,
): Promise<{ net: Network; info: Map<string, { channels: number; stride: number }>; weights: string; weightsHash: string }> {
  const arch = checkResNetArch(archIn);
  const stages = new Map<string, number>();
  for (const t of taps) {
    const s = (RESNET_TAPS as readonly string[]).indexOf(t);
    if (s < 0 || s >= arch.layers.length) {
      throw new Error(`createEncoder: "${t}" is not a tap of ${label}; use ${RESNET_TAPS.slice(0, arch.layers.length).join(', ')}`);
    }
    stages.set(t, s);
  }
  const depth = Math.max(...stages.values()) + 1;
  const specs = resnetParamSpecs(arch, depth);
  let dict: StateDict;
  let weights: string;
  let weightsHash: string;
  if (opts.weights === 'random') {
    const seed = checkSeed(opts.seed);
    dict = randomStateDict(specs, seed, torchFanOut);
    weights = `random(seed=${seed})`;
    weightsHash = await loader.hashArrays(dict.entries());
  } else {
    ({ dict, weights, weightsHash } = await loader.resnet(label, arch, depth, specs));
  }
  const used = new Set<string>();
  const model: ResNetModel = buildResNet(arch, depth, dict, opts.foldBatchNorm ?? true, opts.batchNormStatistics, used);
  try {
    checkStatisticsUsed(opts.batchNormStatistics, used, label, taps);
  } catch (err) {
    disposeResNet(model);
    throw err;
  }
  const wanted = new Set(stages.values());
  const info = new Map([...stages].map(([t, s]) => [t, resnetTapInfo(arch, s)]));
  const net: Network = {
    forward: (x, recorder) => {
      const out = resnetForward(model, x, wanted, recorder);
      return new Map([...stages].map(([t, s]) => [t, out.get(s)!]));
    },
    macs: (h, w) => resnetMacs(model, h, w),
    graph: () => resnetGraph(model, stages),
    dispose: () => disposeResNet(model),
  };
  return { net, info, weights, weightsHash };
}

async function mobilenetNetwork(
  taps: string[],
  opts: EncoderOptions & { weights?: unknown },
  loader: WeightsLoader,
): Promise<{ net: Network; info: Map<string, { channels: number; stride: number }>; weights: string; weightsHash: string }> {
  const layerOf = new Map(taps.map((t) => [t, MOBILENET_TAP_ALIASES[t] ?? t]));
  const byLayer = new Map<string, string>();
  for (const [t, l] of layerOf) {
    const other = byLayer.get(l);
    if (other !== undefined) throw new Error(`createEncoder: taps "${other}" and "${t}" are the same layer (${l})`);
    byLayer.set(l, t);
  }
  const layers = [...layerOf.values()];
  let model: MobileNetModel;
  let weights: string;
  let weightsHash: string;
  const fold = opts.foldBatchNorm ?? true;
  const used = new Set<string>();
  if (opts.weights === 'random') {
    const seed = checkSeed(opts.seed);
    const topo = mobilenetV1Topology();
    const dict = randomStateDict(mobilenetParamSpecs(topo, layers), seed, kerasFanOut);
    model = buildMobileNet(topo, layers, dict, fold, opts.batchNormStatistics, used);
    weights = `random(seed=${seed})`;
    weightsHash = await loader.hashArrays(dict.entries());
  } else {
    const loaded = await loader.mobilenet(layers);
    model = buildMobileNet(loaded.spec, layers, loaded.dict, fold, opts.batchNormStatistics, used);
    weights = loaded.weights;
    weightsHash = loaded.weightsHash;
  }
  try {
    checkStatisticsUsed(opts.batchNormStatistics, used, 'mobilenet_v1', taps);
  } catch (err) {
    disposeMobileNet(model);
    throw err;
  }
  const info = new Map(taps.map((t) => [t, model.taps.get(layerOf.get(t)!)!]));
  const wanted = new Set(layers);
  const net: Network = {
    forward: (x, recorder) => {
      const out = mobilenetForward(model, x, wanted, recorder);
      return new Map(taps.map((t) => [t, out.get(layerOf.get(t)!)!]));
    },
    macs: (h, w) => mobilenetMacs(model, h, w),
    graph: () => mobilenetGraph(model, layerOf),
    dispose: () => disposeMobileNet(model),
  };
  return { net, info, weights, weightsHash };
}

/** Statistics for a convolution the taps do not need would be silently ignored: refuse them. */
function checkStatisticsUsed(statistics: BatchNormStatistics | undefined, used: ReadonlySet<string>, label: string, taps: readonly string[]): void {
  if (!statistics) return;
  const unknown = Object.keys(statistics).filter((k) => !used.has(k));
  if (unknown.length > 0) {
    throw new Error(
      `createEncoder: batchNormStatistics has ${unknown.length} entr${unknown.length === 1 ? 'y' : 'ies'} (${unknown.slice(0, 3).map((k) => `"${k}"`).join(', ')}${unknown.length > 3 ? ', …' : ''}) that name no convolution of ${label} up to ${taps.join(', ')}; estimate them with the same arch and taps`,
    );
  }
}

/** SHA-256 of BatchNorm statistics, in sorted key order (the same statistics give the same hash). */
async function statisticsHash(statistics: BatchNormStatistics | undefined, loader: WeightsLoader): Promise<string | null> {
  if (!statistics) return null;
  const entries: Array<[string, Float32Array]> = [];
  for (const k of Object.keys(statistics).sort()) {
    const s = statistics[k]!;
    entries.push([`${k}.mean`, s.mean], [`${k}.variance`, s.variance]);
  }
  return loader.hashArrays(entries);
}

function shape(t: tf.Tensor): string {
  return `[${t.shape.join(', ')}]`;
}

/**
 * @internal Builds a frozen encoder with weights from `loader` (or drawn, for `weights: 'random'`):
 * only the weights the taps need, converted to TensorFlow.js layout once, eval-mode BatchNorm
 * folded into the convolutions. `createEncoder` (files) and `buildEncoder` (bytes) call it.
 */
export async function createEncoderWith<T extends string>(
  loader: WeightsLoader,
  options: EncoderOptions<T> & { weights?: unknown },
): Promise<Encoder<T>> {
  if (typeof options !== 'object' || options === null) throw new Error('createEncoder: pass an options object {arch, weights, taps}');
  const taps = checkTaps(options.taps) as T[];
  const arch = options.arch;
  let built: Awaited<ReturnType<typeof resnetNetwork>>;
  let id: string;
  let described: ResNetArch | 'mobilenet_v1';
  let normalization: Normalization;
  if (arch === 'mobilenet_v1') {
    built = await mobilenetNetwork(taps, options, loader);
    id = 'mobilenet_v1';
    described = 'mobilenet_v1';
    normalization = { kind: 'minus-one-to-one' };
  } else if (typeof arch === 'string') {
    const named = (RESNET_ARCHS as Record<string, Required<ResNetArch>>)[arch];
    if (!named) {
      throw new Error(`createEncoder: unknown arch ${JSON.stringify(arch)}; use ${[...Object.keys(RESNET_ARCHS), 'mobilenet_v1'].join(', ')} or {block, layers, widthPerGroup}`);
    }
    built = await resnetNetwork(named, arch, taps, options, loader);
    id = arch;
    described = { ...named, layers: [...named.layers] };
    normalization = IMAGENET;
  } else if (typeof arch === 'object' && arch !== null) {
    const a = checkResNetArch(arch);
    id = resnetId(a);
    built = await resnetNetwork(a, id, taps, options, loader);
    described = a;
    normalization = IMAGENET;
  } else {
    throw new Error(`createEncoder: arch is required: ${[...Object.keys(RESNET_ARCHS), 'mobilenet_v1'].join(', ')} or {block, layers, widthPerGroup}`);
  }
  return new FrozenEncoder<T>(id, described, taps, built, normalization, options.foldBatchNorm ?? true, await statisticsHash(options.batchNormStatistics, loader));
}

class FrozenEncoder<T extends string> implements Encoder<T> {
  readonly channels: Readonly<Record<T, number>>;
  readonly stride: Readonly<Record<T, number>>;
  readonly weights: string;
  readonly weightsHash: string;
  readonly sizeMultiple: number;
  private readonly net: Network;
  private disposed = false;

  constructor(
    readonly id: string,
    private readonly arch: ResNetArch | 'mobilenet_v1',
    readonly taps: readonly T[],
    built: { net: Network; info: Map<string, { channels: number; stride: number }>; weights: string; weightsHash: string },
    readonly normalization: Normalization,
    private readonly folded: boolean,
    readonly batchNormStatisticsHash: string | null,
  ) {
    this.net = built.net;
    this.weights = built.weights;
    this.weightsHash = built.weightsHash;
    const channels = {} as Record<T, number>;
    const stride = {} as Record<T, number>;
    for (const t of taps) {
      const i = built.info.get(t)!;
      channels[t] = i.channels;
      stride[t] = i.stride;
    }
    this.channels = Object.freeze(channels);
    this.stride = Object.freeze(stride);
    this.sizeMultiple = Math.max(...taps.map((t) => stride[t]));
  }

  private alive(what: string): void {
    if (this.disposed) throw new Error(`${this.id} encoder: ${what} called after dispose()`);
  }

  features(x: tf.Tensor4D, recorder?: BatchNormRecorder): Record<T, tf.Tensor4D> {
    this.alive('features');
    const name = `${this.id} encoder.features`;
    if (!(x instanceof tf.Tensor)) throw new Error(`${name}: expected a tf.Tensor4D [batch, height, width, 3], got ${typeof x}`);
    if (x.rank !== 4) {
      throw new Error(`${name}: expected an NHWC batch [batch, height, width, 3] (rank 4), got shape ${shape(x)} (rank ${x.rank})${x.rank === 3 ? '; add a batch axis with x.expandDims(0)' : ''}`);
    }
    if (x.dtype !== 'float32') throw new Error(`${name}: expected float32 input, got ${x.dtype}; pass images through encoder.normalize() first`);
    const [, h, w, c] = x.shape;
    if (c !== 3) {
      throw new Error(`${name}: expected 3 channels (NHWC), got shape ${shape(x)}${c === 1 ? '; encoder.normalize(images) repeats a gray channel to 3' : ''}`);
    }
    const m = this.sizeMultiple;
    if (h % m !== 0 || w % m !== 0 || h < m || w < m) {
      const fix = (v: number): number => Math.max(m, Math.round(v / m) * m);
      throw new Error(`${name}: height and width must be positive multiples of ${m} (the stride of the deepest tap), got ${h}×${w}; resize or crop to e.g. ${fix(h)}×${fix(w)}`);
    }
    return tf.tidy(() => {
      const out = this.net.forward(x, recorder);
      const result = {} as Record<T, tf.Tensor4D>;
      for (const t of this.taps) result[t] = out.get(t)!;
      return result;
    });
  }

  normalize(images: tf.Tensor4D): tf.Tensor4D {
    this.alive('normalize');
    const name = `${this.id} encoder.normalize`;
    if (!(images instanceof tf.Tensor)) throw new Error(`${name}: expected a tf.Tensor4D [batch, height, width, 1|3] in [0, 1], got ${typeof images}`);
    if (images.rank !== 4) {
      throw new Error(`${name}: expected NHWC images [batch, height, width, 1|3] (rank 4), got shape ${shape(images)} (rank ${images.rank})`);
    }
    const c = images.shape[3];
    if (c !== 1 && c !== 3) throw new Error(`${name}: expected 1 (gray) or 3 (RGB) channels, got shape ${shape(images)}`);
    return tf.tidy(() => {
      let x: tf.Tensor4D = tf.cast(images, 'float32');
      if (c === 1) x = tf.tile(x, [1, 1, 1, 3]);
      const n = this.normalization;
      if (n.kind === 'minus-one-to-one') return tf.sub(tf.mul(x, 2), 1);
      return tf.div(tf.sub(x, tf.tensor1d(n.mean)), tf.tensor1d(n.std));
    });
  }

  multiplyAdds(height: number, width: number): number {
    return this.net.macs(height, width);
  }

  graph(): EncoderGraph {
    this.alive('graph');
    return this.net.graph();
  }

  describe(): EncoderDescription {
    return {
      id: this.id,
      arch: this.arch,
      taps: [...this.taps],
      channels: { ...this.channels },
      stride: { ...this.stride },
      weights: this.weights,
      weightsHash: this.weightsHash,
      normalization: this.normalization,
      foldBatchNorm: this.folded,
      batchNormStatisticsHash: this.batchNormStatisticsHash,
    };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.net.dispose();
  }
}
