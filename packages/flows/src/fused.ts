/**
 * Memory-lean building blocks with hand-written gradients.
 *
 * Under a gradient tape tfjs keeps every intermediate until the forward pass ends, and the
 * tensors each kernel saves for its gradient (clones, which the wasm backend copies) plus every
 * intermediate gradient until the gradients are done, so each element-wise op on a
 * [8,16,16,1024] activation costs 8 MB or more: the plain-op version of the paper's 8-block flow
 * held 2.2 GB after its forward pass and ran the wasm heap out of memory in the backward.
 *
 * A `tf.customGrad` keeps only its output; its internal temporaries are freed at once. What its
 * gradient needs must go through `save()` (the forward pass runs in a tidy, so anything else is
 * gone by the backward pass); each op here saves as little as it can and never a variable (a
 * variable outlives the gradient computation and is read directly). Gradient functions run in
 * their own tidy: tfjs does not tidy a customGrad's gradient function, so its temporaries would
 * otherwise live until the whole gradient computation ends.
 *
 * Each function is checked against its plain-op formulation (values and gradients) in
 * fused.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';

type CustomGradFunc = Parameters<typeof tf.customGrad>[0];

function allButLastAxis(rank: number): number[] {
  return Array.from({ length: rank - 1 }, (_, i) => i);
}

/** Sums `t` down to the shape [C] of a per-channel parameter. */
function sumToChannels(t: tf.Tensor): tf.Tensor {
  return tf.sum(t, allButLastAxis(t.rank));
}

/**
 * Saves `w` for the gradient unless it is a variable: a variable outlives the gradient
 * computation and does not change during it, so the gradient can read it directly and the wasm
 * backend need not copy (clone) a weight matrix per step.
 */
function saveUnlessVariable(w: tf.Tensor): tf.Tensor | undefined {
  return w instanceof tf.Variable ? undefined : w;
}

/**
 * x·w + b on the last axis of a channels-last tensor of any rank ([.., in]·[in, out] + [out]),
 * one output; the reshapes happen inside (a recorded reshape would save a copy of its input).
 * The gradient transposes explicitly: the built-in matMul gradient uses `transposeA`, about 15×
 * slower on wasm (TFJS-NOTES).
 */
export function linearWithBias(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor {
  const cIn = w.shape[0];
  const cOut = w.shape[1];
  const outShape = [...x.shape.slice(0, -1), cOut];
  const kept = saveUnlessVariable(w);
  const op = tf.customGrad(((input: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, save: tf.GradSaveFunc) => {
    save(kept ? [input, weight] : [input]);
    const flat = tf.reshape<tf.Rank.R2>(input, [-1, cIn]);
    return {
      value: tf.reshape(tf.fused.matMul({ a: flat, b: weight, bias }), outShape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const sx = tf.reshape<tf.Rank.R2>(saved[0]!, [-1, cIn]);
          const sw = (kept ? saved[1]! : w) as tf.Tensor2D;
          const d = tf.reshape<tf.Rank.R2>(dy, [-1, cOut]);
          return [tf.reshape(tf.matMul(d, tf.transpose(sw)), input.shape), tf.matMul(tf.transpose(sx), d), tf.sum(d, 0)];
        }),
    };
  }) as CustomGradFunc);
  return op(x, w, b);
}

/**
 * a·wa + c·wc + b (two inputs, two weights, one output) for the ResNet subnet's 1×1 conv of the
 * branch plus its 1×1 shortcut: no intermediate products, no sum.
 */
export function twoLinearWithBias(
  a: tf.Tensor,
  wa: tf.Tensor2D,
  c: tf.Tensor,
  wc: tf.Tensor2D,
  b: tf.Tensor1D,
): tf.Tensor {
  const [inA, cOut] = wa.shape;
  const inC = wc.shape[0];
  const outShape = [...a.shape.slice(0, -1), cOut];
  const keptA = saveUnlessVariable(wa);
  const keptC = saveUnlessVariable(wc);
  const op = tf.customGrad(((ta: tf.Tensor, tc: tf.Tensor, twa: tf.Tensor, twc: tf.Tensor, tb: tf.Tensor, save: tf.GradSaveFunc) => {
    save([ta, tc, ...(keptA ? [twa] : []), ...(keptC ? [twc] : [])]);
    const fa = tf.reshape<tf.Rank.R2>(ta, [-1, inA]);
    const fc = tf.reshape<tf.Rank.R2>(tc, [-1, inC]);
    return {
      value: tf.reshape(tf.add(tf.fused.matMul({ a: fa, b: twa, bias: tb }), tf.matMul(fc, twc as tf.Tensor2D)), outShape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const sa = tf.reshape<tf.Rank.R2>(saved[0]!, [-1, inA]);
          const sc = tf.reshape<tf.Rank.R2>(saved[1]!, [-1, inC]);
          let next = 2;
          const swa = (keptA ? saved[next++]! : wa) as tf.Tensor2D;
          const swc = (keptC ? saved[next]! : wc) as tf.Tensor2D;
          const d = tf.reshape<tf.Rank.R2>(dy, [-1, cOut]);
          return [
            tf.reshape(tf.matMul(d, tf.transpose(swa)), ta.shape),
            tf.reshape(tf.matMul(d, tf.transpose(swc)), tc.shape),
            tf.matMul(tf.transpose(sa), d),
            tf.matMul(tf.transpose(sc), d),
            tf.sum(d, 0),
          ];
        }),
    };
  }) as CustomGradFunc);
  return op(a, c, wa, wc, b);
}

