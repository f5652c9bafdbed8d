// @aeflow/eval — evaluation of scored images: metrics (AUROC with DeLong interval, AP, thresholded
// F1/accuracy/sensitivity/specificity), β sweep, threshold rules, cross-validation (the paper's
// appendix protocol), scores.csv, and scoring a part with a model. No Node built-in here; writing a
// scored folder and the whole train-then-evaluate workflow are in `@aeflow/eval/node`.
export { bestF1Threshold, evaluateScores, countLabels, crossValidate, metricsSummary, scoreQuantile, MAX_FOLDS, EvaluationError, THRESHOLD_TOLERANCE } from './evaluate.js';
export type {
  BetaRule,
  Label,
  ScoreRow,
  ScoreMetrics,
  ThresholdChoice,
  ThresholdRule,
  EvaluateOptions,
  CrossValidation,
  CrossValidationFold,
  CrossValidationMetrics,
  CrossValidationSummary,
  CrossValidateOptions,
} from './evaluate.js';
export { describeCalibration, withoutPrevious } from './calibration.js';
export type { PreviousCalibration } from './calibration.js';
export { scoreItems, batchTensor, reconstruct } from './score.js';
export type { ImageMaps, ScoreItemsOptions, ScoreItemsResult } from './score.js';
export { OUTPUT_FILES, combineScores, safeFileStem, parseThresholdOption } from './outputs.js';
export type { ThresholdOption } from './outputs.js';
export { EXIT_CODES, EXIT_CODES_HELP, UsageError, InterruptedError, exitCodeOf } from './exit-codes.js';
export type { ExitCode } from './exit-codes.js';
