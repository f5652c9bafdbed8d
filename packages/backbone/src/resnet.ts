import * as tf from '@tensorflow/tfjs-core';
import { applyConvUnit, convUnitCost, disposeConvUnit, makeConvUnit, outputSize, withStatistics, type BatchNormRecorder, type BatchNormStatistics, type ConvUnit } from './conv-unit.js';
import { oihwToHwio, type ParamSpec, type StateDict } from './state-dict.js';

/** The general form of a torchvision ResNet: block type, blocks per stage, width per group. */
export interface ResNetArch {
  block: 'bottleneck' | 'basic';
  /** Blocks in layer1, layer2, … (1 to 4 stages; only the stages up to the deepest tap are built). */
  layers: number[];
  /** torchvision's `width_per_group` (64; 128 for the Wide-ResNets). Bottleneck blocks only. */
  widthPerGroup?: number;
}

/** The named ResNets, as torchvision / timm define them. */
export const RESNET_ARCHS = {
  wide_resnet50_2: { block: 'bottleneck', layers: [3, 4, 6, 3], widthPerGroup: 128 },
  resnet18: { block: 'basic', layers: [2, 2, 2, 2], widthPerGroup: 64 },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3], widthPerGroup: 64 },
} as const satisfies Record<string, Required<ResNetArch>>;

export type ResNetName = keyof typeof RESNET_ARCHS;

export const RESNET_TAPS = ['layer1', 'layer2', 'layer3', 'layer4'] as const;
const PLANES = [64, 128, 256, 512];
const STAGE_STRIDE = [1, 2, 2, 2];
/** torchvision's BatchNorm2d default. */
const BN_EPS = 1e-5;

/** Checks the general form and fills in the default width. */
export function checkResNetArch(arch: ResNetArch): Required<ResNetArch> {
  if (arch.block !== 'bottleneck' && arch.block !== 'basic') {
    throw new Error(`arch.block must be 'bottleneck' or 'basic', got ${JSON.stringify(arch.block)}`);
  }
  if (!Array.isArray(arch.layers) || arch.layers.length < 1 || arch.layers.length > 4 || !arch.layers.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new Error(`arch.layers must list 1 to 4 positive whole block counts (e.g. [3, 4, 6, 3]), got ${JSON.stringify(arch.layers)}`);
  }
  const widthPerGroup = arch.widthPerGroup ?? 64;
  if (!Number.isInteger(widthPerGroup) || widthPerGroup < 1) {
    throw new Error(`arch.widthPerGroup must be a positive whole number (64, or 128 for Wide-ResNets), got ${arch.widthPerGroup}`);
  }
  if (arch.block === 'basic' && widthPerGroup !== 64) {
    throw new Error(`arch.widthPerGroup: basic blocks only support 64 (as in torchvision), got ${widthPerGroup}`);
  }
  return { block: arch.block, layers: [...arch.layers], widthPerGroup };
}

/** A readable id for an arch: its torchvision name when it is one, else the general form. */
export function resnetId(arch: Required<ResNetArch>): string {
  for (const [name, a] of Object.entries(RESNET_ARCHS)) {
    if (a.block === arch.block && a.widthPerGroup === arch.widthPerGroup && a.layers.join() === arch.layers.join()) return name;
  }
  return `resnet(${arch.block},[${arch.layers.join(',')}],w${arch.widthPerGroup})`;
}

interface ConvBnLayout {
  /** Module name of the convolution, e.g. `layer1.0.conv1` or `layer2.0.downsample.0`. */
  conv: string;
  /** Module name of its BatchNorm, e.g. `layer1.0.bn1`. */
  bn: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  pad: number;
}

interface BlockLayout {
  convs: ConvBnLayout[];
  downsample?: ConvBnLayout;
}

/** Channels after stage `s` (0-based). */
function stageChannels(arch: Required<ResNetArch>, s: number): number {
  return PLANES[s]! * (arch.block === 'bottleneck' ? 4 : 1);
}

