import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom } from '@aeflow/tensor';

/**
 * Configuration of the AE-FLOW decoder (tfjs-layers-like: a plain object, every field named).
 */
export interface DecoderConfig {
  /** Channels of the features it decodes (the encoder's tapped channels, e.g. 1024 for Wide-ResNet-50-2 layer3). */
  inChannels: number;
  /** Down-sampling factor of those features relative to the image (a power of two ≥ 2, e.g. 16). */
  stride: number;
  /**
   * Output channels of every up-block but the last (log2(stride) − 1 numbers). Default: derived from
   * `inChannels` by {@link defaultDecoderWidths} (1024 → 512, 256, 64 as in the paper).
   */
  widths?: number[];
  /** Channels of the reconstructed image (default 3). */
  outChannels?: number;
  /** Seed of the weight initialisation (default 0). */
  seed?: number;
}

/** The resolved configuration: every field present. */
export interface ResolvedDecoderConfig {
  inChannels: number;
  stride: number;
  widths: number[];
  outChannels: number;
  seed: number;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 2 && (n & (n - 1)) === 0;
}

/**
 * The paper's widths, generalised: with n = log2(stride) up-blocks, the hidden widths halve from
 * `inChannels` for the first n − 2 blocks and the last hidden block has `inChannels / stride`
 * channels — for Wide-ResNet-50-2 layer3 (1024 channels at 1/16) that is 512, 256, 64, exactly the
 * paper's decoder; for MobileNet V1 conv_pw_11 (512 at 1/16) 256, 128, 32. Never below 8 channels.
 */
export function defaultDecoderWidths(inChannels: number, stride: number): number[] {
  if (!isPowerOfTwo(stride)) throw new Error(`defaultDecoderWidths: stride must be a power of two ≥ 2, got ${stride}`);
  const n = Math.log2(stride);
  const widths: number[] = [];
  for (let k = 1; k <= n - 1; k++) {
    const w = k < n - 1 ? inChannels / 2 ** k : inChannels / stride;
    widths.push(Math.max(8, Math.round(w)));
  }
  return widths;
}

/** Validates a decoder configuration and fills in the defaults; errors name the field and the fix. */
export function resolveDecoderConfig(config: DecoderConfig): ResolvedDecoderConfig {
  const { inChannels, stride } = config;
  if (!Number.isInteger(inChannels) || inChannels < 1) {
    throw new Error(`decoder: inChannels must be a positive whole number (the encoder's feature channels), got ${inChannels}`);
  }
  if (!isPowerOfTwo(stride)) {
    throw new Error(`decoder: stride must be a power of two ≥ 2 (the encoder's down-sampling, e.g. 16), got ${stride}`);
  }
  const n = Math.log2(stride);
  const widths = config.widths ?? defaultDecoderWidths(inChannels, stride);
  if (widths.length !== n - 1 || !widths.every((w) => Number.isInteger(w) && w >= 1)) {
    throw new Error(
      `decoder: widths must be ${n - 1} positive whole numbers for stride ${stride} (one per up-block but the last), got [${widths.join(', ')}]`,
    );
  }
  const outChannels = config.outChannels ?? 3;
  if (!Number.isInteger(outChannels) || outChannels < 1) {
    throw new Error(`decoder: outChannels must be a positive whole number, got ${outChannels}`);
  }
  const seed = config.seed ?? 0;
  return { inChannels, stride, widths: [...widths], outChannels, seed };
}

interface UpBlock {
  /** 2×2 stride-2 transposed conv, TF.js layout [2, 2, out, in]. */
  upWeight: tf.Variable;
  upBias: tf.Variable;
  /** 3×3 conv at the same width, TF.js layout [3, 3, in, out] (absent in the last block). */
  convWeight?: tf.Variable;
  convBias?: tf.Variable;
  inChannels: number;
  outChannels: number;
}

