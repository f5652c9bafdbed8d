import * as tf from '@tensorflow/tfjs-core';
import {
  assertFinite,
  assignWeight,
  checkInput,
  checkLayout,
  checkPositiveInt,
  FlowWeightError,
  positionsPerSample,
  validateWeights,
  type WeightSpec,
} from './checks.js';
import { readConfig, type FlowConfig } from './config.js';
import type { FlowLayer, FlowOptions, FlowResult, InverseResult } from './flow-layer.js';
import { invertUnitLower, invertUpper, luDecompose, matMul64, randomOrthogonal } from './linalg.js';
import { channelMatMul, checkPermutation, invertPermutation, ownedVariable, permuteLastAxis } from './modules.js';
import { seededRandom, type UniformRandom } from './random.js';

export interface InvertibleConv1x1Config {
  channels: number;
  /**
   * The initial matrix W (row-major C×C, y = W·x at every position), e.g. FrEIA's soft
   * permutation `w_perm` [C, C, 1, 1] read as [C, C]; it is LU-decomposed (with pivoting) into
   * the layer's parameters. Default: a random orthogonal matrix from `seed` / `random`.
   */
  matrix?: ArrayLike<number>;
  /**
   * Whether `lower`, `upper` and `log_scale` are trained. Default true (Glow). False holds a
   * fixed rotation, as FrEIA's `permute_soft` (whose `w_perm` is not a parameter it trains).
   */
  trainable?: boolean;
  seed?: number;
  random?: UniformRandom;
  name?: string;
}

/**
 * Glow's invertible 1×1 convolution, LU-parameterised: W = P·L·(U + diag(sign·exp(log_scale)))
 * with P a fixed permutation, L unit lower-triangular, U strictly upper-triangular; y = W·x at
 * every position; log-det = positions·Σ log_scale (= H·W·Σ log|s|). Initialised from a random
 * orthogonal matrix (seeded). Keys `permutation` (int32: row i of W is row permutation[i] of
 * L·U'), `lower`, `upper` (only the strict triangles are used), `log_scale` (trainable) and `sign`.
 *
 * The inverse uses W⁻¹ = U'⁻¹·L⁻¹·Pᵀ from triangular solves in float64 on the JS side (tfjs has
 * no solve), cached until the weights change: it is differentiable in y but not in the weights.
 */
export class InvertibleConv1x1 implements FlowLayer {
  readonly name: string;
  readonly channels: number;
  readonly trainable: boolean;
  readonly lower: tf.Variable;
  readonly upper: tf.Variable;
  readonly logScale: tf.Variable;
  private sign: tf.Tensor1D;
  private perm: tf.Tensor1D;
  private inversePerm: tf.Tensor1D;
  private readonly lowerMask: tf.Tensor2D;
  private readonly upperMask: tf.Tensor2D;
  private readonly eye: tf.Tensor2D;
  private inverseCache: { key: Float32Array[]; matrix: tf.Tensor2D } | undefined;

