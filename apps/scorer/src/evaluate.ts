import { BETA_GRID } from '@aeflow/model';
import { atThreshold, auroc, aurocConfidence, averagePrecision, bestF1, prCurve, rocCurve } from '@aeflow/metrics';

/** 0 = normal, 1 = anomalous, null = not known. */
export type Label = 0 | 1 | null;

/** One scored image: the row of `scores.csv`. */
export interface ScoreRow {
  id: string;
  label: Label;
  /** The flow part of the score (higher = more anomalous). */
  flow: number;
  /** The reconstruction part (−SSIM; higher = more anomalous). */
  recon: number;
  /** The combined score the threshold applies to. */
  total: number;
  /** 1 where total >= threshold, else 0; null until a threshold is chosen. */
  predicted: Label;
}

/** How β was chosen (see `ScoreMetrics.betaRule`). */
export type BetaRule = 'run' | 'value' | 'auto';

/** How the decision threshold was chosen. */
export type ThresholdRule = 'best-f1' | 'value' | 'from-val';

/**
 * The content of `metrics.json`. The first keys are fixed (outside scripts read them); a value that
 * cannot be computed on this data (AUROC with one class present, sensitivity without anomalies) is
 * null, never absent.
 */
export interface ScoreMetrics {
  auroc: number | null;
  /** DeLong 95% interval of the AUROC. */
  aurocCI: { low: number; high: number } | null;
  ap: number | null;
  threshold: number | null;
  f1: number | null;
  accuracy: number | null;
  sensitivity: number | null;
  specificity: number | null;
  counts: {
    images: number;
    normal: number;
    anomalous: number;
    unlabeled: number;
    /** Confusion counts at the threshold, over the labelled images. */
    tp: number | null;
    fp: number | null;
    tn: number | null;
    fn: number | null;
    predictedAnomalous: number | null;
  };
  thresholdRule: ThresholdRule;
  beta: number | null;
  /**
   * Where β comes from: 'run' (the run's fixed `score.beta`), 'value' (`--beta <number>`), 'auto'
   * (chosen by AUROC on the run's validation split, never on the images scored here).
   */
  betaRule: BetaRule | null;
  /** AUROC of the total score at β = 0, 0.05, …, 1, computed from the stored flow and recon parts. */
  betaSweep: { beta: number; auroc: number }[] | null;
}

/** Curves for the report (not written to metrics.json). */
export interface ScoreCurves {
  roc: { fpr: number[]; tpr: number[] } | null;
  pr: { recall: number[]; precision: number[]; prevalence: number } | null;
}

export type ThresholdChoice = { rule: 'best-f1' } | { rule: 'value'; value: number } | { rule: 'from-val'; value: number };

function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** The labelled rows as the typed arrays the metrics package takes. */
function labelled(rows: readonly ScoreRow[], score: (r: ScoreRow) => number): { labels: Uint8Array; scores: Float64Array } {
  const kept = rows.filter((r) => r.label !== null);
  const labels = new Uint8Array(kept.length);
  const scores = new Float64Array(kept.length);
  kept.forEach((r, i) => {
    labels[i] = r.label as number;
    scores[i] = score(r);
  });
  return { labels, scores };
}

export function countLabels(rows: readonly ScoreRow[]): { normal: number; anomalous: number; unlabeled: number } {
  let normal = 0;
  let anomalous = 0;
  let unlabeled = 0;
  for (const r of rows) {
    if (r.label === 0) normal++;
    else if (r.label === 1) anomalous++;
    else unlabeled++;
  }
  return { normal, anomalous, unlabeled };
}

/** Thrown when a run is stopped by its AbortSignal (Ctrl-C) before it wrote anything. */
export class InterruptedError extends Error {
  constructor(what: string) {
    super(`${what} was interrupted; nothing was written`);
    this.name = 'InterruptedError';
  }
}

/** Thrown when the data cannot support what was asked (e.g. best-F1 without both classes). */
export class EvaluationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvaluationError';
  }
}

