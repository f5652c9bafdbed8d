/**
 * `@aeflow/model`: browser-safe (no Node built-in): the model kinds, their configuration, losses
 * and scores, one training step, the run folder's schemas and formats. Reading and writing files,
 * the training loop, the feature cache and the benchmark are in `@aeflow/model/node`.
 */
export {
  AEFlow,
  AEFlowModel,
  AutoencoderModel,
  EncoderModel,
  isModelWeightKey,
  FastFlowModel,
  FlowModelBase,
  KnnModel,
  MemoryBank,
  combineScores,
  createModel,
  scoresToRecords,
} from './model.js';
export type { AnomalyModel, FlowModel, ImageScore, LossOptions, LossTensors, ModelParts, ScoreOptions, ScoreTensors, ValidationMeasures } from './model.js';
export { prepareUntrainedForScoring } from './untrained.js';
export { blendPatches, fitSyntheticHead, standInSyntheticHead, syntheticLogit, syntheticPooling, syntheticScore, topQuarterCount, SYNTHETIC_HEAD_EPOCHS, SYNTHETIC_HEAD_KEYS, SYNTHETIC_HEAD_LR, type SyntheticPooling } from './synthetic-head.js';
export type { SyntheticHead } from './synthetic-head.js';
export { ssimMap, ssimPerImage } from './ssim.js';
export type { SsimOptions } from './ssim.js';
export { Adam } from './adam.js';
export type { AdamConfig } from './adam.js';
export {
  ConfigError,
  ENCODER_ARCHS,
  MODEL_KINDS,
  PRESETS,
  PRESET_NAMES,
  parseOverrides,
  parseRunConfig,
  resolveConfig,
  runConfigJsonSchema,
  runConfigOverridesSchema,
  runConfigSchema,
} from './config.js';
export type { ModelKind, PresetName, RunConfig, RunConfigOverrides } from './config.js';
export { Trainer } from './train-step.js';
export type { StepResult } from './train-step.js';
export { batchNormStatisticsFromTensors, batchNormStatisticsTensors, ENCODER_BATCHNORM_FORMAT } from './encoder-batchnorm.js';
export { featureBatches, resolveSplit } from './feature-batches.js';
export type { DataSplit, FeatureBatch } from './feature-batches.js';
export { evaluateSplit } from './evaluate-split.js';
export { yieldToEventLoop } from './event-loop.js';
export { BETA_GRID, PAPER_BETA, chooseBeta } from './beta.js';
export type { BetaChoice } from './beta.js';
export {
  BETA_RULES,
  PRIMARY_SCORE_COLUMNS,
  RECON_SCORE_COLUMNS,
  RUN_FILES,
  RUN_FILE_CODECS,
  RUN_FILE_FIXES,
  RunFileError,
  THRESHOLD_RULES,
  SELECTION_CHOICES,
  calibrationFileSchema,
  calibrationFromLegacyThreshold,
  checkpointMetadataSchema,
  csvField,
  dataFileSchema,
  dataSourceSchema,
  formatHistory,
  formatJson,
  formatScoresCsv,
  historyRecordSchema,
  legacyScoreRunMetricsSchema,
  legacyThresholdFileSchema,
  loopStateSchema,
  metricsFileSchema,
  modelMetadataSchema,
  parseCheckpointMetadata,
  parseConfigFile,
  parseCsvRecords,
  parseHistory,
  parseMetrics,
  parseModelMetadata,
  parseScoresCsv,
  scoreColumns,
  scoresCsvHeader,
  skippedFileList,
  skippedFileListSchema,
  splitFileSchema,
} from './run-files.js';
export type {
  BetaRule,
  CalibrationFile,
  CheckpointMetadata,
  DataFile,
  DataSource,
  HistoryRecord,
  LoopState,
  MetricsFile,
  ModelMetadata,
  PrimaryScoreColumn,
  ReconScoreColumn,
  RunFileCodec,
  RunFileContent,
  RunFileKind,
  ScoreColumns,
  ScoreRow,
  SelectionChoice,
  SkippedFileList,
  SplitFile,
  ThresholdRule,
} from './run-files.js';