  constructor(config: InvertibleConv1x1Config) {
    this.name = config.name ?? 'invconv';
    checkPositiveInt(config.channels, `InvertibleConv1x1 "${this.name}"`, 'channels');
    const n = (this.channels = config.channels);
    this.trainable = config.trainable ?? true;
    if (typeof this.trainable !== 'boolean') throw new Error(`InvertibleConv1x1 "${this.name}": trainable must be true or false, got ${String(config.trainable)}`);
    let q: ArrayLike<number>;
    if (config.matrix !== undefined) {
      if (config.matrix.length !== n * n || !Array.from(config.matrix).every(Number.isFinite)) {
        throw new Error(`InvertibleConv1x1 "${this.name}": matrix must hold ${n}×${n} = ${n * n} finite numbers (row-major), got ${config.matrix.length} values`);
      }
      q = config.matrix;
    } else {
      q = randomOrthogonal(n, config.random ?? seededRandom(config.seed ?? 0));
    }
    let decomposition: ReturnType<typeof luDecompose>;
    try {
      decomposition = luDecompose(q, n);
    } catch (err) {
      throw new Error(`InvertibleConv1x1 "${this.name}": matrix is not invertible (${(err as Error).message})`);
    }
    const { rows, lower, upper } = decomposition;
    const perm = invertPermutation(rows);
    const lowerV = new Float32Array(n * n);
    const upperV = new Float32Array(n * n);
    const logS = new Float32Array(n);
    const sign = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (j < i) lowerV[i * n + j] = lower[i * n + j]!;
        if (j > i) upperV[i * n + j] = upper[i * n + j]!;
      }
      const d = upper[i * n + i]!;
      logS[i] = Math.log(Math.abs(d));
      sign[i] = d < 0 ? -1 : 1;
    }
    this.lower = ownedVariable(tf.tensor2d(lowerV, [n, n]), this.trainable);
    this.upper = ownedVariable(tf.tensor2d(upperV, [n, n]), this.trainable);
    this.logScale = ownedVariable(tf.tensor1d(logS), this.trainable);
    this.sign = tf.tensor1d(sign);
    this.perm = tf.tensor1d(perm, 'int32');
    this.inversePerm = tf.tensor1d(rows, 'int32');
    const lm = new Float32Array(n * n);
    const um = new Float32Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++) lm[i * n + j] = 1;
      for (let j = i + 1; j < n; j++) um[i * n + j] = 1;
    }
    this.lowerMask = tf.tensor2d(lm, [n, n]);
    this.upperMask = tf.tensor2d(um, [n, n]);
    this.eye = tf.eye(n);
  }

  /** W as a tensor [C, C] (y = W·x per position), differentiable in the weights. */
  weight(): tf.Tensor2D {
    return tf.tidy(() => tf.transpose(this.weightTransposed()));
  }

  /** Wᵀ = U'ᵀ·Lᵀ·Pᵀ, the [in, out] matrix applied to channel rows. */
  private weightTransposed(): tf.Tensor2D {
    return tf.tidy(() => {
      const l = tf.add(tf.mul(this.lower, this.lowerMask), this.eye);
      // diag(s) as eye·s: tf.diag has no gradient.
      const s = tf.mul(this.sign, tf.exp(this.logScale));
      const u = tf.add(tf.mul(this.upper, this.upperMask), tf.mul(this.eye, s));
      const lu = tf.matMul(tf.transpose(u), tf.transpose(l)); // (L·U')ᵀ
      // Columns of (P·L·U')ᵀ are the rows of P·L·U': column i = column perm[i] of (L·U')ᵀ.
      return permuteLastAxis(lu, this.perm, this.inversePerm) as tf.Tensor2D;
    });
  }

  forward(x: tf.Tensor, options: FlowOptions = {}): FlowResult {
    const who = `InvertibleConv1x1 "${this.name}"`;
    checkInput(x, who, this.channels);
    checkLayout(x, who, this.channels, options.layout);
    const check = options.checkFinite !== false;
    if (check) assertFinite(x, `${who}: forward input`);
    const out = tf.tidy(() => ({ y: channelMatMul(x, this.weightTransposed()), logDet: this.logDetFor(x.shape) }));
    if (check) assertFinite(out.y, `${who}: forward output`);
    return out;
  }

  inverse(y: tf.Tensor, options: FlowOptions = {}): InverseResult {
    const who = `InvertibleConv1x1 "${this.name}"`;
    checkInput(y, who, this.channels);
    checkLayout(y, who, this.channels, options.layout);
    const check = options.checkFinite !== false;
    if (check) assertFinite(y, `${who}: inverse input`);
    const m = this.inverseTransposed();
    const out = tf.tidy(() => ({ x: channelMatMul(y, m), logDet: tf.neg<tf.Tensor1D>(this.logDetFor(y.shape)) }));
    if (check) assertFinite(out.x, `${who}: inverse output`);
    return out;
  }

  /** (W⁻¹)ᵀ as [in, out], computed in float64 from the current weights (cached). */
  inverseTransposed(): tf.Tensor2D {
    const key = [this.lower, this.upper, this.logScale, this.sign, this.perm].map((t) => Float32Array.from(t.dataSync()));
    const cached = this.inverseCache;
    if (cached && cached.key.every((a, i) => sameValues(a, key[i]!))) return cached.matrix;
    const n = this.channels;
    const [lowerV, upperV, logS, sign, perm] = key as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    const l = new Float64Array(n * n);
    const u = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++) l[i * n + j] = lowerV[i * n + j]!;
      l[i * n + i] = 1;
      for (let j = i + 1; j < n; j++) u[i * n + j] = upperV[i * n + j]!;
      u[i * n + i] = sign[i]! * Math.exp(logS[i]!);
    }
    // (L·U')⁻¹ = U'⁻¹·L⁻¹; W⁻¹[c, i] = (L·U')⁻¹[c, perm[i]]; the matrix applied to rows is B[i, c] = W⁻¹[c, i].
    const mInv = matMul64(invertUpper(u, n), invertUnitLower(l, n), n);
    const b = new Float32Array(n * n);
    for (let i = 0; i < n; i++) {
      const pi = perm[i]!;
      for (let c = 0; c < n; c++) b[i * n + c] = mInv[c * n + pi]!;
    }
    cached?.matrix.dispose();
    // Kept: inverse() may run inside a caller's tidy, which must not dispose the cache.
    const matrix = tf.keep(tf.tensor2d(b, [n, n]));
    this.inverseCache = { key, matrix };
    return matrix;
  }

  private logDetFor(shape: readonly number[]): tf.Tensor1D {
    const perSample = tf.mul(tf.sum(this.logScale), positionsPerSample(shape));
    return tf.mul<tf.Tensor1D>(tf.ones([shape[0]!]), perSample);
  }

  get trainableVariables(): tf.Variable[] {
    return this.trainable ? [this.lower, this.upper, this.logScale] : [];
  }

  static readonly className = 'InvertibleConv1x1';

  getClassName(): string {
    return InvertibleConv1x1.className;
  }

  /** The settings as JSON-able values; W itself is in the weights (`getWeights`). */
  getConfig(): FlowConfig {
    return { channels: this.channels, trainable: this.trainable, name: this.name };
  }

  static fromConfig(config: FlowConfig): InvertibleConv1x1 {
    const c = readConfig(config, 'InvertibleConv1x1.fromConfig', ['channels', 'trainable', 'seed', 'name']);
    return new InvertibleConv1x1(c as unknown as InvertibleConv1x1Config);
  }

  /** New tensors (the caller disposes them); matrices in math layout [row, column], as glow-pytorch. */
  getWeights(): Record<string, tf.Tensor> {
    return {
      permutation: tf.clone(this.perm),
      lower: tf.clone(this.lower),
      upper: tf.clone(this.upper),
      log_scale: tf.clone(this.logScale),
      sign: tf.clone(this.sign),
    };
  }

  weightSpecs(): Record<string, WeightSpec> {
    const n = this.channels;
    return {
      permutation: { shape: [n], dtype: 'int32' },
      lower: { shape: [n, n], dtype: 'float32' },
      upper: { shape: [n, n], dtype: 'float32' },
      log_scale: { shape: [n], dtype: 'float32' },
      sign: { shape: [n], dtype: 'float32' },
    };
  }

  setWeights(weights: Record<string, tf.Tensor>): void {
    validateWeights(weights, this.weightSpecs());
    const perm = Array.from(weights.permutation!.dataSync());
    try {
      checkPermutation(perm, this.channels, `InvertibleConv1x1 "${this.name}"`);
    } catch (err) {
      throw new FlowWeightError('permutation', 'value', `is invalid: ${(err as Error).message}`);
    }
    const sign = Array.from(weights.sign!.dataSync());
    if (sign.some((v) => v !== 1 && v !== -1)) {
      throw new FlowWeightError('sign', 'value', 'must hold only +1 and -1');
    }
    assignWeight(weights, 'lower', this.lower);
    assignWeight(weights, 'upper', this.upper);
    assignWeight(weights, 'log_scale', this.logScale);
    this.sign.dispose();
    this.perm.dispose();
    this.inversePerm.dispose();
    this.sign = tf.tensor1d(sign);
    this.perm = tf.tensor1d(perm, 'int32');
    this.inversePerm = tf.tensor1d(invertPermutation(perm), 'int32');
  }

  dispose(): void {
    for (const t of [this.lower, this.upper, this.logScale, this.sign, this.perm, this.inversePerm, this.lowerMask, this.upperMask, this.eye]) {
      t.dispose();
    }
    this.inverseCache?.matrix.dispose();
    this.inverseCache = undefined;
  }
}

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