// PyTorch stores Conv2d weights as [out, in, kH, kW] and ConvTranspose2d weights as
// [in, out, kH, kW]; TF.js wants conv2d filters as [kH, kW, in, out] and conv2dTranspose filters
// as [kH, kW, out, in]. Both conversions are the same axis permutation.
const TORCH_TO_TF = [2, 3, 1, 0];
const TF_TO_TORCH = [3, 2, 0, 1];

/**
 * The AE-FLOW decoder: log2(stride) up-blocks, each a 2×2 stride-2 transposed convolution followed
 * (all but the last block) by a 3×3 convolution at the same width, ReLU after every layer but the
 * last, no activation at the end (targets are ImageNet-normalised, so a bounded output could not
 * reach them). NHWC in and out: [N, h, w, inChannels] → [N, h·stride, w·stride, outChannels].
 *
 * Weights are exchanged ({@link getWeights} / {@link setWeights}) with PyTorch names and layouts
 * (`blocks.0.up.weight` [in, out, 2, 2], `blocks.0.conv.weight` [out, in, 3, 3], `….bias`), so a
 * checkpoint written here reads in PyTorch with `torch.nn.ConvTranspose2d` / `Conv2d` modules and
 * the other way round; the layout conversion happens once, at load.
 */
export class AEFlowDecoder {
  readonly config: ResolvedDecoderConfig;
  private readonly blocks: UpBlock[];
  private disposed = false;

  constructor(config: DecoderConfig) {
    this.config = resolveDecoderConfig(config);
    const { inChannels, widths, outChannels, seed } = this.config;
    const rng = new SeededRandom(seed);
    // tf.variable keeps its initial tensor alive as a separate tensor: build inside tidy so the
    // initial values are released and only the variables remain.
    const uniformVariable = (shape: number[], bound: number): tf.Variable => tf.tidy(() => tf.variable(rng.uniformTensor(shape, -bound, bound), true));
    const outs = [...widths, outChannels];
    this.blocks = [];
    let cin = inChannels;
    outs.forEach((cout, i) => {
      const last = i === outs.length - 1;
      // PyTorch's default initialisation (kaiming_uniform with a = √5): U(±1/√fan_in) for weights and
      // biases, with fan_in = in·k·k (for the transposed conv too, which is what the gradient scale wants).
      const upBound = 1 / Math.sqrt(cin * 4);
      const block: UpBlock = {
        upWeight: uniformVariable([2, 2, cout, cin], upBound),
        upBias: uniformVariable([cout], upBound),
        inChannels: cin,
        outChannels: cout,
      };
      if (!last) {
        const convBound = 1 / Math.sqrt(cout * 9);
        block.convWeight = uniformVariable([3, 3, cout, cout], convBound);
        block.convBias = uniformVariable([cout], convBound);
      }
      this.blocks.push(block);
      cin = cout;
    });
  }

  /** Number of up-blocks (log2 of the stride). */
  get numBlocks(): number {
    return this.blocks.length;
  }

  /** Decodes features [N, h, w, inChannels] to images [N, h·stride, w·stride, outChannels]. */
  forward(features: tf.Tensor4D): tf.Tensor4D {
    this.checkAlive();
    const [, , , c] = features.shape;
    if (c !== this.config.inChannels) {
      throw new Error(`decoder.forward: input has ${c} channels, the decoder was built for inChannels = ${this.config.inChannels}`);
    }
    return tf.tidy(() => {
      let x: tf.Tensor4D = features;
      this.blocks.forEach((b, i) => {
        const [n, h, w] = x.shape;
        x = tf.conv2dTranspose(x, b.upWeight as tf.Tensor4D, [n, h * 2, w * 2, b.outChannels], 2, 'valid');
        x = tf.add(x, b.upBias);
        if (b.convWeight && b.convBias) {
          x = tf.relu(x);
          x = tf.add(tf.conv2d(x, b.convWeight as tf.Tensor4D, 1, 'same'), b.convBias);
        }
        if (i < this.blocks.length - 1) x = tf.relu(x);
      });
      return x;
    });
  }

