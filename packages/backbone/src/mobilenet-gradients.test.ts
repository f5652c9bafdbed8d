import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@aeflow/tensor/node';
import { createEncoder } from './node.js';
import { relativeError } from './test-utils.js';

const HOME = process.env.AEFLOW_HOME;
const MODEL = join(HOME ?? '', 'assets', 'mobilenet_v1_1.0_224');
const NEEDS_HOME = '(needs AEFLOW_HOME: set it to the shared folder)';

beforeAll(async () => {
  await initBackend({ backend: 'cpu', quiet: true }); // registers the reference backend
  await initBackend({ backend: 'wasm', quiet: true });
});

// Training the encoder on wasm needs gradients through every depthwise layer (strides 1 and 2,
// TensorFlow's asymmetric 'same' padding): @aeflow/tensor supplies the depthwise backprop kernels
// wasm lacks. Here they run through the real MobileNet V1 weights, folded (the default: under a
// gradient tfjs runs a fused convolution + relu6 unfused) and unfolded.
describe('gradients through the real MobileNet V1 on wasm', () => {
  for (const foldBatchNorm of [true, false]) {
    it.skipIf(!HOME)(`match cpu for the input through conv_dw_1 … conv_pw_11 (${foldBatchNorm ? 'folded' : 'unfolded'} BatchNorm), without leaking tensors ${NEEDS_HOME}`, async () => {
      const enc = await createEncoder({ arch: 'mobilenet_v1', weights: MODEL, taps: ['conv_pw_11_relu'], foldBatchNorm });
      const x = tf.randomUniform<tf.Rank.R4>([2, 64, 64, 3], -1, 1, 'float32', 5);
      const target = tf.randomNormal<tf.Rank.R4>([2, 4, 4, 512], 0, 1, 'float32', 6);
      const loss = (input: tf.Tensor) => tf.sum(tf.mul(enc.features(input as tf.Tensor4D).conv_pw_11_relu, target));
      await tf.setBackend('wasm');
      const fromWasm = tf.grad(loss)(x);
      const before = tf.memory().numTensors;
      tf.dispose(tf.grad(loss)(x));
      expect(tf.memory().numTensors).toBe(before);
      await tf.setBackend('cpu');
      const fromCpu = tf.grad(loss)(x);
      await tf.setBackend('wasm');
      expect(tf.sum(tf.abs(fromCpu)).dataSync()[0]).toBeGreaterThan(0);
      const err = relativeError(fromWasm, fromCpu);
      console.log(`input gradient, wasm vs cpu (${foldBatchNorm ? 'folded' : 'unfolded'}): max relative error ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-5);
      tf.dispose([x, target, fromWasm, fromCpu]);
      enc.dispose();
    });
  }
});
