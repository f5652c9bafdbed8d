export { exportOnnx, nhwcToNchw, ONNX_IO, ONNX_OPSET, readOnnxMetadata } from './export.js';
export type { OnnxExport, OnnxExportOptions } from './export.js';
export { SCORE_RUNTIMES, tfjsImageScorer } from './image-scorer.js';
export type { ImageScorer, ScoreRuntime } from './image-scorer.js';