/**
 * A stride-1 'same' 3×3 (or k×k) convolution, NHWC, without bias. With a Conv2DBackpropFilter
 * kernel on the backend it is a customGrad that saves only the input (a variable filter is read
 * directly); without one it is plain `tf.conv2d`, whose lazy gradient still allows gradients with
 * respect to the input alone (the filter gradient would need the missing kernel).
 */
export function conv2dSame(x: tf.Tensor4D, filter: tf.Tensor4D): tf.Tensor4D {
  if (tf.getKernel('Conv2DBackpropFilter', tf.getBackend()) === undefined) return tf.conv2d(x, filter, 1, 'same');
  const kept = saveUnlessVariable(filter);
  const op = tf.customGrad(((input: tf.Tensor, w: tf.Tensor, save: tf.GradSaveFunc) => {
    save(kept ? [input, w] : [input]);
    return {
      value: tf.conv2d(input as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const sx = saved[0] as tf.Tensor4D;
          const sw = (kept ? saved[1]! : filter) as tf.Tensor4D;
          const dx = tf.conv2dTranspose(dy as tf.Tensor4D, sw, sx.shape, 1, 'same');
          const dw = tf.engine().runKernel<tf.Tensor>('Conv2DBackpropFilter', { x: sx, dy }, {
            strides: [1, 1],
            pad: 'same',
            dataFormat: 'NHWC',
            filterShape: sw.shape,
          });
          return [dx, dw];
        }),
    };
  }) as CustomGradFunc);
  return op(x, filter) as tf.Tensor4D;
}

/** How the log-scale is bounded (see AffineCoupling). */
export interface ClampSpec {
  clamp: number;
  mode: 'soft' | 'legacy';
  /** a = coefficientScale·raw. */
  coefficientScale: number;
}

/** j = clamp(s) and dj/ds for the scaled log-scale s. */
function clampWithSlope(s: tf.Tensor, spec: ClampSpec): { j: tf.Tensor; slope: tf.Tensor } {
  const c = spec.clamp;
  const th = spec.mode === 'soft' ? tf.tanh(tf.div(s, c)) : tf.tanh(s);
  const oneMinus = tf.sub(1, tf.square(th));
  return { j: tf.mul(th, c), slope: spec.mode === 'soft' ? oneMinus : tf.mul(oneMinus, c) };
}

function splitRaw(raw: tf.Tensor, spec: ClampSpec): [tf.Tensor, tf.Tensor] {
  const half = raw.shape[raw.rank - 1]! / 2;
  const [s, t] = tf.split(raw, [half, half], -1) as [tf.Tensor, tf.Tensor];
  return [tf.mul(s, spec.coefficientScale), tf.mul(t, spec.coefficientScale)];
}

/**
 * The affine half of a coupling: with [s, t] = coefficientScale·raw and j = clamp(s),
 * y2 = x2·exp(j) + t. One output instead of eight intermediates.
 */
export function affineCouplingForward(x2: tf.Tensor, raw: tf.Tensor, spec: ClampSpec): tf.Tensor {
  const op = tf.customGrad(((x: tf.Tensor, r: tf.Tensor, save: tf.GradSaveFunc) => {
    save([x, r]);
    const [s, t] = splitRaw(r, spec);
    const { j } = clampWithSlope(s, spec);
    return {
      value: tf.add(tf.mul(x, tf.exp(j)), t),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sx, sr] = saved as [tf.Tensor, tf.Tensor];
          const [ss] = splitRaw(sr, spec);
          const { j: sj, slope } = clampWithSlope(ss, spec);
          const dx = tf.mul(dy, tf.exp(sj));
          const ds = tf.mul(tf.mul(tf.mul(dx, sx), slope), spec.coefficientScale);
          const dt = tf.mul(dy, spec.coefficientScale);
          return [dx, tf.concat([ds, dt], -1)];
        }),
    };
  }) as CustomGradFunc);
  return op(x2, raw);
}

