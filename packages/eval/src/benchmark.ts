import { runBenchmark, type BenchmarkOptions, type BenchmarkResult } from '@aeflow/model/node';
import { benchmarkScoreRuntime, type ScoreRuntime } from '@aeflow/onnx/node';

export interface WorkflowBenchmarkOptions extends BenchmarkOptions {
  /** The scoring runtime to measure (default `auto`: what `aeflow-score` uses — ONNX Runtime wherever it loads). */
  runtime?: ScoreRuntime | 'auto';
  /** ONNX Runtime intra-op threads (default: its own choice, one per core). */
  scoreThreads?: number;
}

/** What `aeflow-train bench` prints: the model benchmark, with scoring on the runtime aeflow-score would use. */
export interface WorkflowBenchmarkResult extends Omit<BenchmarkResult, 'score_images_per_s'> {
  /** Scoring images/s on `score_runtime` (encoder + flow + decoder + SSIM + map). */
  score_images_per_s: number;
  /** The runtime measured (`onnx` or `tfjs`). */
  score_runtime: ScoreRuntime;
  /** Its start-up line (runtime, version or backend, providers, threads, why). */
  score_runtime_described: string;
  /** Scoring images/s on tfjs (the model's own path, interleaved with the training measurements): the reference. */
  score_images_per_s_tfjs: number;
}

/**
 * Measures training (with and without the feature cache) and scoring speed of a configuration on
 * random images — `runBenchmark` of `@aeflow/model/node` — and scoring again on the runtime
 * `aeflow-score` would use (`runtime`, default `auto`): the same configuration (same random
 * encoder weights) through `createImageScorer` — on ONNX Runtime exported in memory — timed by
 * `benchmarkScoreRuntime` (median of `steps` batches after a warm-up), after the interleaved rounds.
 */
export async function runWorkflowBenchmark(options: WorkflowBenchmarkOptions = {}): Promise<WorkflowBenchmarkResult> {
  const { runtime = 'auto', scoreThreads, ...benchOptions } = options;
  const r = await runBenchmark(benchOptions);
  const scoring = await benchmarkScoreRuntime(r.config, {
    runtime,
    batch: options.batch ?? 8,
    steps: options.steps ?? 3,
    ...(scoreThreads !== undefined ? { threads: scoreThreads } : {}),
  });
  options.onProgress?.(`score on ${scoring.described}: ${scoring.images_per_s.toFixed(2)} images/s (tfjs, interleaved above: ${r.score_images_per_s.toFixed(2)})`);
  return {
    ...r,
    score_images_per_s: scoring.images_per_s,
    score_runtime: scoring.runtime,
    score_runtime_described: scoring.described,
    score_images_per_s_tfjs: r.score_images_per_s,
  };
}
