import { valTestFolds, type ImageItem } from '@aeflow/datasets';
import { BETA_GRID, chooseBeta, combineScores, type ScoreRow, type SelectionChoice } from '@aeflow/model';
import { atThreshold, auroc, aurocConfidence, averagePrecision, bestF1 } from '@aeflow/metrics';

/** One scored image: the row of scores.csv (owned by @aeflow/model's run-folder module). */
export type { ScoreRow } from '@aeflow/model';

/** 0 = normal, 1 = anomalous, null = not known. */
export type Label = ScoreRow['label'];

/** How β was chosen (see `ScoreMetrics.betaRule`). */
export type BetaRule = 'run' | 'value' | 'auto' | 'fit';

/**
 * How the decision threshold was chosen: best F1 on these labels, a given value, the run's stored
 * calibration (`from-val`), or a quantile of a normal population's scores (`normal-quantile`: no
 * anomalies needed; flags about 1 − q of normal images).
 */
export type ThresholdRule = 'best-f1' | 'value' | 'from-val' | 'normal-quantile';

/**
 * The content of `metrics.json`. The first keys are fixed (outside scripts read them); a value that
 * cannot be computed on this data (AUROC with one class present, sensitivity without anomalies) is
 * null, never absent.
 */
export type ScoreMetrics = {
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
  /** `normal-quantile`: the quantile q of the normal population's scores the threshold sits at. */
  thresholdQuantile?: number;
  beta: number | null;
  /**
   * Where β comes from: 'run' (the run's fixed `score.beta`), 'value' (`--beta <number>`), 'auto'
   * (chosen by AUROC on the run's validation split, never on the images scored here), 'fit'
   * (chosen by AUROC on the images scored here: a calibration sample — its metrics are optimistic).
   */
  betaRule: BetaRule | null;
  /** AUROC of the total score at β = 0, 0.05, …, 1, computed from the stored flow and recon parts. */
  betaSweep: { beta: number; auroc: number }[] | null;
  /** The paper's appendix protocol (`--folds`); present only when asked for. */
  crossValidation?: CrossValidation;
  /**
   * What was chosen on these very images (the trainer's validation part, scored as the final part
   * when there is no separate test part): these numbers are then optimistic. Absent: held out.
   */
  chosenOnTheseImages?: SelectionChoice[];
  /** How many of the scored images those choices were made on, when not all (absent: all of them). */
  chosenOnImages?: number;
};

export type ThresholdChoice =
  | { rule: 'best-f1' }
  | { rule: 'value'; value: number }
  | { rule: 'from-val'; value: number }
  | { rule: 'normal-quantile'; value: number; quantile: number };

/**
 * The q-quantile of scores (the smallest score with at least q of them at or below it… rounded up:
 * the order statistic ⌈q·n⌉). As a threshold on a normal population's scores it flags about 1 − q
 * of that population.
 */
export function scoreQuantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new EvaluationError('a quantile threshold needs at least one score');
  if (!(q >= 0 && q <= 1)) throw new EvaluationError(`quantile ${q} is outside [0, 1]`);
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length))]!;
}

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
/**
 * How far below the lowest flagged score the best-F1 threshold is placed, relative to the score's
 * size: the agreement the scoring runtimes guarantee (ONNX Runtime vs tfjs within 1e-4 relative).
 */
export const THRESHOLD_TOLERANCE = 1e-4;

/**
 * The decision threshold of the best-F1 rule: `bestF1`'s cut (the lowest flagged score), lowered
 * by `THRESHOLD_TOLERANCE` × max(1, |cut|) but never past the midpoint to the highest unflagged
 * score. The same images are flagged (the metrics are bestF1's), but the threshold no longer sits
 * exactly on one image's score, where another runtime's last digits flipped that image when the
 * same images were scored again. On new images it is the same rule: the shift is within the
 * runtimes' own disagreement.
 */
export function bestF1Threshold(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const cut = bestF1(labels, scores).threshold;
  let below = -Infinity;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    if (s < cut && s > below) below = s;
  }
  const margin = THRESHOLD_TOLERANCE * Math.max(1, Math.abs(cut));
  return below === -Infinity ? cut - margin : Math.max(cut - margin, below + (cut - below) / 2);
}

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
    threshold = bestF1Threshold(labels, scores);
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
    ...(options.threshold.rule === 'normal-quantile' ? { thresholdQuantile: options.threshold.quantile } : {}),
    beta: options.beta ?? null,
    betaRule: options.betaRule ?? null,
    betaSweep,
  };

  return { metrics, rows: withPredictions };
}

