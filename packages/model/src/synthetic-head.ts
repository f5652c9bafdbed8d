import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom } from '@aeflow/tensor';

/**
 * `score.synthetic: 'nsa'`: a self-supervised anomaly head (NSA-style patch blending, Schlüter et
 * al. ECCV 2022; CutPaste, Li et al. CVPR 2021). Training normals only: each normal image gets a
 * synthetic anomaly — a soft elliptical region of another normal image, shifted, blended in — and
 * a logistic head on the pooled encoder features learns to tell the two apart. The encoder stays
 * frozen; only C + 1 numbers are learned, so it cannot memorise the training images. Its logit is
 * the "how much does this look like a foreign structure pasted into a normal image" score, which
 * the flow-latent kNN does not see (docs/RESULTS.md: the val/ rows).
 */

/** The head's training: epochs over the training normals, Adam's learning rate. */
export const SYNTHETIC_HEAD_EPOCHS = 3;
export const SYNTHETIC_HEAD_LR = 1e-3;

/** Where a blended region may sit (fractions of the side) and how large its radius is. */
const CENTRE_Y: [number, number] = [0.25, 0.75];
const CENTRE_X: [number, number] = [0.2, 0.8];
const RADIUS: [number, number] = [0.08, 0.2];
/** The source image is shifted by up to this fraction of the side, so the patch comes from elsewhere. */
const SHIFT = 0.25;

const between = (rng: SeededRandom, [lo, hi]: [number, number]): number => lo + (hi - lo) * rng.uniform();

/**
 * Synthetic anomalies for a batch of normal images [N, H, W, C] (any value range: the result is a
 * convex blend): image i gets a soft ellipse (weight min(1, 1.5·exp(−r²))) of image perm(i),
 * shifted by up to a quarter of the side with wrap-around. Seeded: the same rng state gives the
 * same batch. Needs N ≥ 2 (the source is another image).
 */
export function blendPatches(images: tf.Tensor4D, rng: SeededRandom): tf.Tensor4D {
  const [n, h, w, c] = images.shape;
  if (n < 2) throw new Error(`blendPatches: a batch of ${n} image; the patches come from other images of the batch, so give at least 2`);
  const x = images.dataSync() as Float32Array;
  const out = new Float32Array(x.length);
  // a derangement-ish source: a random other image
  const source = Array.from({ length: n }, (_, i) => (i + 1 + rng.int(n - 1)) % n);
  for (let i = 0; i < n; i++) {
    const cy = between(rng, CENTRE_Y) * h;
    const cx = between(rng, CENTRE_X) * w;
    const ry = between(rng, RADIUS) * h;
    const rx = between(rng, RADIUS) * w;
    const dy = Math.round((rng.uniform() * 2 - 1) * SHIFT * h);
    const dx = Math.round((rng.uniform() * 2 - 1) * SHIFT * w);
    const src = source[i]!;
    for (let y = 0; y < h; y++) {
      const sy = (((y - dy) % h) + h) % h;
      const ey = ((y - cy) / ry) ** 2;
      for (let xx = 0; xx < w; xx++) {
        const m = Math.min(1, 1.5 * Math.exp(-(ey + ((xx - cx) / rx) ** 2)));
        const sx = (((xx - dx) % w) + w) % w;
        const o = ((i * h + y) * w + xx) * c;
        const s = ((src * h + sy) * w + sx) * c;
        for (let k = 0; k < c; k++) out[o + k] = x[o + k]! * (1 - m) + x[s + k]! * m;
      }
    }
  }
  return tf.tensor4d(out, [n, h, w, c], 'float32');
}

/** The fitted head: logit = mean over positions of the encoder features · weight + bias; its mean and sd on the training normals. */
export interface SyntheticHead {
  /** [C, 1] */
  weight: tf.Tensor2D;
  /** [1] */
  bias: tf.Tensor1D;
  /** [2]: the logit's mean and standard deviation over the training normals (the score is standardised with them). */
  stats: tf.Tensor1D;
}

let heads = 0;

export const SYNTHETIC_HEAD_KEYS = ['synthetic.head.weight', 'synthetic.head.bias', 'synthetic.head.stats'] as const;

