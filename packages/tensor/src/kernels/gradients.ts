import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's own gradient functions and chained ops (`t.reshape(…)`, `t.square()`): its Node build
// (`tf-core.node.js`) ships neither, and its ES-module files cannot be loaded by Node directly
// (extension-less imports in a package that is not "type": "module"). tsup bundles these two
// modules into our dist (see tsup.config.ts), so Node and browsers alike get them without the whole
// `@tensorflow/tfjs` (124 MB installed, loaded before only for this). The copy registers into
// tfjs-core's global registries and its global engine, so there is still one engine, one kernel
// and one gradient registry for the single installed tfjs-core.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';

/**
 * Makes sure tfjs-core's gradient functions are registered (they are, once this module loaded).
 * Without them every `tf.grad`, `variableGrads` or `optimizer.minimize` fails with "gradient
 * function not found for …" on every backend.
 */
export function ensureGradientsRegistered(): void {
  if (tf.getGradient('Sum') === undefined) {
    throw new Error('@aeflow/tensor: the gradient functions are not registered with the tfjs-core in use; check that only one @tensorflow/tfjs-core 4.22.0 is installed (pnpm why @tensorflow/tfjs-core)');
  }
}
