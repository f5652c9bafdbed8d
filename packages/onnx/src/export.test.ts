import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@aeflow/tensor/node';
import type { AEFlow } from '@aeflow/model';
import { exportOnnx, nhwcToNchw, ONNX_IO, readOnnxMetadata } from './index.js';
import { OnnxScorer } from './node.js';
import { maxScaleError, maxRelativeError, perturbedModel, testImages, tinyConfig, toNchw } from './test-helpers.js';

beforeAll(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
});

/** The tfjs scores of NHWC images, as plain arrays. */
async function tfjsScores(model: AEFlow, data: Float32Array, shape: [number, number, number, number]) {
  const images = tf.tensor4d(data, shape);
  const s = model.scoreTensors(images, { reconstruction: true });
  try {
    const [total, flow, recon, residual] = await Promise.all([s.total.data(), s.flow.data(), s.recon.data(), s.residual.data()]);
    return { total, flow, recon, residual };
  } finally {
    tf.dispose([images, s.total, s.flow, s.recon, s.residual, ...(s.reconstruction ? [s.reconstruction] : [])]);
  }
}

/**
 * Exports the model, scores the images with ONNX Runtime and with tfjs, and compares: the scores
 * element by element (relative), the anomaly map and z′ on their own scale (their elements cross
 * zero, where an element's own relative error means nothing).
 */
async function compare(model: AEFlow, channels: 1 | 3 = 3) {
  const { data, shape } = testImages(4, model.config.size, channels);
  const exported = exportOnnx(model);
  const scorer = await OnnxScorer.create(exported.bytes, { threads: 1 });
  try {
    const onnx = await scorer.scoreNhwc(data, shape);
    const want = await tfjsScores(model, data, shape);
    const got = {
      total: onnx.scores.map((s) => s.total),
      flow: onnx.scores.map((s) => s.flow),
      recon: onnx.scores.map((s) => s.recon),
      residual: Float32Array.from(onnx.scores.flatMap((s) => Array.from(s.residual))),
    };
    // z′ and log-det: compared directly (a density score far below 1 can hide a wrong flow)
    let zError = 0;
    let logDetError = 0;
    if (exported.outputs.includes(ONNX_IO.z)) {
      const [n, h, w, c] = shape;
      const raw = await scorer.run(nhwcToNchw(data, shape), [n, c, h, w], exported.outputs.filter((o) => o === ONNX_IO.z || o === ONNX_IO.logDet));
      const images = tf.tensor4d(data, shape);
      const features = model.encode(images);
      const { z, logDet } = model.flow(features);
      zError = maxScaleError(raw[ONNX_IO.z]!.data, toNchw(await z.data(), z.shape));
      if (raw[ONNX_IO.logDet]) {
        // per dimension of z′ (the unit of the NLL): log-det is a sum of C·h·w terms plus a
        // constant that tfjs sums in float32, so its own relative error is no measure
        const dims = z.size / z.shape[0];
        const a = raw[ONNX_IO.logDet]!.data;
        const b = await logDet.data();
        for (let i = 0; i < a.length; i++) logDetError = Math.max(logDetError, Math.abs(a[i]! - b[i]!) / dims);
      }
      tf.dispose([images, features, z, logDet]);
    }
    return { got, want, exported, zError, logDetError, errors: { total: maxRelativeError(got.total, want.total), flow: maxRelativeError(got.flow, want.flow), recon: maxRelativeError(got.recon, want.recon), residual: maxScaleError(got.residual, want.residual) } };
  } finally {
    await scorer.dispose();
  }
}

