import * as tf from '@tensorflow/tfjs-core';
import { AEFlow, prepareUntrainedForScoring, type ImageScore, type RunConfig } from '@aeflow/model';
import { encoderFromConfig } from '@aeflow/model/node';
import { SeededRandom } from '@aeflow/tensor';
import { exportOnnx } from './export.js';
import { tfjsImageScorer, type ImageScorer, type ScoreRuntime } from './image-scorer.js';
import { loadOnnxRuntime, OnnxScorer, type OnnxScorerOptions } from './onnx-scorer.js';

export interface CreateImageScorerOptions extends OnnxScorerOptions {
  /** `onnx`, `tfjs`, or `auto` (default): ONNX Runtime wherever onnxruntime-node loads, tfjs otherwise. */
  runtime?: ScoreRuntime | 'auto';
}

/** The ONNX Runtime path: the model exported in memory and run by onnxruntime-node. */
class OnnxImageScorer implements ImageScorer {
  readonly runtime = 'onnx' as const;
  constructor(
    private readonly scorer: OnnxScorer,
    private readonly why: string,
  ) {}

  describe(): string {
    return `${this.scorer.describe()}; ${this.why}`;
  }

  async score(images: tf.Tensor4D, options: { reconstruction?: boolean } = {}): Promise<{ scores: ImageScore[]; reconstruction?: tf.Tensor4D }> {
    const [n, h, w] = images.shape;
    const pixels = (await images.data()) as Float32Array;
    const out = await this.scorer.scoreNhwc(pixels, images.shape, options);
    if (!out.reconstruction) return { scores: out.scores };
    // NCHW → NHWC, the layout the tfjs path returns
    const nchw = out.reconstruction;
    const nhwc = new Float32Array(nchw.length);
    for (let b = 0; b < n; b++) for (let c = 0; c < 3; c++) for (let i = 0; i < h * w; i++) nhwc[(b * h * w + i) * 3 + c] = nchw[(b * 3 + c) * h * w + i]!;
    return { scores: out.scores, reconstruction: tf.tensor4d(nhwc, [n, h, w, 3]) };
  }

  dispose(): Promise<void> {
    return this.scorer.dispose();
  }
}

/**
 * A scorer for a loaded model on the runtime asked for. `auto` (the default) takes ONNX Runtime
 * when onnxruntime-node loads here and tfjs otherwise; `onnx` fails with the reason when it does
 * not load. `describe()` ends with why this runtime (`asked for`, `auto: onnxruntime-node loads
 * here`, or `auto: onnxruntime-node does not load: …`). The ONNX path exports the model in memory
 * (no file); the model stays the caller's to dispose.
 */
export async function createImageScorer(model: AEFlow, options: CreateImageScorerOptions = {}): Promise<ImageScorer> {
  const runtime = options.runtime ?? 'auto';
  if (runtime !== 'auto' && runtime !== 'onnx' && runtime !== 'tfjs') throw new Error(`createImageScorer: runtime must be onnx, tfjs or auto, got ${String(runtime)}`);
  if (runtime === 'tfjs') return tfjsImageScorer(model, 'asked for');
  const loaded = await loadOnnxRuntime();
  if ('error' in loaded) {
    if (runtime === 'onnx') throw new Error(`runtime onnx: ${loaded.error}; use --runtime tfjs`);
    return tfjsImageScorer(model, `auto: ${loaded.error}`);
  }
  const { runtime: _ignored, ...scorerOptions } = options;
  const scorer = await OnnxScorer.create(exportOnnx(model).bytes, scorerOptions);
  return new OnnxImageScorer(scorer, runtime === 'onnx' ? 'asked for' : 'auto: onnxruntime-node loads here');
}

/**
 * Score images/s of a scorer on `batch` copies of a fixed pattern at the model's size: the median
 * of `steps` timed batches after a warm-up (a benchmark helper for `aeflow-train bench`).
 */
export async function measureScoring(scorer: ImageScorer, size: number, options: { batch?: number; steps?: number } = {}): Promise<{ images_per_s: number; runtime: ScoreRuntime; described: string }> {
  const batch = options.batch ?? 8;
  const steps = options.steps ?? 5;
  const pixels = new Float32Array(batch * size * size * 3);
  for (let i = 0; i < pixels.length; i++) {
    const f = Math.sin(i * 12.9898) * 43758.5453; // a fixed pseudo-random pattern in [0, 1)
    pixels[i] = f - Math.floor(f);
  }
  const images = tf.tensor4d(pixels, [batch, size, size, 3]);
  try {
    const once = async (): Promise<void> => {
      await scorer.score(images);
    };
    await once();
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      await once();
      times.push((performance.now() - t0) / 1000);
    }
    times.sort((a, b) => a - b);
    return { images_per_s: batch / times[Math.floor(times.length / 2)]!, runtime: scorer.runtime, described: scorer.describe() };
  } finally {
    images.dispose();
  }
}

/**
 * Score images/s of a configuration (e.g. the one `runBenchmark` resolved) on a runtime (default
 * `auto`: ONNX Runtime wherever it loads): builds the model (its encoder from the config, e.g.
 * random weights), measures with {@link measureScoring}, disposes everything. For `aeflow-train bench`.
 */
export async function benchmarkScoreRuntime(config: RunConfig, options: CreateImageScorerOptions & { batch?: number; steps?: number } = {}): Promise<{ images_per_s: number; runtime: ScoreRuntime; described: string }> {
  const { batch, steps, ...scorerOptions } = options;
  const model = new AEFlow(config, await encoderFromConfig(config));
  try {
    // the cpu preset's score needs a kNN memory (random images' features) and a synthetic-anomaly head
    const images = new SeededRandom(1).uniformTensor([batch ?? 8, config.size, config.size, 3]) as tf.Tensor4D;
    const features = model.encode(images);
    prepareUntrainedForScoring(model, features);
    tf.dispose([images, features]);
    const scorer = await createImageScorer(model, scorerOptions);
    try {
      return await measureScoring(scorer, config.size, { ...(batch !== undefined ? { batch } : {}), ...(steps !== undefined ? { steps } : {}) });
    } finally {
      await scorer.dispose();
    }
  } finally {
    model.dispose();
  }
}
