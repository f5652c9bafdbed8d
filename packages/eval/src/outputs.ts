import { combineScores as combineModelScores, RUN_FILES } from '@aeflow/model';
import { EvaluationError } from './evaluate.js';

/**
 * Files this package writes into an output folder (names from @aeflow/model's RUN_FILES, which owns
 * the run folder; `maps` is the heat-map PNG sub-folder).
 */
export const OUTPUT_FILES = {
  scores: RUN_FILES.scores,
  metrics: RUN_FILES.metrics,
  report: RUN_FILES.report,
  skipped: RUN_FILES.skipped,
  maps: 'maps',
  /** In a run folder: β and the threshold chosen on the validation split (`--threshold from-val`). */
  calibration: RUN_FILES.calibration,
} as const;

/**
 * The model's total score from its two parts (the formula of `ScoreTensors.total`, owned by
 * @aeflow/model). Used for `--beta` and the β sweep, from the stored per-image parts.
 */
export function combineScores(flow: number, recon: number, beta: number): number {
  return combineModelScores(flow, recon, beta);
}

/** A file name for an image id: letters, digits, `.-_` kept (any script), the rest `_`; numbered to stay unique. */
export function safeFileStem(id: string, index: number): string {
  const stem = id.replace(/\.[A-Za-z0-9]{1,5}$/, '').replace(/[^\p{L}\p{N}._-]+/gu, '_').replace(/^[._]+/, '').slice(-80);
  return `${String(index).padStart(3, '0')}_${stem || 'image'}`;
}

/** What `--threshold` asks for. */
export type ThresholdOption = 'auto' | 'best-f1' | 'from-val' | number;

/** Parses `--threshold` (best-f1, from-val, auto, or a number). */
export function parseThresholdOption(value: string): ThresholdOption {
  if (value === 'best-f1' || value === 'from-val' || value === 'auto') return value;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new EvaluationError(`--threshold: "${value}" is not best-f1, from-val, auto or a number`);
  return n;
}

