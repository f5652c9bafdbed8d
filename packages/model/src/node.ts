/**
 * `@aeflow/model/node`: what reads and writes files or uses Node's process (Node only): the run
 * folder (`RunFolder`), the training loop (`trainRun`), checkpoints, the feature cache, loading and
 * scoring a run, the encoder a configuration names, the benchmark. The schemas and formats of the
 * run folder, the model kinds and one training step are browser-safe in `@aeflow/model`.
 */
export { RunFolder, allFinite, removeStaleTempFiles } from './run-folder.js';
export type { WeightsFile } from './run-folder.js';
export { FeatureCache } from './feature-cache.js';
export { encoderFromConfig } from './encoder-config.js';
export { historyUpToCheckpoint, readCheckpoint, restoreTrainingState, trainingState, writeCheckpoint } from './checkpoint.js';
export { loadRun } from './load-run.js';
export { trainRun } from './train-run.js';
export type { TrainEvent, TrainResult, TrainRunOptions } from './train-run.js';
export { scoreRun } from './score-run.js';
export type { ScoreRunOptions, ScoreRunResult } from './score-run.js';
export { measureMatMulGflops, runBenchmark } from './benchmark.js';
export type { BenchmarkOptions, BenchmarkResult } from './benchmark.js';
