import * as tf from '@tensorflow/tfjs-core';

/** An error about loading weights; `key` is the full dotted key (composites prefix it). */
export class FlowWeightError extends Error {
  constructor(
    readonly key: string,
    readonly problem: 'missing' | 'shape' | 'dtype' | 'unknown' | 'value',
    readonly detail: string,
  ) {
    super(`setWeights: weight "${key}" ${detail}`);
    this.name = 'FlowWeightError';
  }

  withPrefix(prefix: string): FlowWeightError {
    const err = new FlowWeightError(prefix + this.key, this.problem, this.detail);
    return err;
  }
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** The tensor stored under `key`, checked against the expected shape. */
export function takeWeight(
  weights: Record<string, tf.Tensor>,
  key: string,
  expectedShape: readonly number[],
  expectedDtype: 'float32' | 'int32' = 'float32',
): tf.Tensor {
  const t = weights[key];
  if (t === undefined) {
    throw new FlowWeightError(key, 'missing', `is missing (the layer expects shape ${shapeString(expectedShape)})`);
  }
  if (t.shape.length !== expectedShape.length || t.shape.some((d, i) => d !== expectedShape[i])) {
    throw new FlowWeightError(
      key,
      'shape',
      `has shape ${shapeString(t.shape)} but the layer expects ${shapeString(expectedShape)}`,
    );
  }
  if (expectedDtype === 'int32' && t.dtype !== 'int32' && t.dtype !== 'float32') {
    throw new FlowWeightError(key, 'dtype', `has dtype ${t.dtype}; expected int32`);
  }
  if (expectedDtype === 'float32' && t.dtype !== 'float32') {
    throw new FlowWeightError(key, 'dtype', `has dtype ${t.dtype}; expected float32`);
  }
  return t;
}

/**
 * Assigns `weights[key]` to a variable after checking key, shape (the serialised shape,
 * `serialisedShape`, default the variable's own) and dtype; `toVariableLayout` converts a
 * serialised (PyTorch-layout) value to the variable's TensorFlow.js layout.
 */
export function assignWeight(
  weights: Record<string, tf.Tensor>,
  key: string,
  variable: tf.Variable,
  serialisedShape: readonly number[] = variable.shape,
  toVariableLayout?: (t: tf.Tensor) => tf.Tensor,
): void {
  const value = takeWeight(weights, key, serialisedShape);
  // Assigning a variable its own data would free it.
  if (value.dataId === variable.dataId) return;
  // assign() keeps its argument's data: pass a converted copy, never the caller's tensor, and
  // release the copy's handle (tf.tidy) while the variable keeps the data.
  tf.tidy(() => variable.assign(toVariableLayout ? tf.reshape(toVariableLayout(value), variable.shape) : tf.reshape(value, variable.shape)));
}

/** Throws on keys the layer does not have. */
export function rejectUnknownKeys(weights: Record<string, tf.Tensor>, known: Iterable<string>): void {
  const knownSet = new Set(known);
  for (const key of Object.keys(weights)) {
    if (!knownSet.has(key)) {
      throw new FlowWeightError(key, 'unknown', `is not a weight of this layer (expected keys: ${[...knownSet].join(', ')})`);
    }
  }
}

/** The entries of `weights` under `prefix`, with the prefix removed. */
export function subWeights(weights: Record<string, tf.Tensor>, prefix: string): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [key, value] of Object.entries(weights)) {
    if (key.startsWith(prefix)) out[key.slice(prefix.length)] = value;
  }
  return out;
}

/** Adds `prefix` to every key. */
export function prefixWeights(prefix: string, weights: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [key, value] of Object.entries(weights)) out[prefix + key] = value;
  return out;
}

/** Runs a child's setWeights and prefixes the key of any weight error it throws. */
export function setChildWeights(
  prefix: string,
  weights: Record<string, tf.Tensor>,
  child: { setWeights(w: Record<string, tf.Tensor>): void },
): void {
  try {
    child.setWeights(subWeights(weights, prefix));
  } catch (err) {
    if (err instanceof FlowWeightError) throw err.withPrefix(prefix);
    throw err;
  }
}

/** Checks that `x` is channels-last with the expected channel count and a rank in range. */
export function checkInput(
  x: tf.Tensor,
  owner: string,
  channels: number,
  options: { minRank?: number; maxRank?: number; exactRank?: number } = {},
): void {
  const what = `${owner}: input`;
  if (options.exactRank !== undefined && x.rank !== options.exactRank) {
    throw new Error(
      `${what} has rank ${x.rank} (shape ${shapeString(x.shape)}) but must be rank ${options.exactRank}` +
        (options.exactRank === 4 ? ' NHWC [batch, height, width, channels]' : ''),
    );
  }
  const minRank = options.minRank ?? 2;
  if (x.rank < minRank || (options.maxRank !== undefined && x.rank > options.maxRank)) {
    throw new Error(
      `${what} has rank ${x.rank} (shape ${shapeString(x.shape)}); expected channels-last ` +
        `[batch, features] or NHWC [batch, height, width, channels]`,
    );
  }
  const c = x.shape[x.rank - 1];
  if (c !== channels) {
    const looksNchw = x.rank === 4 && x.shape[1] === channels;
    throw new Error(
      `${what} has ${c} channels (last axis of shape ${shapeString(x.shape)}) but the layer was built for ${channels}; ` +
        (looksNchw
          ? `it looks NCHW [batch, channels, height, width] (axis 1 is ${channels}); flows take NHWC [batch, height, width, channels]: ` +
            `transpose it first (tf.transpose(x, [0, 2, 3, 1]))`
          : `layout is channels-last (NHWC [batch, height, width, channels]): transpose NCHW input first`),
    );
  }
  if (x.dtype !== 'float32') {
    throw new Error(`${what} has dtype ${x.dtype}; flows need float32 (use x.toFloat() / tf.cast(x, 'float32'))`);
  }
}

