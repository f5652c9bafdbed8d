// @aeflow/eval/node — what reads and writes files: scoring a dataset into a folder (scores.csv,
// metrics.json, report.html, maps), the whole train-then-evaluate workflow as one call, and the
// command-line conventions both aeflow CLIs share (exit codes, failures as JSON, path checks).
export { choicesMadeOn, scoreToFolder, readHistory, readValidationScores } from './score-to-folder.js';
export type { ScoreToFolderOptions, ScoreToFolderResult } from './score-to-folder.js';
export { calibrateRun } from './calibrate.js';
export type { CalibrateRunOptions, CalibrateRunResult } from './calibrate.js';
export { trainAndEvaluate, storedDataSource, RunFolderError, chosenOnFinalPart, crossValidationFolds } from './train-and-evaluate.js';
export type { DataSourceOptions, TrainAndEvaluateOptions, TrainAndEvaluateResult, WorkflowEvent } from './train-and-evaluate.js';
export { processConsole, formatDuration, userMessage, reportFailure, PathError, checkRunFolder, checkOutputFolder, checkOutputFile, checkDataPaths } from './cli.js';
export type { Console, OutputMode } from './cli.js';
export { runWorkflowBenchmark } from './benchmark.js';
export type { WorkflowBenchmarkOptions, WorkflowBenchmarkResult } from './benchmark.js';
// the scoring runtimes, for the CLIs' --runtime (from @aeflow/onnx, which computes on them)
export { SCORE_RUNTIMES } from '@aeflow/onnx/node';
export type { ScoreRuntime } from '@aeflow/onnx/node';