  /** The variables an optimiser updates, in a fixed order. */
  get trainableVariables(): tf.Variable[] {
    this.checkAlive();
    const vars: tf.Variable[] = [];
    for (const b of this.blocks) {
      vars.push(b.upWeight, b.upBias);
      if (b.convWeight && b.convBias) vars.push(b.convWeight, b.convBias);
    }
    return vars;
  }

  /** Names (PyTorch-like) of the variables in {@link trainableVariables}, same order. */
  get weightNames(): string[] {
    const names: string[] = [];
    this.blocks.forEach((b, i) => {
      names.push(`blocks.${i}.up.weight`, `blocks.${i}.up.bias`);
      if (b.convWeight) names.push(`blocks.${i}.conv.weight`, `blocks.${i}.conv.bias`);
    });
    return names;
  }

  /** Number of trained parameters. */
  get numParameters(): number {
    return this.trainableVariables.reduce((s, v) => s + v.size, 0);
  }

  /** Multiply-adds of one forward pass on features of h × w (per image). */
  multiplyAdds(h: number, w: number): number {
    let total = 0;
    let hh = h;
    let ww = w;
    for (const b of this.blocks) {
      hh *= 2;
      ww *= 2;
      total += hh * ww * b.inChannels * b.outChannels; // each output pixel sees one input pixel × 1 tap
      if (b.convWeight) total += hh * ww * 9 * b.outChannels * b.outChannels;
    }
    return total;
  }

  /**
   * The weights with PyTorch names and layouts, as new tensors (the caller disposes them):
   * `blocks.{i}.up.weight` [in, out, 2, 2], `blocks.{i}.up.bias` [out],
   * `blocks.{i}.conv.weight` [out, out, 3, 3], `blocks.{i}.conv.bias` [out].
   */
  getWeights(): Record<string, tf.Tensor> {
    this.checkAlive();
    const out: Record<string, tf.Tensor> = {};
    const names = this.weightNames;
    this.trainableVariables.forEach((v, k) => {
      const name = names[k]!;
      out[name] = v.rank === 4 ? tf.transpose(v, TF_TO_TORCH) : tf.clone(v);
    });
    return out;
  }

  /**
   * Loads weights given with PyTorch names and layouts (as {@link getWeights} returns them). Every
   * weight must be present with the right shape; extra names are an error too (they usually mean a
   * checkpoint of another configuration). The given tensors are not disposed.
   */
  setWeights(weights: Record<string, tf.Tensor>): void {
    this.checkAlive();
    const names = this.weightNames;
    const vars = this.trainableVariables;
    const extra = Object.keys(weights).filter((k) => !names.includes(k));
    if (extra.length > 0) {
      throw new Error(`decoder.setWeights: unexpected weight(s) ${extra.slice(0, 5).join(', ')}; this decoder has ${names.join(', ')}`);
    }
    names.forEach((name, k) => {
      const t = weights[name];
      const v = vars[k]!;
      if (!t) throw new Error(`decoder.setWeights: missing weight ${name} (shape in PyTorch layout ${this.torchShape(v).join('×')})`);
      const expected = this.torchShape(v);
      if (t.shape.length !== expected.length || t.shape.some((d, j) => d !== expected[j])) {
        throw new Error(
          `decoder.setWeights: ${name} has shape [${t.shape.join(', ')}], expected [${expected.join(', ')}] (PyTorch layout) — is it a checkpoint of another decoder configuration?`,
        );
      }
      tf.tidy(() => v.assign(t.rank === 4 ? tf.transpose(t, TORCH_TO_TF) : t.clone()));
    });
  }

  private torchShape(v: tf.Variable): number[] {
    return v.rank === 4 ? TF_TO_TORCH.map((a) => v.shape[a]!) : [...v.shape];
  }

  dispose(): void {
    if (this.disposed) return;
    for (const v of this.trainableVariables) v.dispose();
    this.disposed = true;
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('decoder: used after dispose()');
  }
}

/** Creates an {@link AEFlowDecoder}. */
export function createDecoder(config: DecoderConfig): AEFlowDecoder {
  return new AEFlowDecoder(config);
}