/**
 * A seeded stand-in head (small random weights, statistics 0 and 1) for speed benchmarks of an
 * untrained model: its cost is the trained head's; its scores mean nothing.
 */
export function standInSyntheticHead(channels: number, seed = 0): SyntheticHead {
  const rng = new SeededRandom(seed);
  return {
    weight: tf.tensor2d(Float32Array.from({ length: channels }, () => rng.normal() * 0.01), [channels, 1]),
    bias: tf.zeros<tf.Rank.R1>([1]),
    stats: tf.tensor1d([0, 1]),
  };
}

/**
 * How the head turns a feature map into one logit per image:
 * - 'mean' (`score.synthetic: 'nsa'`): the logit of the features averaged over positions;
 * - 'top-quarter' (`'nsa-patch'`): a logit per feature position, averaged over the highest quarter
 *   of them (at least one). A blended patch, like a focal opacity, covers a few positions; the mean
 *   over all dilutes it, the top quarter keeps it (multiple-instance pooling).
 */
export type SyntheticPooling = 'mean' | 'top-quarter';

/** The head's pooling for a `score.synthetic` setting that uses one. */
export function syntheticPooling(synthetic: 'nsa' | 'nsa-patch'): SyntheticPooling {
  return synthetic === 'nsa-patch' ? 'top-quarter' : 'mean';
}

/** How many positions 'top-quarter' averages over a map of `positions`. */
export function topQuarterCount(positions: number): number {
  return Math.max(1, Math.floor(positions / 4));
}

/** The logit per feature position, [N, h·w] (inside the caller's tidy). */
function positionLogits(head: { weight: tf.Tensor; bias: tf.Tensor }, features: tf.Tensor4D): tf.Tensor2D {
  const [n, h, w, c] = features.shape;
  return tf.reshape<tf.Rank.R2>(tf.add(tf.matMul(tf.reshape<tf.Rank.R2>(features, [n * h * w, c]), head.weight), head.bias), [n, h * w]);
}

/** The head's logit per image from encoder features [N, h, w, C] (inside the caller's tidy). */
export function syntheticLogit(head: { weight: tf.Tensor; bias: tf.Tensor }, features: tf.Tensor4D, pooling: SyntheticPooling = 'mean'): tf.Tensor1D {
  if (pooling === 'mean') return tf.reshape<tf.Rank.R1>(tf.add(tf.matMul(tf.mean<tf.Tensor2D>(features, [1, 2]), head.weight), head.bias), [-1]);
  const logits = positionLogits(head, features);
  return tf.mean<tf.Tensor1D>(tf.topk(logits, topQuarterCount(logits.shape[1])).values, 1);
}

/** The standardised logit: (logit − mean) / sd of the training normals (inside the caller's tidy). */
export function syntheticScore(head: SyntheticHead, features: tf.Tensor4D, pooling: SyntheticPooling = 'mean'): tf.Tensor1D {
  const s = head.stats;
  return tf.div<tf.Tensor1D>(tf.sub(syntheticLogit(head, features, pooling), tf.slice(s, 0, 1)), tf.slice(s, 1, 1));
}

/** 1 where a row's logit is among its `topQuarterCount` largest (ties at the cut all count), else 0: [N, P]. */
function topQuarterMask(logits: tf.Tensor2D): tf.Tensor2D {
  const k = topQuarterCount(logits.shape[1]);
  const cut = tf.slice(tf.topk(logits, k).values, [0, k - 1], [-1, 1]);
  return tf.cast(tf.greaterEqual(logits, cut), 'float32') as tf.Tensor2D;
}

/**
 * Fits the head: `epochs` passes over the batches of normal images (in [0, 1], NHWC), each batch
 * with a fresh synthetic anomaly per image, logistic loss, Adam (a batch of one is skipped: give
 * batches of at least 2; `onEpoch` gets the number of normals the pass used). `encode` maps images to the
 * tap's features. The statistics are the logit's over the normals of the last pass. Seeded.
 */
