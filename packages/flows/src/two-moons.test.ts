/**
 * End-to-end: an 8-block AllInOne flow learns the 2-D two-moons density. The reference is the
 * exact density of the generating distribution (test/two-moons.ts), whose mean NLL on the
 * held-out set is the best any model can expect; the flow must come within 0.1 nats of it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../test/helpers.js';
import {
  flowNll,
  sampleFlow,
  trainTwoMoons,
  twoMoons,
  twoMoonsLogDensity,
  twoMoonsReferenceNll,
} from '../test/two-moons.js';

const NOISE = 0.1;

beforeAll(async () => {
  await useBackend('wasm');
});

describe('two moons', () => {
  it('the exact reference density integrates to 1', () => {
    // Riemann sum over a grid that covers the moons with a 6σ margin.
    const step = 0.02;
    let mass = 0;
    for (let x = -1.7; x <= 2.7; x += step) {
      for (let y = -1.2; y <= 1.7; y += step) mass += Math.exp(twoMoonsLogDensity(x, y, NOISE, 200)) * step * step;
    }
    expect(mass).toBeCloseTo(1, 3);
  });

  it('an 8-block AllInOne flow reaches a held-out NLL within 0.1 nats of the exact density, and its samples lie on the moons', async () => {
    const heldOut = twoMoons(2000, NOISE, 2);
    const reference = twoMoonsReferenceNll(heldOut, NOISE);
    const before = tf.memory().numTensors;
    const flow = await trainTwoMoons({ steps: 500, noise: NOISE, seed: 1 });
    const nll = flowNll(flow, heldOut);
    console.log(`two moons: held-out NLL ${nll.toFixed(4)} nats, exact density ${reference.toFixed(4)}, gap ${(nll - reference).toFixed(4)}`);
    expect(nll - reference).toBeLessThan(0.1);
    expect(nll - reference).toBeGreaterThan(-0.05); // a model cannot beat the true density by more than noise

    // Samples through the inverse: their true log-density is as high as that of real data.
    const samples = sampleFlow(flow, 1000, 3);
    let sampleLogDensity = 0;
    for (let i = 0; i < samples.n; i++) sampleLogDensity += twoMoonsLogDensity(samples.points[2 * i]!, samples.points[2 * i + 1]!, NOISE, 1000);
    sampleLogDensity /= samples.n;
    expect(Math.abs(sampleLogDensity - -reference)).toBeLessThan(0.3);
    flow.dispose();
    expect(tf.memory().numTensors).toBe(before);
  }, 600_000);
});
