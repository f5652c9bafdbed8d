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

/**
 * What `--threshold` asks for: a rule, a number, or `{ quantile: q }` — the q-quantile of the scored
 * images' totals, for a population taken as normal (its normal-labelled images when there are
 * labels): flags about 1 − q of such a population.
 */
export type ThresholdOption = 'auto' | 'best-f1' | 'from-val' | number | { quantile: number };

/** Parses `--threshold` (best-f1, from-val, auto, quantile:<q>, or a number). */
export function parseThresholdOption(value: string): ThresholdOption {
  if (value === 'best-f1' || value === 'from-val' || value === 'auto') return value;
  const quantile = /^quantile:(.*)$/.exec(value.trim());
  if (quantile) {
    const q = Number(quantile[1]);
    if (quantile[1]!.trim() === '' || !(q > 0 && q < 1)) throw new EvaluationError(`--threshold: "${value}": the quantile must be a number between 0 and 1 (e.g. quantile:0.95 flags about 5 % of a normal population)`);
    return { quantile: q };
  }
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new EvaluationError(`--threshold: "${value}" is not best-f1, from-val, auto, quantile:<q> or a number`);
  return n;
}

