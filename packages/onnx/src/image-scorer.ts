import * as tf from '@tensorflow/tfjs-core';
import { scoresToRecords, type AEFlow, type ImageScore } from '@aeflow/model';
import { currentBackend } from '@aeflow/tensor';

/** Where scores are computed: ONNX Runtime (the exported graph) or TensorFlow.js (the model itself). */
export type ScoreRuntime = 'onnx' | 'tfjs';
export const SCORE_RUNTIMES = ['onnx', 'tfjs'] as const;

/**
 * What a scoring loop needs: the same records whichever runtime computes them. Browser-safe (the
 * ONNX Runtime one, `createImageScorer` of `@aeflow/onnx/node`, needs Node).
 */
export interface ImageScorer {
  readonly runtime: ScoreRuntime;
  /** One line for the start-up log: runtime, version, provider/backend, threads, and why this runtime. */
  describe(): string;
  /**
   * Scores NHWC images in [0, 1] ([n, size, size, 1 or 3], as @aeflow/datasets loads them): one
   * record per image, as `AEFlow.score` (the per-pixel map in `residual`); with
   * `reconstruction: true` also x′ ([n, size, size, 3] in [0, 1], NHWC; the caller disposes it),
   * for models with a decoder.
   */
  score(images: tf.Tensor4D, options?: { reconstruction?: boolean }): Promise<{ scores: ImageScore[]; reconstruction?: tf.Tensor4D }>;
  dispose(): Promise<void>;
}

/** The tfjs path: the model's own `scoreTensors`, on the current tfjs backend. */
class TfjsImageScorer implements ImageScorer {
  readonly runtime = 'tfjs' as const;
  constructor(
    private readonly model: AEFlow,
    private readonly why: string | undefined,
  ) {}

  describe(): string {
    const report = currentBackend();
    const backend = report ? `${report.name}${report.name === 'wasm' ? `, ${report.threads} thread${report.threads === 1 ? '' : 's'}` : ''}` : tf.getBackend();
    return `runtime tfjs (backend ${backend})${this.why ? `; ${this.why}` : ''}`;
  }

  async score(images: tf.Tensor4D, options: { reconstruction?: boolean } = {}): Promise<{ scores: ImageScore[]; reconstruction?: tf.Tensor4D }> {
    const s = this.model.scoreTensors(images, { reconstruction: options.reconstruction === true });
    try {
      const scores = await scoresToRecords(s);
      return { scores, ...(s.reconstruction ? { reconstruction: s.reconstruction } : {}) };
    } catch (err) {
      s.reconstruction?.dispose();
      throw err;
    } finally {
      tf.dispose([s.flow, s.recon, s.total, s.residual]);
    }
  }

  dispose(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * A scorer on the model's own tfjs path (`AEFlow.scoreTensors`). `why`, when given, ends the
 * start-up line (e.g. why ONNX Runtime is not used). The model is not disposed with the scorer.
 */
export function tfjsImageScorer(model: AEFlow, why?: string): ImageScorer {
  return new TfjsImageScorer(model, why);
}
