import { combineScores as combineModelScores } from '@aeflow/model';
import { EvaluationError, type BetaRule, type ScoreRow } from './evaluate.js';

/** Files this package writes into an output folder. */
export const OUTPUT_FILES = {
  scores: 'scores.csv',
  metrics: 'metrics.json',
  report: 'report.html',
  skipped: 'skipped.json',
  maps: 'maps',
  /** In a run folder: the threshold chosen on the validation split (`--threshold from-val`). */
  threshold: 'threshold.json',
} as const;

/**
 * The model's total score from its two parts (the formula of `ScoreTensors.total`, owned by
 * @aeflow/model). Used for `--beta` and the β sweep, from the stored per-image parts.
 */
export function combineScores(flow: number, recon: number, beta: number): number {
  return combineModelScores(flow, recon, beta);
}

/** A CSV field per RFC 4180: quoted when it holds a comma, quote, line break or edge space. */
export function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** scores.csv: id, label (empty when unknown), flow, recon, total, predicted. */
export function scoresCsv(rows: readonly ScoreRow[]): string {
  const lines = ['id,label,flow,recon,total,predicted'];
  for (const r of rows) lines.push([csvField(r.id), r.label ?? '', r.flow, r.recon, r.total, r.predicted ?? ''].join(','));
  return lines.join('\n') + '\n';
}

/** A file name for an image id: letters, digits, `.-_` kept (any script), the rest `_`; numbered to stay unique. */
export function safeFileStem(id: string, index: number): string {
  const stem = id.replace(/\.[A-Za-z0-9]{1,5}$/, '').replace(/[^\p{L}\p{N}._-]+/gu, '_').replace(/^[._]+/, '').slice(-80);
  return `${String(index).padStart(3, '0')}_${stem || 'image'}`;
}

export interface ThresholdFile {
  threshold: number;
  rule: 'best-f1';
  split: string;
  beta: number;
  /** How that β was chosen ('auto': on the validation split, by AUROC). Absent in older runs. */
  betaRule?: BetaRule;
  images: number;
}

/**
 * Rows of a scores.csv written by `scoresCsv` (id, label, flow, recon, total, predicted; the id may
 * be quoted with commas in it, the five fields after it have none). `predicted` is left null.
 */
export function parseScoresCsv(text: string): ScoreRow[] {
  const rows: ScoreRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    if (!line.trim()) continue;
    const parts = line.split(',');
    const [label, flow, recon, total] = parts.slice(-5);
    const id = parts.slice(0, -5).join(',');
    rows.push({ id: id.startsWith('"') ? id.slice(1, -1).replace(/""/g, '"') : id, label: label === '1' ? 1 : label === '0' ? 0 : null, flow: Number(flow), recon: Number(recon), total: Number(total), predicted: null });
  }
  return rows;
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