/**
 * Catches an NCHW tensor that passes the channel check by accident: `[batch, C, H, W]` with
 * W = C has the right last axis. Seen as NHWC its height is then C while its width is not; an
 * encoder's feature map is rarely that shape, an NCHW tensor with W = C always is. When the
 * height equals the channel count and the width does not, the input is refused with both
 * layouts named, unless the caller declares `layout: 'NHWC'` (a real NHWC map of height C).
 * (H = W = C cannot be told apart from the shape: both readings agree on every axis size.)
 */
export function checkLayout(x: tf.Tensor, owner: string, channels: number, declared: 'NHWC' | undefined): void {
  if (declared !== undefined && declared !== 'NHWC') {
    throw new Error(`${owner}: options.layout must be 'NHWC' (the only layout flows take) or absent, got ${String(declared)}`);
  }
  if (declared === 'NHWC' || x.rank !== 4) return;
  const [, h, w] = x.shape as [number, number, number, number];
  if (h === channels && w !== channels) {
    throw new Error(
      `${owner}: input of shape ${shapeString(x.shape)} looks NCHW [batch, channels=${channels}, height=${w}, width=${channels}], ` +
        `not NHWC [batch, height, width, channels=${channels}]: its axis 1 equals the layer's ${channels} channels and axis 2 does not. ` +
        `Transpose NCHW input first (tf.transpose(x, [0, 2, 3, 1])); if it really is NHWC with height ${h}, pass { layout: 'NHWC' }`,
    );
  }
}

/**
 * Throws when `t` holds NaN or ±Inf. One reduction of t·0 (NaN exactly where t is not finite)
 * and one scalar read.
 */
export function assertFinite(t: tf.Tensor, what: string): void {
  const probe = tf.tidy(() => tf.sum(tf.mul(t, tf.scalar(0))));
  const value = probe.dataSync()[0];
  probe.dispose();
  if (value === undefined || !Number.isFinite(value)) {
    throw new Error(`${what} contains NaN or Inf`);
  }
}

/** Product of the axes between batch and channels (the pixels each channel is applied to). */
export function positionsPerSample(shape: readonly number[]): number {
  let n = 1;
  for (let i = 1; i < shape.length - 1; i++) n *= shape[i]!;
  return n;
}

/** Sums every axis but the batch axis: [batch, ...] → [batch]. */
export function sumPerSample(t: tf.Tensor): tf.Tensor1D {
  if (t.rank === 1) return t as tf.Tensor1D;
  const axes = Array.from({ length: t.rank - 1 }, (_, i) => i + 1);
  return tf.sum(t, axes);
}

export function checkPositiveInt(value: number, owner: string, field: string, min = 1): void {
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${owner}: ${field} must be a whole number >= ${min}, got ${value}`);
  }
}

/** Shape and dtype of one serialised weight (what `getWeights()` would return under that key). */
export interface WeightSpec {
  shape: number[];
  dtype: 'float32' | 'int32';
}

/**
 * The serialised weight shapes of a layer or subnet without materialising its weights: its own
 * `weightSpecs()` when it has one, else (a user's subnet) `getWeights()`, whose new tensors are
 * released at once.
 */
export function specsOf(owner: {
  getWeights(): Record<string, tf.Tensor>;
  weightSpecs?(): Record<string, WeightSpec>;
}): Record<string, WeightSpec> {
  if (owner.weightSpecs) return owner.weightSpecs();
  const own = owner.getWeights();
  const specs: Record<string, WeightSpec> = {};
  for (const [key, t] of Object.entries(own)) specs[key] = { shape: [...t.shape], dtype: t.dtype === 'int32' ? 'int32' : 'float32' };
  tf.dispose(Object.values(own));
  return specs;
}

/** Adds `prefix` to every key of a spec record. */
export function prefixSpecs(prefix: string, specs: Record<string, WeightSpec>): Record<string, WeightSpec> {
  const out: Record<string, WeightSpec> = {};
  for (const [key, value] of Object.entries(specs)) out[prefix + key] = value;
  return out;
}

/**
 * Checks a whole weight record against the layer's serialised shapes (`expected` = its
 * weightSpecs()) before anything is assigned, so a failed load leaves the layer unchanged: every
 * key present with the same shape, no unknown keys.
 */
export function validateWeights(weights: Record<string, tf.Tensor>, expected: Record<string, WeightSpec>): void {
  for (const [key, spec] of Object.entries(expected)) takeWeight(weights, key, spec.shape, spec.dtype);
  rejectUnknownKeys(weights, Object.keys(expected));
}