/** The module layout of the stem and the first `depth` stages, with torchvision's names. */
function layout(arch: Required<ResNetArch>, depth: number): { stem: ConvBnLayout; stages: BlockLayout[][] } {
  const stem: ConvBnLayout = { conv: 'conv1', bn: 'bn1', inChannels: 3, outChannels: 64, kernel: 7, stride: 2, pad: 3 };
  const stages: BlockLayout[][] = [];
  let inplanes = 64;
  for (let s = 0; s < depth; s++) {
    const planes = PLANES[s]!;
    const blocks: BlockLayout[] = [];
    for (let b = 0; b < arch.layers[s]!; b++) {
      const p = `layer${s + 1}.${b}`;
      const stride = b === 0 ? STAGE_STRIDE[s]! : 1;
      const out = stageChannels(arch, s);
      let convs: ConvBnLayout[];
      if (arch.block === 'bottleneck') {
        const width = Math.floor(planes * (arch.widthPerGroup / 64));
        convs = [
          { conv: `${p}.conv1`, bn: `${p}.bn1`, inChannels: inplanes, outChannels: width, kernel: 1, stride: 1, pad: 0 },
          // torchvision's ResNet v1.5: the stride sits on the 3×3 convolution.
          { conv: `${p}.conv2`, bn: `${p}.bn2`, inChannels: width, outChannels: width, kernel: 3, stride, pad: 1 },
          { conv: `${p}.conv3`, bn: `${p}.bn3`, inChannels: width, outChannels: out, kernel: 1, stride: 1, pad: 0 },
        ];
      } else {
        convs = [
          { conv: `${p}.conv1`, bn: `${p}.bn1`, inChannels: inplanes, outChannels: planes, kernel: 3, stride, pad: 1 },
          { conv: `${p}.conv2`, bn: `${p}.bn2`, inChannels: planes, outChannels: planes, kernel: 3, stride: 1, pad: 1 },
        ];
      }
      const block: BlockLayout = { convs };
      if (stride !== 1 || inplanes !== out) {
        block.downsample = { conv: `${p}.downsample.0`, bn: `${p}.downsample.1`, inChannels: inplanes, outChannels: out, kernel: 1, stride, pad: 0 };
      }
      blocks.push(block);
      inplanes = out;
    }
    stages.push(blocks);
  }
  return { stem, stages };
}

function allConvs(l: { stem: ConvBnLayout; stages: BlockLayout[][] }): ConvBnLayout[] {
  const out = [l.stem];
  for (const stage of l.stages) for (const b of stage) out.push(...b.convs, ...(b.downsample ? [b.downsample] : []));
  return out;
}

/** The state-dict tensors the first `depth` stages need (names and PyTorch shapes). */
export function resnetParamSpecs(arch: Required<ResNetArch>, depth: number): ParamSpec[] {
  const specs: ParamSpec[] = [];
  for (const c of allConvs(layout(arch, depth))) {
    specs.push({ key: `${c.conv}.weight`, shape: [c.outChannels, c.inChannels, c.kernel, c.kernel], init: 'he-conv' });
    specs.push({ key: `${c.bn}.weight`, shape: [c.outChannels], init: 'bn-gamma' });
    specs.push({ key: `${c.bn}.bias`, shape: [c.outChannels], init: 'bn-beta' });
    specs.push({ key: `${c.bn}.running_mean`, shape: [c.outChannels], init: 'bn-mean' });
    specs.push({ key: `${c.bn}.running_var`, shape: [c.outChannels], init: 'bn-var' });
  }
  return specs;
}

/**
 * Keys that show the checkpoint has more blocks in a stage than the arch says: loading would
 * silently use a prefix of the network, so this is an error.
 */
export function extraBlockKeys(arch: Required<ResNetArch>, depth: number, keys: Iterable<string>): string[] {
  const extra: string[] = [];
  const all = new Set(keys);
  for (let s = 0; s < depth; s++) {
    const k = `layer${s + 1}.${arch.layers[s]}.conv1.weight`;
    if (all.has(k)) extra.push(k);
  }
  return extra;
}

interface ResNetBlockUnits {
  convs: ConvUnit[];
  downsample?: ConvUnit;
}

export interface ResNetModel {
  arch: Required<ResNetArch>;
  stem: ConvUnit;
  stages: ResNetBlockUnits[][];
}

function unitFrom(c: ConvBnLayout, dict: StateDict, fold: boolean, statistics: BatchNormStatistics | undefined, used: Set<string>): ConvUnit {
  const get = (key: string): Float32Array => {
    const v = dict.get(key);
    if (!v) throw new Error(`internal: "${key}" was not loaded`);
    return v;
  };
  const filter = oihwToHwio(get(`${c.conv}.weight`), [c.outChannels, c.inChannels, c.kernel, c.kernel]);
  return makeConvUnit(
    withStatistics(
      {
      name: c.conv,
      kind: 'conv',
      filter: filter.data,
      filterShape: filter.shape,
      gamma: get(`${c.bn}.weight`),
      beta: get(`${c.bn}.bias`),
      mean: get(`${c.bn}.running_mean`),
      variance: get(`${c.bn}.running_var`),
      epsilon: BN_EPS,
      stride: c.stride,
      pad: c.pad,
      },
      statistics,
      used,
    ),
    fold,
  );
}