export async function fitSyntheticHead(
  encode: (images: tf.Tensor4D) => tf.Tensor4D,
  channels: number,
  batches: () => AsyncIterable<tf.Tensor4D>,
  options: { seed: number; epochs?: number; lr?: number; pooling?: SyntheticPooling; onEpoch?: (epoch: number, loss: number, images: number) => void },
): Promise<SyntheticHead> {
  const pooling = options.pooling ?? 'mean';
  const rng = new SeededRandom(options.seed);
  const epochs = options.epochs ?? SYNTHETIC_HEAD_EPOCHS;
  // a small seeded start: zero would give every image the same logit in the first step
  const init = Float32Array.from({ length: channels }, () => rng.normal() * 0.01);
  const id = ++heads;
  const weight = tf.tidy(() => tf.variable(tf.tensor2d(init, [channels, 1]), true, `synthetic_head_weight_${id}`));
  const bias = tf.tidy(() => tf.variable(tf.zeros([1]), true, `synthetic_head_bias_${id}`));
  const optimizer = tf.train.adam(options.lr ?? SYNTHETIC_HEAD_LR);
  // the statistics are taken with the final weights: 'mean' keeps the last pass's pooled normals
  // (C numbers each); 'top-quarter' would need whole feature maps, so it encodes the normals once more
  const normals: tf.Tensor[] = [];
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      let lossSum = 0;
      let count = 0;
      for await (const images of batches()) {
        try {
          if (images.shape[0] < 2) continue; // a last batch of one has no other image to blend from
          const synthetic = blendPatches(images, rng);
          const inputs = tf.tidy(() => {
            const f = encode(tf.concat([images, synthetic], 0));
            return pooling === 'mean' ? tf.mean<tf.Tensor2D>(f, [1, 2]) : f;
          });
          synthetic.dispose();
          const n = images.shape[0];
          const labels = tf.tidy(() => tf.concat<tf.Tensor2D>([tf.zeros([n, 1]), tf.ones([n, 1])], 0));
          // 'top-quarter': which positions are in each image's top quarter is decided with the
          // weights before the step (TopK has no gradient); the step then averages those logits
          const mask = pooling === 'mean' ? null : tf.tidy(() => topQuarterMask(positionLogits({ weight, bias }, inputs as tf.Tensor4D)));
          const imageLogits = (): tf.Tensor2D =>
            mask
              ? tf.reshape<tf.Rank.R2>(tf.div(tf.sum(tf.mul(positionLogits({ weight, bias }, inputs as tf.Tensor4D), mask), 1), tf.sum(mask, 1)), [-1, 1])
              : tf.add<tf.Tensor2D>(tf.matMul(inputs, weight), bias);
          const loss = optimizer.minimize(() => tf.losses.sigmoidCrossEntropy<tf.Tensor2D, tf.Scalar>(labels, imageLogits()), true, [weight, bias])!;
          lossSum += (await loss.data())[0]! * n;
          count += n;
          loss.dispose();
          if (epoch === epochs && pooling === 'mean') normals.push(tf.slice(inputs, 0, n));
          tf.dispose([inputs, labels]);
          mask?.dispose();
        } finally {
          images.dispose();
        }
      }
      if (count === 0) throw new Error('fitSyntheticHead: no batch of at least 2 training images; the synthetic-anomaly head needs training normals');
      options.onEpoch?.(epoch, lossSum / count, count);
    }
    if (pooling !== 'mean') {
      for await (const images of batches()) {
        normals.push(tf.tidy(() => syntheticLogit({ weight, bias }, encode(images), pooling)));
        images.dispose();
      }
    }
    const logits = tf.tidy(() => tf.concat(normals.map((x) => (pooling === 'mean' ? tf.reshape(tf.add(tf.matMul(x as tf.Tensor2D, weight), bias), [-1]) : x))));
    const { mean, variance } = tf.tidy(() => tf.moments(logits));
    const [m, v] = [(await mean.data())[0]!, (await variance.data())[0]!];
    const sd = Math.sqrt(v * (logits.size / Math.max(1, logits.size - 1)));
    tf.dispose([logits, mean, variance]);
    return { weight: tf.clone(weight), bias: tf.clone(bias) as tf.Tensor1D, stats: tf.tensor1d([m, sd > 0 ? sd : 1]) };
  } finally {
    tf.dispose(normals);
    weight.dispose();
    bias.dispose();
    optimizer.dispose();
  }
}