/** What the cross-validation reports per fold, and as means over the folds. */
export type CrossValidationMetrics = {
  auroc: number;
  ap: number;
  f1: number;
  accuracy: number;
  sensitivity: number;
  specificity: number;
};

/** The metrics of one fold of the cross-validation, on its test part (the other k − 1 folds). */
export type CrossValidationFold = CrossValidationMetrics & {
  /** 0-based: which fold was the validation part. */
  fold: number;
  /** The β the fold's totals use (chosen on its validation part with `chooseBeta`, else the scoring β). */
  beta: number | null;
  /** The best-F1 threshold on the validation part, applied to the test part. */
  threshold: number;
  val: { normal: number; anomalous: number };
  test: { normal: number; anomalous: number };
};

/** The metrics averaged over the folds (and their sample standard deviations). */
export type CrossValidationSummary = CrossValidationMetrics & {
  /** null when β is not known (totals given without a β and not chosen per fold). */
  beta: number | null;
};

/** `metrics.json`'s `crossValidation`: the paper's appendix protocol on the scored images. */
export type CrossValidation = {
  k: number;
  seed: number;
  chooseBeta: boolean;
  /** Labelled images the folds were made of (unlabelled ones are left out). */
  images: number;
  folds: CrossValidationFold[];
  mean: CrossValidationSummary;
  /** Sample standard deviation (n − 1) over the folds. */
  std: CrossValidationSummary;
};

export interface CrossValidateOptions {
  /** Folds, 2..20 (the paper: 5, so validation : test = 2 : 8). */
  k: number;
  /** Seed of the stratified fold assignment. */
  seed: number;
  /** Choose β per fold by AUROC on its validation part over `BETA_GRID` (else the rows' totals are used as they are). */
  chooseBeta: boolean;
  /** The β the rows' totals were combined with: reported, and the tie-break preference when choosing β. */
  beta?: number | null;
}

export const MAX_FOLDS = 20;

/**
 * The paper's appendix protocol: the labelled images in k stratified folds (`valTestFolds`); each
 * fold in turn is the validation part (1/k, 20 % for k = 5) where the best-F1 threshold (and, with
 * `chooseBeta`, β) is chosen, and the other k − 1 folds are the test part the metrics are reported
 * on. Every image is in exactly one validation part (and so in k − 1 test parts).
 */
