// The README example: build the paper's flow, score, train one step, sample, save and load.
import * as tf from '@tensorflow/tfjs'; // registers the gradients; pick any backend
import { createAllInOneFlow, nllPerDim } from '@aeflow/flows';

const flow = createAllInOneFlow({ channels: 64, blocks: 8, subnet: 'resnet', seed: 1 });
const features = tf.randomNormal([4, 8, 8, 64]); // NHWC, e.g. encoder features

// Forward: z and log|det ∂z/∂x| per sample; the per-dimension NLL is the flow loss.
const { y: z, logDet } = flow.forward(features);
console.log('NLL per dim', await nllPerDim(z, logDet).data());

// One training step (BatchNorm in training mode).
const optimizer = tf.train.adam(2e-4);
const loss = optimizer.minimize(() => {
  const r = flow.forward(features, { training: true });
  return tf.mean(nllPerDim(r.y, r.logDet));
}, true, flow.trainableVariables);
console.log('loss', (await loss!.data())[0]);

// Inverse: from latent samples back to feature space.
const { x: samples } = flow.inverse(tf.randomNormal([2, 8, 8, 64]));
console.log('samples', samples.shape);

// Save → load: PyTorch names and layouts (e.g. for a safetensors file), as new tensors.
const weights = flow.getWeights(); // copies: dispose them when written
console.log(Object.keys(weights).slice(0, 3), weights['0.coupling.subnet.conv1.weight']!.shape); // [64, 32, 3, 3]
const copy = createAllInOneFlow({ channels: 64, blocks: 8, subnet: 'resnet', seed: 2 });
copy.setWeights(weights);
tf.dispose(Object.values(weights));
tf.dispose([features, z, logDet, loss!, samples]);
flow.dispose();
copy.dispose();
