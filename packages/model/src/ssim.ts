import * as tf from '@tensorflow/tfjs-core';

/** Options of {@link ssimPerImage} / {@link ssimMap}. */
export interface SsimOptions {
  /** Value range of the images (default 1: images in [0, 1]). */
  dataRange?: number;
  /** Gaussian window side (default 11, odd). */
  windowSize?: number;
  /** Gaussian σ (default 1.5). */
  sigma?: number;
  k1?: number;
  k2?: number;
}

function gaussian1d(size: number, sigma: number): number[] {
  const r = (size - 1) / 2;
  const g = Array.from({ length: size }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const s = g.reduce((a, b) => a + b, 0);
  return g.map((v) => v / s);
}

/**
 * The banded [n, n − size + 1] matrix whose product with a row vector is the valid-region 1-D
 * Gaussian filter of it. Filtering by matrix products (rather than a depthwise convolution) keeps
 * the gradient on kernels every backend has: the wasm backend lacks the depthwise backprop kernels.
 */
function bandMatrix(n: number, size: number, sigma: number): tf.Tensor2D {
  const g = gaussian1d(size, sigma);
  const m = n - size + 1;
  const data = new Float32Array(n * m);
  for (let j = 0; j < m; j++) for (let k = 0; k < size; k++) data[(j + k) * m + j] = g[k]!;
  return tf.tensor2d(data, [n, m]);
}

/**
 * The SSIM map of two batches of images [N, H, W, C] (differentiable): Gaussian window (11, σ 1.5),
 * population (co)variances, the valid region only (no padding, so the map is
 * [N, H − 10, W − 10, C]) — the convention of scikit-image's `structural_similarity` with
 * `gaussian_weights=True, use_sample_covariance=False`, which `@aeflow/metrics`' `ssim` follows.
 */
export function ssimMap(a: tf.Tensor4D, b: tf.Tensor4D, options: SsimOptions = {}): tf.Tensor4D {
  const size = options.windowSize ?? 11;
  const sigma = options.sigma ?? 1.5;
  const range = options.dataRange ?? 1;
  const c1 = ((options.k1 ?? 0.01) * range) ** 2;
  const c2 = ((options.k2 ?? 0.03) * range) ** 2;
  const [n, h, w, c] = a.shape;
  if (b.shape.some((d, i) => d !== a.shape[i])) {
    throw new Error(`ssim: the two batches differ in shape: [${a.shape.join(', ')}] vs [${b.shape.join(', ')}]`);
  }
  if (h < size || w < size || size % 2 !== 1) {
    throw new Error(`ssim: images of ${h}×${w} are smaller than the ${size}×${size} window (or the window is even); use images of at least ${size} pixels`);
  }
  return tf.tidy(() => {
    const gw = bandMatrix(w, size, sigma);
    const gh = bandMatrix(h, size, sigma);
    const hv = h - size + 1;
    const wv = w - size + 1;
    // five planes filtered at once: a, b, a², b², ab — as [5, N, C, H, W]
    const planes = tf.transpose(tf.stack([a, b, tf.square(a), tf.square(b), tf.mul(a, b)]), [0, 1, 4, 2, 3]);
    const alongW = tf.matMul(tf.reshape(planes, [5 * n * c * h, w]), gw); // [5NCH, wv]
    const t = tf.transpose(tf.reshape(alongW, [5 * n * c, h, wv]), [0, 2, 1]); // [5NC, wv, h]
    const alongH = tf.matMul(tf.reshape(t, [5 * n * c * wv, h]), gh); // [5NC·wv, hv]
    const f = tf.reshape(alongH, [5, n, c, wv, hv]);
    const [muA, muB, aa, bb, ab] = tf.unstack(f) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const muAB = tf.mul(muA, muB);
    const muA2 = tf.square(muA);
    const muB2 = tf.square(muB);
    const varA = tf.sub(aa, muA2);
    const varB = tf.sub(bb, muB2);
    const cov = tf.sub(ab, muAB);
    const num = tf.mul(tf.add(tf.mul(muAB, 2), c1), tf.add(tf.mul(cov, 2), c2));
    const den = tf.mul(tf.add(tf.add(muA2, muB2), c1), tf.add(tf.add(varA, varB), c2));
    // [N, C, wv, hv] → [N, hv, wv, C]
    return tf.transpose(tf.div(num, den), [0, 3, 2, 1]) as tf.Tensor4D;
  });
}

/** Mean SSIM per image (over the valid region and the channels), shape [N]. Differentiable. */
export function ssimPerImage(a: tf.Tensor4D, b: tf.Tensor4D, options: SsimOptions = {}): tf.Tensor1D {
  return tf.tidy(() => tf.mean<tf.Tensor1D>(ssimMap(a, b, options), [1, 2, 3]));
}