export interface EvaluateOptions {
  threshold: ThresholdChoice;
  /** The β the totals were combined with (reported only). */
  beta?: number | null;
  /** How β was chosen (reported only). */
  betaRule?: BetaRule | null;
  /**
   * How the total is formed from flow and recon for the β sweep; without it there is no sweep.
   * The model package owns the formula (`combine(flow, recon, beta)`).
   */
  combine?: (flow: number, recon: number, beta: number) => number;
}

/**
 * Metrics of scored images: AUROC with its DeLong interval, AP, and F1 / accuracy / sensitivity /
 * specificity at the chosen threshold, plus the rows with `predicted` filled in.
 */
export function evaluateScores(rows: readonly ScoreRow[], options: EvaluateOptions): { metrics: ScoreMetrics; rows: ScoreRow[] } {
  const { normal, anomalous, unlabeled } = countLabels(rows);
  const bothClasses = normal > 0 && anomalous > 0;
  const { labels, scores } = labelled(rows, (r) => r.total);

  let threshold: number | null;
  if (options.threshold.rule === 'best-f1') {
    if (!bothClasses) {
      throw new EvaluationError(
        `--threshold best-f1 needs labelled normal and anomalous images (found ${normal} normal, ${anomalous} anomalous, ${unlabeled} unlabelled); ` +
          'use --threshold from-val (the threshold chosen on the run\'s validation split) or --threshold <number>',
      );
    }
    threshold = bestF1(labels, scores).threshold;
  } else {
    threshold = options.threshold.value;
  }

  const at = labels.length > 0 && threshold !== null ? atThreshold(labels, scores, threshold) : null;
  // DeLong's variance needs two images of each class; with fewer the interval is null, the AUROC is not.
  const ci = normal >= 2 && anomalous >= 2 ? aurocConfidence(labels, scores, 0.95) : null;
  const aurocValue = bothClasses ? auroc(labels, scores) : null;
  const ap = bothClasses ? averagePrecision(labels, scores) : null;

  let betaSweep: ScoreMetrics['betaSweep'] = null;
  if (bothClasses && options.combine) {
    const combine = options.combine;
    betaSweep = [];
    for (const beta of BETA_GRID) {
      const swept = labelled(rows, (r) => combine(r.flow, r.recon, beta));
      betaSweep.push({ beta, auroc: auroc(swept.labels, swept.scores) });
    }
  }

  const withPredictions = rows.map((r) => ({ ...r, predicted: threshold === null ? null : r.total >= threshold ? (1 as const) : (0 as const) }));
  const predictedAnomalous = threshold === null ? null : withPredictions.filter((r) => r.predicted === 1).length;

  const metrics: ScoreMetrics = {
    auroc: aurocValue,
    aurocCI: ci ? { low: ci.low, high: ci.high } : null,
    ap,
    threshold,
    f1: at ? finiteOrNull(at.f1) : null,
    accuracy: at ? finiteOrNull(at.accuracy) : null,
    sensitivity: at ? finiteOrNull(at.sensitivity) : null,
    specificity: at ? finiteOrNull(at.specificity) : null,
    counts: {
      images: rows.length,
      normal,
      anomalous,
      unlabeled,
      tp: at ? at.tp : null,
      fp: at ? at.fp : null,
      tn: at ? at.tn : null,
      fn: at ? at.fn : null,
      predictedAnomalous,
    },
    thresholdRule: options.threshold.rule,
    beta: options.beta ?? null,
    betaRule: options.betaRule ?? null,
    betaSweep,
  };

  return { metrics, rows: withPredictions };
}

/** ROC and PR curves of the total score over the labelled rows (null without both classes). */
export function scoreCurves(rows: readonly ScoreRow[]): ScoreCurves {
  const { normal, anomalous } = countLabels(rows);
  if (normal === 0 || anomalous === 0) return { roc: null, pr: null };
  const { labels, scores } = labelled(rows, (r) => r.total);
  const roc = rocCurve(labels, scores);
  const pr = prCurve(labels, scores);
  return {
    roc: { fpr: Array.from(roc.fpr), tpr: Array.from(roc.tpr) },
    pr: { recall: Array.from(pr.recall), precision: Array.from(pr.precision), prevalence: anomalous / (normal + anomalous) },
  };
}