export function crossValidate(rows: readonly ScoreRow[], options: CrossValidateOptions): CrossValidation {
  const { k, seed } = options;
  if (!Number.isInteger(k) || k < 2 || k > MAX_FOLDS) throw new EvaluationError(`--folds: k must be a whole number from 2 to ${MAX_FOLDS}, got ${k}`);
  if (!Number.isInteger(seed) || seed < 0) throw new EvaluationError(`--fold-seed: the seed must be a whole number >= 0, got ${seed}`);
  const kept = rows.filter((r) => r.label !== null);
  const { normal, anomalous, unlabeled } = countLabels(rows);
  if (normal === 0 || anomalous === 0) {
    throw new EvaluationError(
      `--folds ${k}: cross-validation needs labelled normal and anomalous images (found ${normal} normal, ${anomalous} anomalous, ${unlabeled} unlabelled); score a labelled split or leave out --folds`,
    );
  }
  // Stratified folds get floor(n / k) or ceil(n / k) images of each class; the best-F1 threshold
  // and the AUROC of a validation part need both classes, and two of each keeps them meaningful.
  const fewest = Math.min(normal, anomalous);
  if (Math.floor(fewest / k) < 2) {
    throw new EvaluationError(
      `--folds ${k}: a fold would have fewer than 2 ${normal <= anomalous ? 'normal' : 'anomalous'} images (${normal} normal, ${anomalous} anomalous in ${k} folds); ` +
        `use --folds ${Math.max(2, Math.floor(fewest / 2))} or fewer${fewest < 4 ? ' (at least 4 images of each class are needed)' : ''}`,
    );
  }
  // valTestFolds only reads `id` and `label`; the rows carry no image source, which it never touches.
  const folds = valTestFolds(kept as unknown as (ScoreRow & ImageItem)[], { seed, k });
  const per: CrossValidationFold[] = folds.map(({ val, test }, fold) => {
    const counts = (part: readonly ScoreRow[]) => ({ normal: part.filter((r) => r.label === 0).length, anomalous: part.filter((r) => r.label === 1).length });
    const vc = counts(val);
    if (vc.normal < 2 || vc.anomalous < 2) throw new EvaluationError(`--folds ${k}: fold ${fold} has ${vc.normal} normal and ${vc.anomalous} anomalous images; use fewer folds`);
    let beta = options.beta ?? null;
    let total = (r: ScoreRow) => r.total;
    if (options.chooseBeta) {
      const chosen = chooseBeta(val.map((r) => r.label!), val.map((r) => r.flow), val.map((r) => r.recon), { grid: BETA_GRID, ...(options.beta != null ? { prefer: options.beta } : {}) });
      const b = chosen.beta;
      beta = b;
      total = (r) => combineScores(r.flow, r.recon, b);
    }
    const v = labelled(val, total);
    const t = labelled(test, total);
    const threshold = bestF1Threshold(v.labels, v.scores);
    const at = atThreshold(t.labels, t.scores, threshold);
    return {
      fold,
      beta,
      threshold,
      val: vc,
      test: counts(test),
      auroc: auroc(t.labels, t.scores),
      ap: averagePrecision(t.labels, t.scores),
      f1: at.f1,
      accuracy: at.accuracy,
      sensitivity: at.sensitivity,
      specificity: at.specificity,
    };
  });
  const stat = (values: number[]) => {
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
    return { mean, std };
  };
  const keys = ['auroc', 'ap', 'f1', 'accuracy', 'sensitivity', 'specificity'] as const;
  const mean = {} as CrossValidationSummary;
  const std = {} as CrossValidationSummary;
  for (const key of keys) {
    const s = stat(per.map((p) => p[key]));
    mean[key] = s.mean;
    std[key] = s.std;
  }
  const betas = per.map((p) => p.beta);
  if (betas.every((b): b is number => b !== null)) {
    const s = stat(betas);
    mean.beta = s.mean;
    // the same β in every fold: exactly 0, not a rounding residue
    std.beta = betas.every((b) => b === betas[0]) ? 0 : s.std;
  } else {
    mean.beta = null;
    std.beta = null;
  }
  return { k, seed, chooseBeta: options.chooseBeta, images: kept.length, folds: per, mean, std };
}

/** "epoch, β and threshold": the choices in words. */
function choicesInWords(chosen: readonly SelectionChoice[]): string {
  const words = chosen.map((c) => (c === 'beta' ? 'β' : c));
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

/**
 * The one-line summary of a final part's metrics the trainer prints: "held-out AUROC …" only when
 * nothing was chosen on these images; else the AUROC says what was chosen on them (optimistic) and
 * is followed by the cross-validation inside them (the honest estimate), when there is one.
 */
export function metricsSummary(metrics: ScoreMetrics, part: string): string {
  const f = (v: number | null | undefined, digits = 4) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));
  const ci = metrics.aurocCI ? ` [${f(metrics.aurocCI.low)}, ${f(metrics.aurocCI.high)}]` : '';
  const at = `AP ${f(metrics.ap)}, F1 ${f(metrics.f1)}, sensitivity ${f(metrics.sensitivity, 3)}, specificity ${f(metrics.specificity, 3)}`;
  const chosen = metrics.chosenOnTheseImages ?? [];
  if (chosen.length === 0) {
    return `held-out AUROC ${f(metrics.auroc)}${ci} on ${part}, ${at} (threshold: ${metrics.thresholdRule}${metrics.betaRule === 'auto' ? `; β ${metrics.beta} chosen on validation` : ''})`;
  }
  const which = metrics.chosenOnImages !== undefined ? `${metrics.chosenOnImages} of these ${metrics.counts.images} images` : 'these images';
  let line = `AUROC ${f(metrics.auroc)}${ci} on ${part}, ${at} — ${choicesInWords(chosen)} chosen on ${which}: optimistic`;
  const cv = metrics.crossValidation;
  if (cv) {
    const ms = (key: keyof CrossValidationMetrics) => `${f(cv.mean[key], 3)} ± ${f(cv.std[key], 3)}`;
    const refit = cv.chooseBeta ? 'threshold and β' : 'threshold';
    line +=
      `; ${cv.k}-fold cross-validation inside them (${refit} chosen on 1/${cv.k}, measured on the rest${chosen.includes('epoch') ? '; the epoch still chosen on all' : ''}): ` +
      `AUROC ${ms('auroc')}, sensitivity ${ms('sensitivity')}, specificity ${ms('specificity')}`;
  }
  return line;
}