describe('exportOnnx + ONNX Runtime match the tfjs scores', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['aeflow (resnet subnet, density score)', {}],
    ['aeflow (conv subnet, legacy clamp, random permutation, nll score)', { flow: { subnet: 'conv', clampMode: 'legacy', permutation: 'random' }, score: { flow: 'nll' } }],
    ['aeflow (invertible 1×1, positional condition, l2 feature norm)', { flow: { permutation: 'invertible1x1', positional: 8, featureNorm: 'l2' } }],
    ['ae', { model: 'ae' }],
    ['fastflow (density: the map mean)', { model: 'fastflow', score: { beta: 1 } }],
    ['a Wide-ResNet-style bottleneck encoder (width 128 per group)', { encoder: { arch: { block: 'bottleneck', layers: [1, 1, 1], widthPerGroup: 128 } }, flow: { hiddenChannels: 16 } }],
    ['the MobileNet V1 encoder (TensorFlow "same" padding, depthwise, ReLU6)', { encoder: { arch: 'mobilenet_v1', tap: 'conv_pw_11_relu' } }],
  ];
  for (const [name, overrides] of cases) {
    it(name, async () => {
      const model = await perturbedModel(tinyConfig(overrides));
      try {
        const { errors, got, want, zError, logDetError } = await compare(model);
        // the scores differ between images (a constant output would match nothing real)
        expect(new Set(want.total).size).toBeGreaterThan(1);
        expect(zError).toBeLessThan(1e-4);
        expect(logDetError).toBeLessThan(1e-6);
        expect(errors.total, `total ${got.total.join(', ')} vs ${Array.from(want.total).join(', ')}`).toBeLessThan(1e-4);
        expect(errors.flow).toBeLessThan(1e-4);
        expect(errors.recon).toBeLessThan(1e-4);
        expect(errors.residual).toBeLessThan(1e-4);
      } finally {
        model.dispose();
      }
    });
  }

  /** Remembers 6 test images (the kNN's memory). */
  function fillMemory(model: AEFlow): void {
    const { data, shape } = testImages(6, model.config.size, 3, 9);
    const images = tf.tensor4d(data, shape);
    const features = model.encode(images);
    model.addToMemory(features);
    tf.dispose([images, features]);
  }

  it("knn model and a flow scored by kNN on z′ (the whole image, and knn.regions 'left-right': per half, averaged): the memory is a constant of the graph", async () => {
    const latent = { score: { flow: 'knn', synthetic: 'none' }, flow: { featureNorm: 'l2' } };
    for (const overrides of [{ model: 'knn', score: { beta: 1 } }, { ...latent, knn: { regions: 'whole' } }, { ...latent, knn: { k: 2, regions: 'left-right' } }]) {
      const model = await perturbedModel(tinyConfig(overrides));
      try {
        fillMemory(model);
        const { errors, got, want } = await compare(model);
        expect(new Set(want.total).size).toBeGreaterThan(1);
        expect(errors.total, `total ${got.total.join(', ')} vs ${Array.from(want.total).join(', ')}`).toBeLessThan(1e-4);
        expect(errors.residual).toBeLessThan(1e-4);
      } finally {
        model.dispose();
      }
    }
  });

  it.each([
    ['nsa', 'whole'],
    ['nsa-patch', 'whole'],
    ['nsa', 'left-right'],
  ] as const)("score.synthetic '%s', knn.regions '%s': the standardised latent kNN plus the synthetic-anomaly head, as tfjs", async (synthetic, regions) => {
    const model = await perturbedModel(tinyConfig({ score: { flow: 'knn', synthetic }, flow: { featureNorm: 'l2' }, knn: { regions } }));
    try {
      fillMemory(model);
      const c = model.featureChannels;
      model.setSyntheticHead({
        weight: tf.tensor2d(Float32Array.from({ length: c }, (_, i) => Math.sin(i) * 0.05), [c, 1]),
        bias: tf.tensor1d([0.3]),
        stats: tf.tensor1d([0.1, 0.7]),
      });
      const { errors, got, want } = await compare(model);
      expect(new Set(want.flow).size).toBeGreaterThan(1);
      // standardising divides the distance by its leave-one-out sd (small among 6 random tiny-model
      // rows), which scales float32 rounding of the distance by distance/sd ≈ 10 here
      expect(errors.flow, `flow ${got.flow.join(', ')} vs ${Array.from(want.flow).join(', ')}`).toBeLessThan(1e-3);
      expect(errors.total).toBeLessThan(1e-3);
    } finally {
      model.dispose();
    }
  });

  it('takes gray images (1 channel, repeated to 3 in the graph) as tfjs does', async () => {
    const model = await perturbedModel(tinyConfig());
    try {
      const { errors } = await compare(model, 1);
      expect(errors.total).toBeLessThan(1e-4);
      expect(errors.residual).toBeLessThan(1e-4);
    } finally {
      model.dispose();
    }
  });

  it('writes opset 17, named inputs/outputs and the preprocessing in metadata_props', async () => {
    const model = await perturbedModel(tinyConfig());
    try {
      const { bytes, outputs } = exportOnnx(model);
      expect(outputs).toEqual([ONNX_IO.score, ONNX_IO.scoreFlow, ONNX_IO.scoreRecon, ONNX_IO.anomalyMap, ONNX_IO.z, ONNX_IO.logDet, ONNX_IO.reconstruction]);
      const meta = readOnnxMetadata(bytes);
      expect(JSON.parse(meta['aeflow.preprocessing']!)).toMatchObject({ layout: 'NCHW', range: [0, 1], size: [32, 32] });
      expect(JSON.parse(meta['aeflow.config']!)).toEqual(model.config);
      expect(Number(meta['aeflow.beta'])).toBe(model.beta);
      const scorer = await OnnxScorer.create(bytes);
      expect([...scorer.outputNames].sort()).toEqual([...outputs].sort());
      await scorer.dispose();
    } finally {
      model.dispose();
    }
  });
});