/**
 * Builds the stem and the first `depth` stages from a (PyTorch-layout) state dict; `statistics`
 * (keyed by convolution name) replace those BatchNorms' running mean/var, their names go to `used`.
 */
export function buildResNet(
  arch: Required<ResNetArch>,
  depth: number,
  dict: StateDict,
  fold: boolean,
  statistics?: BatchNormStatistics,
  used: Set<string> = new Set(),
): ResNetModel {
  const l = layout(arch, depth);
  const made: ConvUnit[] = [];
  const unit = (c: ConvBnLayout): ConvUnit => {
    const u = unitFrom(c, dict, fold, statistics, used);
    made.push(u);
    return u;
  };
  try {
    return {
      arch,
      stem: unit(l.stem),
      stages: l.stages.map((blocks) => blocks.map((b) => ({ convs: b.convs.map(unit), ...(b.downsample ? { downsample: unit(b.downsample) } : {}) }))),
    };
  } catch (err) {
    made.forEach(disposeConvUnit);
    throw err;
  }
}

/** Output channels and stride of each stage tap. */
export function resnetTapInfo(arch: Required<ResNetArch>, s: number): { channels: number; stride: number } {
  return { channels: stageChannels(arch, s), stride: 4 * 2 ** s };
}

function block(x: tf.Tensor4D, b: ResNetBlockUnits, recorder?: BatchNormRecorder): tf.Tensor4D {
  return tf.tidy(() => {
    let y = x;
    b.convs.forEach((u, i) => {
      y = applyConvUnit(y, u, i === b.convs.length - 1 ? 'linear' : 'relu', recorder);
    });
    const shortcut = b.downsample ? applyConvUnit(x, b.downsample, 'linear', recorder) : x;
    return tf.relu(tf.add(y, shortcut)) as tf.Tensor4D;
  });
}

/** Runs the network on a normalised NHWC batch, returning the outputs of the stages asked for (0-based). */
export function resnetForward(model: ResNetModel, x: tf.Tensor4D, stagesWanted: ReadonlySet<number>, recorder?: BatchNormRecorder): Map<number, tf.Tensor4D> {
  const out = new Map<number, tf.Tensor4D>();
  let h = applyConvUnit(x, model.stem, 'relu', recorder);
  // PyTorch pads max-pooling with -inf; after a ReLU every value is ≥ 0 and tfjs pooling ignores
  // the padded cells, so a symmetric 1-pixel pad gives the same result.
  h = tf.maxPool(h, 3, 2, 1);
  model.stages.forEach((blocks, s) => {
    for (const b of blocks) h = block(h, b, recorder);
    if (stagesWanted.has(s)) out.set(s, h);
  });
  return out;
}

/** Multiply-adds per image of the given size. */
export function resnetMacs(model: ResNetModel, height: number, width: number): number {
  let macs = 0;
  let size = convUnitCost(model.stem, height, width);
  macs += size.macs;
  let h = outputSize(size.height, 3, 2, 1);
  let w = outputSize(size.width, 3, 2, 1);
  for (const blocks of model.stages) {
    for (const b of blocks) {
      let bh = h;
      let bw = w;
      for (const u of b.convs) {
        size = convUnitCost(u, bh, bw);
        macs += size.macs;
        bh = size.height;
        bw = size.width;
      }
      if (b.downsample) macs += convUnitCost(b.downsample, h, w).macs;
      h = bh;
      w = bw;
    }
  }
  return macs;
}

export function disposeResNet(model: ResNetModel): void {
  disposeConvUnit(model.stem);
  for (const blocks of model.stages) {
    for (const b of blocks) {
      b.convs.forEach(disposeConvUnit);
      if (b.downsample) disposeConvUnit(b.downsample);
    }
  }
}

/** He-normal fan-out for a PyTorch OIHW convolution weight. */
export function torchFanOut(spec: ParamSpec): number {
  const [o, , h, w] = spec.shape as [number, number, number, number];
  return o * h * w;
}
