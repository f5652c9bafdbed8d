export { exportOnnx, nhwcToNchw, ONNX_IO, ONNX_OPSET, readOnnxMetadata } from './export.js';
export type { OnnxExport, OnnxExportOptions } from './export.js';