/** Σ clamp(coefficientScale·raw[..., :C2]) per sample → [batch]: the coupling's log-det. */
export function couplingLogDet(raw: tf.Tensor, spec: ClampSpec): tf.Tensor1D {
  const op = tf.customGrad(((r: tf.Tensor, save: tf.GradSaveFunc) => {
    // Only the log-scale half is needed: save that half, not all of `r`.
    const [sRaw] = tf.split(r, 2, -1) as [tf.Tensor, tf.Tensor];
    save([sRaw]);
    const j = clampWithSlope(tf.mul(sRaw, spec.coefficientScale), spec).j;
    return {
      value: tf.sum(tf.reshape(j, [r.shape[0], -1]), 1),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedS] = saved as [tf.Tensor];
        const ss = tf.mul(savedS, spec.coefficientScale);
        const sr = savedS;
        const { slope } = clampWithSlope(ss, spec);
        // dy is [batch]: broadcast it over the sample's elements.
        const dyb = tf.reshape(dy, [sr.shape[0], ...new Array<number>(sr.rank - 1).fill(1)]);
        const ds = tf.mul(tf.mul(slope, dyb), spec.coefficientScale);
        return [tf.concat([ds, tf.zerosLike(savedS)], -1)];
      },
    };
  }) as CustomGradFunc);
  return op(raw) as tf.Tensor1D;
}

/** y = x·scale + offset per channel, one output. */
const channelAffineOp = tf.customGrad(((x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, scale]);
  return {
    value: tf.add(tf.mul(x, scale), offset),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.tidy(() => {
        const [sx, sscale] = saved as [tf.Tensor, tf.Tensor];
        return [tf.mul(dy, sscale), sumToChannels(tf.mul(dy, sx)), sumToChannels(dy)];
      }),
  };
}) as CustomGradFunc);

export function channelAffine(x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor): tf.Tensor {
  return channelAffineOp(x, scale, offset);
}

/** Batch statistics returned by `batchNormRelu` in training mode (for the running averages). */
export interface BatchMoments {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/**
 * relu(BatchNorm(x)) over all axes but the last, as one output. Training mode normalises with
 * the batch mean and (biased) variance, differentiating through them, and hands those moments to
 * `onMoments` (kept tensors: the callee disposes them); otherwise it uses `runningMean` /
 * `runningVar` as constants.
 */
export function batchNormRelu(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
  mode: { training: true; onMoments: (m: BatchMoments) => void } | { training: false; runningMean: tf.Tensor1D; runningVar: tf.Tensor1D },
): tf.Tensor {
  const axes = allButLastAxis(x.rank);
  const n = x.size / x.shape[x.rank - 1]!;
  // Per-channel (mean, 1/√(var + eps)) of the batch or the running statistics.
  const statistics = (input: tf.Tensor): [tf.Tensor, tf.Tensor] => {
    if (!mode.training) return [mode.runningMean, tf.rsqrt(tf.add(mode.runningVar, epsilon))];
    const m = tf.moments(input, axes);
    return [m.mean, tf.rsqrt(tf.add(m.variance, epsilon))];
  };
  const op = tf.customGrad(((input: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    if (mode.training) {
      const m = tf.moments(input, axes);
      mode.onMoments({ mean: tf.keep(m.mean) as tf.Tensor1D, variance: tf.keep(m.variance) as tf.Tensor1D });
    }
    const [mean, invStd] = statistics(input);
    const out = tf.relu(tf.add(tf.mul(tf.mul(tf.sub(input, mean), invStd), g), b));
    save([input, g, out]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sx, sg, sout] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
          // The statistics are recomputed (one pass over x) rather than saved from the forward pass.
          const [smean, sinv] = statistics(sx);
          const grad = tf.mul(dy, tf.step(sout)); // relu'(y) = 1 where the output is positive
          const xhat = tf.mul(tf.sub(sx, smean), sinv);
          const dBeta = sumToChannels(grad);
          const dGamma = sumToChannels(tf.mul(grad, xhat));
          const scale = tf.mul(sg, sinv);
          const dx = mode.training
            ? tf.mul(scale, tf.sub(grad, tf.div(tf.add(dBeta, tf.mul(xhat, dGamma)), n)))
            : tf.mul(grad, scale);
          return [dx, dGamma, dBeta];
        }),
    };
  }) as CustomGradFunc);
  return op(x, gamma, beta);
}
