import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '@aeflow/tensor';
import { initBackend, startWasmThreads } from '@aeflow/tensor/node';
import { createModel } from './model.js';
import { Trainer } from './train-step.js';
import { tinyConfig, tinyEncoder } from './test-helpers.js';

/** Every trained weight and every score after a few steps, as plain arrays. */
interface Outcome {
  losses: number[];
  weights: Float32Array[];
  scores: Float32Array[];
}

/**
 * Trains a tiny model a few steps (features recomputed each step, so the encoder's forward
 * kernels run too) and scores its batch; leaves no tensor behind, so the backend can restart.
 */
async function trainAndScore(subnet: 'conv' | 'resnet'): Promise<Outcome> {
  const config = tinyConfig({ flow: { subnet } });
  const model = createModel(config, await tinyEncoder());
  const trainer = new Trainer(model, { lr: 1e-3, weightDecay: 1e-5 });
  const images = new SeededRandom(5).uniformTensor([4, 32, 32, 3]) as tf.Tensor4D;
  const losses: number[] = [];
  for (let i = 0; i < 3; i++) {
    const features = model.encode(images);
    losses.push((await trainer.step(features, images)).loss);
    features.dispose();
  }
  const weights = await Promise.all(model.trainableVariables.map((v) => v.data() as Promise<Float32Array>));
  const s = model.scoreTensors(images);
  const scores = await Promise.all([s.flow, s.recon, s.total, s.residual].map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([s.flow, s.recon, s.total, s.residual, images]);
  trainer.dispose();
  model.dispose();
  return { losses, weights, scores };
}

/** Indices of the arrays that differ in any bit (NaN == NaN), with the first differing element. */
function differences(a: Float32Array[], b: Float32Array[]): string[] {
  const out: string[] = [];
  a.forEach((x, i) => {
    const y = b[i]!;
    const xb = new Uint32Array(x.buffer, x.byteOffset, x.length);
    const yb = new Uint32Array(y.buffer, y.byteOffset, y.length);
    const j = xb.findIndex((v, k) => v !== yb[k]);
    if (x.length !== y.length || j >= 0) out.push(`#${i}[${j}]: ${x[j]} vs ${y[j]}`);
  });
  return out;
}

// Its own file: vitest runs each file in a fresh process, and wasm threads must start before any
// tensor lives on wasm (the 1-thread run disposes everything, then the backend restarts threaded).
describe('wasm threads change no result', () => {
  it('training steps and scores are bit-identical on 1 and 2 threads (conv and resnet subnets)', async () => {
    const single = await initBackend({ backend: 'wasm', threads: 1, quiet: true });
    expect(single.threads).toBe(1);
    const one = { conv: await trainAndScore('conv'), resnet: await trainAndScore('resnet') };
    expect(tf.engine().backend.numDataIds()).toBe(0);
    expect(await startWasmThreads(2)).toBe(2);
    const two = { conv: await trainAndScore('conv'), resnet: await trainAndScore('resnet') };
    for (const subnet of ['conv', 'resnet'] as const) {
      expect(two[subnet].losses).toEqual(one[subnet].losses);
      expect(differences(two[subnet].weights, one[subnet].weights)).toEqual([]);
      expect(differences(two[subnet].scores, one[subnet].scores)).toEqual([]);
    }
    // The steps did train (a test of identical no-ops would prove nothing).
    expect(one.conv.losses[2]).not.toBe(one.conv.losses[0]);
  });
});
