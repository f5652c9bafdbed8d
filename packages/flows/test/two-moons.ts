/**
 * The two-moons toy set (as scikit-learn's make_moons: half the points on the upper arc
 * (cos θ, sin θ), half on the lower (1 − cos θ, 0.5 − sin θ), θ uniform in [0, π], plus
 * Gaussian noise) and its exact density, by integrating the noise kernel along both arcs.
 */
import { SeededRandom } from '@aeflow/tensor';
import * as tf from '@tensorflow/tfjs-core';
import { createAllInOneFlow } from '../src/create-all-in-one-flow.js';
import { nllPerDim } from '../src/density.js';
import type { SequenceFlow } from '../src/sequence-flow.js';

export interface TwoMoons {
  /** Row-major [n, 2]. */
  points: Float32Array;
  n: number;
}

export function twoMoons(n: number, noise: number, seed: number): TwoMoons {
  const r = new SeededRandom(seed);
  const points = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const theta = Math.PI * r.uniform();
    const upper = i % 2 === 0;
    const x = upper ? Math.cos(theta) : 1 - Math.cos(theta);
    const y = upper ? Math.sin(theta) : 0.5 - Math.sin(theta);
    points[2 * i] = x + noise * r.normal();
    points[2 * i + 1] = y + noise * r.normal();
  }
  return { points, n };
}

/**
 * log p(x, y) of the generating distribution: ½·(1/π)∫ N((x, y); upper(θ), σ²I) dθ +
 * ½·(1/π)∫ N((x, y); lower(θ), σ²I) dθ, by the midpoint rule on `steps` points per arc
 * (arc step π/steps ≪ σ, so the error is far below the tolerances that use it).
 */
export function twoMoonsLogDensity(x: number, y: number, noise: number, steps = 4000): number {
  const inv2s2 = 1 / (2 * noise * noise);
  const norm = 1 / (2 * Math.PI * noise * noise);
  let sum = 0;
  for (let k = 0; k < steps; k++) {
    const theta = (Math.PI * (k + 0.5)) / steps;
    const c = Math.cos(theta);
    const s = Math.sin(theta);
    const du = (x - c) ** 2 + (y - s) ** 2;
    const dl = (x - 1 + c) ** 2 + (y - 0.5 + s) ** 2;
    sum += Math.exp(-du * inv2s2) + Math.exp(-dl * inv2s2);
  }
  // ½ per arc × (1/π) × (π/steps) per step.
  return Math.log((0.5 * norm * sum) / steps);
}

/** Mean negative log-density of the points under the true distribution (nats per point). */
export function twoMoonsReferenceNll(data: TwoMoons, noise: number): number {
  let s = 0;
  for (let i = 0; i < data.n; i++) s -= twoMoonsLogDensity(data.points[2 * i]!, data.points[2 * i + 1]!, noise);
  return s / data.n;
}


export interface TrainTwoMoonsOptions {
  steps: number;
  /** Peak Adam learning rate, decayed linearly to 5% of it. */
  learningRate?: number;
  batch?: number;
  hiddenChannels?: number;
  noise?: number;
  seed?: number;
  onProgress?: (step: number, trainNll: number) => void;
}

/**
 * Trains an 8-block AllInOne flow (per-position MLP subnets, reverse permutation, Glow's
 * data-dependent actnorm initialisation) on fresh two-moons batches. NLL in nats per point
 * (2 dims × per-dim NLL). Yields to the event loop every 20 steps: a test worker that blocks it
 * for minutes on a loaded machine misses vitest's RPC deadline ("Timeout calling onTaskUpdate").
 */
export async function trainTwoMoons(options: TrainTwoMoonsOptions): Promise<SequenceFlow> {
  const noise = options.noise ?? 0.1;
  const lr = options.learningRate ?? 1e-2;
  const batch = options.batch ?? 512;
  const seed = options.seed ?? 1;
  const flow = createAllInOneFlow({
    channels: 2,
    blocks: 8,
    subnet: 'mlp',
    hiddenChannels: options.hiddenChannels ?? 64,
    permutation: 'reverse',
    actnormDataInit: true,
    seed,
  });
  const optimizer = tf.train.adam(lr);
  for (let step = 0; step < options.steps; step++) {
    // Linear decay to 5%: the last steps refine instead of jumping around the optimum.
    (optimizer as unknown as { learningRate: number }).learningRate = lr * Math.max(0.05, 1 - step / options.steps);
    const data = twoMoons(batch, noise, seed * 1_000_003 + step);
    const x = tf.tensor2d(data.points, [data.n, 2]);
    const loss = optimizer.minimize(
      () => {
        const { y, logDet } = flow.forward(x, { training: true, checkFinite: step === 0 });
        return tf.mul(tf.mean(nllPerDim(y, logDet)), 2);
      },
      true,
      flow.trainableVariables,
    );
    if (options.onProgress && (step % 100 === 99 || step === options.steps - 1)) {
      options.onProgress(step + 1, loss!.dataSync()[0]!);
    }
    loss?.dispose();
    x.dispose();
    if (step % 20 === 19) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  optimizer.dispose();
  return flow;
}

/** Held-out NLL of a flow in nats per point. */
export function flowNll(flow: SequenceFlow, data: TwoMoons): number {
  return tf.tidy(() => {
    const x = tf.tensor2d(data.points, [data.n, 2]);
    const { y, logDet } = flow.forward(x);
    return tf.mean(nllPerDim(y, logDet)).dataSync()[0]! * 2;
  });
}

/** n points drawn through the inverse from N(0, I) with a seeded normal generator. */
export function sampleFlow(flow: SequenceFlow, n: number, seed: number): TwoMoons {
  const z = new SeededRandom(seed).normalTensor([n, 2]);
  const { x, logDet } = flow.inverse(z);
  const points = x.dataSync() as Float32Array;
  tf.dispose([z, x, logDet]);
  return { points, n };
}
