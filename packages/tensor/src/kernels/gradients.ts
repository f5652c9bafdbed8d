import * as tf from '@tensorflow/tfjs-core';
import { localRequire } from './require.js';

/**
 * Makes sure tfjs-core's gradient functions are registered.
 *
 * tfjs-core's Node build (`tf-core.node.js`) ships no gradients: they live in ES-module files
 * (`dist/register_all_gradients.js`) that Node cannot load (extension-less imports), and the only
 * Node build that registers them is `@tensorflow/tfjs`'s bundle. Without this every `tf.grad`,
 * `variableGrads` or `optimizer.minimize` fails with "gradient function not found for …" on
 * every backend. The registry is global, so loading that bundle once (about 60 ms) serves all.
 */
export function ensureGradientsRegistered(): void {
  if (tf.getGradient('Sum') !== undefined) return;
  localRequire('@tensorflow/tfjs');
  if (tf.getGradient('Sum') === undefined) {
    throw new Error('@aeflow/tensor: loading @tensorflow/tfjs did not register the gradient functions; check that only one @tensorflow/tfjs-core 4.22.0 is installed');
  }
}
