import * as tf from '@tensorflow/tfjs-core';
import { currentBackend, SeededRandom } from '@aeflow/tensor';
import type { ENCODER_ARCHS} from './config.js';
import { resolveConfig, type PresetName, type RunConfig } from './config.js';
import { createModel } from './model.js';
import { prepareUntrainedForScoring } from './untrained.js';
import { encoderFromConfig } from './encoder-config.js';
import { Trainer } from './train-step.js';

export interface BenchmarkOptions {
  /** Preset the model starts from (default `paper` for `encoder: 'wide_resnet50_2'`, else `cpu`). */
  preset?: PresetName;
  /** Encoder architecture (default: the preset's). */
  encoder?: (typeof ENCODER_ARCHS)[number];
  /** Seeded random encoder weights instead of the pretrained asset (no download). */
  randomWeights?: boolean;
  /** Image size (default: the preset's). */
  size?: number;
  /** Batch size (default 8). */
  batch?: number;
  /** Timed steps per measurement, after one untimed warm-up step (default 3). */
  steps?: number;
  /** Further configuration overrides (model kind, flow, decoder, …). */
  config?: Record<string, unknown>;
  /** Progress lines (default: none). */
  onProgress?: (message: string) => void;
}

/** What `pnpm train bench` prints (snake_case keys: the JSON line of the CLI). */
export interface BenchmarkResult {
  backend: string;
  /** Training images/s with the feature cache: flow + decoder step on cached features. */
  train_images_per_s: number;
  /** Training images/s recomputing the frozen encoder every step (the paper's pipeline). */
  train_images_per_s_no_cache: number;
  /** Scoring images/s (encoder + flow + decoder + SSIM). */
  score_images_per_s: number;
  /** Peak resident memory of the process so far, MiB. */
  peak_rss_mb: number;
  /** Effective GFLOP/s of each measurement (2 × multiply-adds; a training step counts 3× the forward). */
  train_gflops: number;
  train_gflops_no_cache: number;
  score_gflops: number;
  /**
   * The same rates per second of this process's CPU time (user + system). With one wasm thread
   * they equal the wall-clock rates on an idle machine; on a machine shared with other jobs they
   * are the steadier figure.
   */
  cpu_time: { train_images_per_cpu_s: number; train_images_per_cpu_s_no_cache: number; score_images_per_cpu_s: number };
  /** The resolved configuration measured. */
  config: RunConfig;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** matMul 1024³ GFLOP/s on the current backend (median of `reps`): the yardstick of a benchmark run. */
export async function measureMatMulGflops(reps = 5): Promise<number> {
  const a = tf.randomNormal([1024, 1024]);
  const b = tf.randomNormal([1024, 1024]);
  const times: number[] = [];
  for (let r = 0; r <= reps; r++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
    if (r > 0) times.push((performance.now() - t0) / 1000);
  }
  tf.dispose([a, b]);
  return (2 * 1024 ** 3) / median(times) / 1e9;
}

/** The default tap of an encoder architecture (1/16 resolution). */
function defaultTap(arch: string): string {
  return arch === 'mobilenet_v1' ? 'conv_pw_11_relu' : 'layer3';
}

/**
 * Measures training (with and without the feature cache) and scoring speed of a configuration on
 * random images: what `pnpm train bench --encoder wide_resnet50_2 --random-weights --size 64
 * --batch 8 --steps 3` runs. Each measurement is the median step time of `steps` timed steps.
 */
export async function runBenchmark(options: BenchmarkOptions = {}): Promise<BenchmarkResult> {
  // Wide-ResNet-50-2 is the paper's encoder: benchmark the paper's model around it unless told otherwise.
  const preset = options.preset ?? (options.encoder === 'wide_resnet50_2' ? 'paper' : 'cpu');
  const batch = options.batch ?? 8;
  const steps = options.steps ?? 3;
  const say = options.onProgress ?? (() => undefined);
  const extra = (options.config ?? {}) as { encoder?: Record<string, unknown>; train?: Record<string, unknown> };
  const encoderOverride: Record<string, unknown> = { ...extra.encoder };
  if (options.encoder) {
    encoderOverride.arch = options.encoder;
    encoderOverride.tap ??= defaultTap(options.encoder);
  }
  if (options.randomWeights) encoderOverride.weights = 'random';
  const config = resolveConfig({
    ...options.config,
    preset,
    ...(options.size !== undefined ? { size: options.size } : {}),
    encoder: encoderOverride,
    train: { ...extra.train, batchSize: batch },
  });
  say(`building ${config.encoder.arch as string} (${config.encoder.weights}) at ${config.size} px, batch ${batch}`);
  const encoder = await encoderFromConfig(config);
  const model = createModel(config, encoder);
  const trainer = new Trainer(model, { lr: config.train.lr, weightDecay: config.train.weightDecay });
  const images = new SeededRandom(0).uniformTensor([batch, config.size, config.size, 3]) as tf.Tensor4D;
  const encoderMacs = encoder.multiplyAdds(config.size, config.size);
  const trainedMacs = model.trainedMultiplyAdds();
  try {
    // With the cache, a step reads features from memory: a tensor built from a typed array.
    const encoded = model.encode(images);
    const cachedFeatures = await encoded.data();
    // a memory of the random batch (a trained run's holds every training image; against the
    // encoder its search is small either way) and a stand-in head, where the score needs them
    prepareUntrainedForScoring(model, encoded);
    encoded.dispose();
    const featureShape: [number, number, number, number] = [batch, model.featureSize, model.featureSize, model.featureChannels];
    const measurements: [string, () => Promise<void>][] = [
      [
        'train (feature cache)',
        async () => {
          const f = tf.tensor4d(cachedFeatures, featureShape);
          await trainer.step(f, images);
          f.dispose();
        },
      ],
      [
        'train (no cache)',
        async () => {
          const f = model.encode(images);
          await trainer.step(f, images);
          f.dispose();
        },
      ],
      [
        'score',
        async () => {
          const s = model.scoreTensors(images);
          await s.total.data();
          tf.dispose([s.flow, s.recon, s.total, s.residual]);
        },
      ],
    ];
    // Rounds interleave the three measurements, so a machine shared with other jobs slows them alike.
    const times: number[][] = measurements.map(() => []);
    const cpuTimes: number[][] = measurements.map(() => []);
    for (let round = 0; round <= steps; round++) {
      for (const [k, [label, fn]] of measurements.entries()) {
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        await fn();
        const dt = (performance.now() - t0) / 1000;
        const c = process.cpuUsage(c0);
        if (round === 0) continue; // warm-up round (kernel set-up, first allocations)
        times[k]!.push(dt);
        cpuTimes[k]!.push((c.user + c.system) / 1e6);
        say(`${label} step ${round}/${steps}: ${dt.toFixed(2)} s (CPU ${((c.user + c.system) / 1e6).toFixed(2)} s)`);
      }
    }
    const [cached, noCache, score] = times.map(median) as [number, number, number];
    const [cachedCpu, noCacheCpu, scoreCpu] = cpuTimes.map(median) as [number, number, number];
    const peak = process.resourceUsage().maxRSS / 1024;
    return {
      backend: currentBackend()?.name ?? tf.getBackend(),
      train_images_per_s: batch / cached,
      train_images_per_s_no_cache: batch / noCache,
      score_images_per_s: batch / score,
      peak_rss_mb: Math.round(peak),
      train_gflops: (batch * 2 * 3 * trainedMacs) / cached / 1e9,
      train_gflops_no_cache: (batch * 2 * (encoderMacs + 3 * trainedMacs)) / noCache / 1e9,
      score_gflops: (batch * 2 * (encoderMacs + trainedMacs)) / score / 1e9,
      cpu_time: {
        train_images_per_cpu_s: batch / cachedCpu,
        train_images_per_cpu_s_no_cache: batch / noCacheCpu,
        score_images_per_cpu_s: batch / scoreCpu,
      },
      config,
    };
  } finally {
    images.dispose();
    trainer.dispose();
    model.dispose();
  }
}
