import { basename, dirname } from 'node:path';
import { loadRun, removeStaleTempFiles } from '@aeflow/model/node';
import { writeFileAtomic } from '@aeflow/tensor/node';
import { exportOnnx, type OnnxExport, type OnnxExportOptions } from './export.js';

export * from './index.js';
export { loadOnnxRuntime, OnnxScorer, onnxScorerFromModel, providersFromEnv } from './onnx-scorer.js';
export type { OnnxScoreResult, OnnxScorerOptions } from './onnx-scorer.js';
export { benchmarkScoreRuntime, createImageScorer, measureScoring } from './runtime.js';
export type { CreateImageScorerOptions } from './runtime.js';

/**
 * Exports a trained run (its folder, as `aeflow-train` writes it) to an ONNX file, written
 * atomically; temp files an earlier, killed export of the same file left are removed. Returns what
 * {@link exportOnnx} returns.
 */
export async function exportRunToOnnx(runDir: string, file: string, options: OnnxExportOptions = {}): Promise<OnnxExport> {
  const model = await loadRun(runDir);
  try {
    const out = exportOnnx(model, { ...options, metadata: { 'aeflow.run': runDir, ...options.metadata } });
    await writeFileAtomic(file, out.bytes);
    await removeStaleTempFiles(dirname(file), { only: basename(file) });
    return out;
  } finally {
    model.dispose();
  }
}
