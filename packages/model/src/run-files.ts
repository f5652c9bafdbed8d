import { z } from 'zod';
import { ConfigError, MODEL_KINDS, parseRunConfig, type RunConfig } from './config.js';

/**
 * The run folder's files: their names, a zod schema for each, and the text (de)serialisation —
 * browser-safe (no Node import). Reading and writing them on disk (typed reads with errors naming
 * the file, the field and the fix; atomic writes) is `RunFolder` in `@aeflow/model/node`.
 *
 * Files of the previous release are read too: `threshold.json` becomes a calibration, the two old
 * scores.csv headers (`flow,recon,total` and `flow_score,recon_score,total_score`) read as the two
 * score parts, and `scoreRun`'s old metrics.json (`averagePrecision`, `bestF1`, …) as metrics.
 */

/** File names of a run folder (and, for a scored folder, the same names for its outputs). */
export const RUN_FILES = {
  /** Every setting, resolved (preset + overrides): {@link RunConfig}. */
  config: 'config.json',
  /** The best weights so far (by validation; the last ones without validation): what scoring uses. */
  model: 'model.safetensors',
  /** The last epoch's weights + optimizer moments + loop state (epoch, step, lr, RNG): resume reads it. */
  checkpoint: 'checkpoint.safetensors',
  /** One JSON line per epoch / event: {@link HistoryRecord}. */
  history: 'history.jsonl',
  /** How the data was divided into train / validation / final parts: {@link SplitFile}. */
  split: 'split.json',
  /** The data the run saw, and the options to open it again (`--resume` with only `--out`): {@link DataFile}. */
  data: 'data.json',
  /** One row per scored image: {@link ScoreRow}, columns named by {@link scoreColumns}. */
  scores: 'scores.csv',
  /** AUROC, AP, threshold metrics, counts: {@link MetricsFile}. */
  metrics: 'metrics.json',
  /** β and the decision threshold, stored together with the rules and the scores they were fitted on: {@link CalibrationFile}. */
  calibration: 'calibration.json',
  /** Files left out (`{ count, skipped: [{ path, reason }] }`): {@link SkippedFileList}. */
  skipped: 'skipped.json',
  /** With `encoder.batchNorm: 'train-normals'`: the encoder's re-estimated BatchNorm statistics (`<conv>.mean`, `<conv>.variance`). */
  encoderBatchNorm: 'encoder-batchnorm.safetensors',
  /** The HTML report. */
  report: 'report.html',
  /** Sub-folder: the validation part scored at the end of training (its scores.csv, metrics.json, report.html). */
  validation: 'validation',
  /** The previous release's threshold file (read as a calibration; no longer written). */
  legacyThreshold: 'threshold.json',
} as const;

/** The JSON / text files of a run (the weights are safetensors: see `RunFolder.readWeights`). */
export type RunFileKind = 'config' | 'history' | 'split' | 'data' | 'scores' | 'metrics' | 'calibration' | 'skipped' | 'report';

/**
 * A run file that cannot be used: `file` names it, `field` the place in it (a dotted path, a line
 * or a column; null for the whole file), `problem` what is wrong and `fix` what to do.
 */
export class RunFileError extends Error {
  constructor(
    readonly file: string,
    readonly field: string | null,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${file}: ${field !== null ? `${field}: ` : ''}${problem}; ${fix}`);
    this.name = 'RunFileError';
  }
}

/** What to do about a bad file of each kind (the `fix` of a {@link RunFileError}). */
export const RUN_FILE_FIXES: Record<RunFileKind | 'model' | 'checkpoint', string> = {
  config: 'correct the value (settings are listed in @aeflow/model\'s README) or train a new run',
  history: 'the training history is only informative: restore the file, or delete it (a resume rewrites it from the checkpoint)',
  split: 'train the run again to rewrite it, or correct the field',
  data: 'train the run again to rewrite it, or correct the field',
  scores: 'score the run again (aeflow-score) to rewrite it',
  metrics: 'score the run again (aeflow-score) to rewrite it',
  calibration: 'score the validation part again (aeflow-score --threshold best-f1) to rewrite it, or delete it and pass --threshold',
  skipped: 'delete it: the next run or scoring rewrites it',
  report: 'score the run again to rewrite it',
  model: 'the weights file is damaged: use checkpoint.safetensors (which: "last") or train again',
  checkpoint: 'the checkpoint is damaged: start the run again without resume',
};

/** `file: field: problem; fix` for the first issues of a failed zod parse. */
export function runFileErrorFromZod(file: string, kind: keyof typeof RUN_FILE_FIXES, error: z.ZodError, prefix = ''): RunFileError {
  const issues = error.issues;
  const first = issues[0]!;
  const field = prefix + (first.path.length > 0 ? first.path.map(String).join('.') : '');
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more: ${issues.slice(1, 4).map((i) => `${i.path.map(String).join('.') || '(top level)'}: ${i.message}`).join('; ')})` : '';
  return new RunFileError(file, field === '' ? null : field, `${first.message}${more}`, RUN_FILE_FIXES[kind]);
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, file: string, kind: keyof typeof RUN_FILE_FIXES, prefix = ''): T {
  const r = schema.safeParse(value);
  if (!r.success) throw runFileErrorFromZod(file, kind, r.error, prefix);
  return r.data;
}

/** JSON.parse with the file named in the error. */
export function parseJsonText(text: string, file: string, kind: keyof typeof RUN_FILE_FIXES): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RunFileError(file, null, `not valid JSON (${(err as Error).message})`, RUN_FILE_FIXES[kind]);
  }
}

/** JSON as the run files hold it: two-space indent, a final newline. */
export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** A number as JSON stores it: NaN and ±Inf were written as null; they read back as NaN. */
const jsonNumber = z.union([z.number(), z.null()]).transform((v) => v ?? Number.NaN);

// ---------------------------------------------------------------------------------------------
// history.jsonl

const epochRecordSchema = z.looseObject({
  kind: z.literal('epoch'),
  epoch: z.number().int().min(1),
  /** Global optimisation steps done at the end of the epoch: the checkpoint's step. */
  step: z.number().int().min(0),
  lr: jsonNumber,
  loss: jsonNumber,
  flowNll: jsonNumber,
  recon: jsonNumber,
  seconds: jsonNumber,
  /** CPU time of the process during the epoch (user + system): the cost on an idle machine. */
  cpuSeconds: jsonNumber,
  imagesPerSecond: jsonNumber,
  /** Present on validation epochs; `beta`: the β chosen on this validation (`score.beta: 'auto'`), at which `value` is the AUROC. */
  validation: z.object({ metric: z.enum(['auroc', 'loss']), value: jsonNumber, beta: z.number().optional() }).optional(),
  best: z.boolean().optional(),
});
const nonfiniteRecordSchema = z.looseObject({
  kind: z.literal('nonfinite'),
  epoch: z.number().int().min(1),
  step: z.number().int().min(0),
  lr: jsonNumber,
  message: z.string(),
});
const cacheRecordSchema = z.looseObject({
  kind: z.literal('cache'),
  computed: z.number().int().min(0),
  cached: z.number().int().min(0),
  seconds: jsonNumber,
});

/** One line of `history.jsonl`. */
export const historyRecordSchema = z.discriminatedUnion('kind', [epochRecordSchema, nonfiniteRecordSchema, cacheRecordSchema]);

/** One line of `history.jsonl`: an epoch's losses and times, a non-finite step, or the feature cache fill. */
export type HistoryRecord =
  | {
      kind: 'epoch';
      epoch: number;
      /** Global optimisation steps done at the end of the epoch (the checkpoint written with it has this step). */
      step: number;
      lr: number;
      loss: number;
      flowNll: number;
      recon: number;
      seconds: number;
      /** CPU time of the process during the epoch (user + system): the cost on an idle machine. */
      cpuSeconds: number;
      imagesPerSecond: number;
      /** Present on validation epochs. `beta`: the β chosen on this validation (`score.beta: 'auto'`), at which `value` is the AUROC. */
      validation?: { metric: 'auroc' | 'loss'; value: number; beta?: number };
      best?: boolean;
    }
  | { kind: 'nonfinite'; epoch: number; step: number; lr: number; message: string }
  | { kind: 'cache'; computed: number; cached: number; seconds: number };

/** history.jsonl text: one JSON record per line, a final newline (empty text for no records). */
export function formatHistory(records: readonly HistoryRecord[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + (records.length > 0 ? '\n' : '');
}

/**
 * Parses history.jsonl. A line that is not a record is an error naming its line number — unless it
 * is the last line and `tolerateTruncatedEnd` (a file of the release before atomic writes, cut by a
 * crash), when it is returned in `truncated` instead: reported, not silently dropped.
 */
export function parseHistory(text: string, file: string = RUN_FILES.history, options: { tolerateTruncatedEnd?: boolean } = {}): { records: HistoryRecord[]; truncated: string | null } {
  const lines = text.split('\n');
  const records: HistoryRecord[] = [];
  let truncated: string | null = null;
  const last = lines.map((l) => l.trim() !== '').lastIndexOf(true);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      if (i === last && options.tolerateTruncatedEnd) {
        truncated = line;
        continue;
      }
      throw new RunFileError(file, `line ${i + 1}`, `not valid JSON (${(err as Error).message})`, RUN_FILE_FIXES.history);
    }
    records.push(parseWith(historyRecordSchema, value, file, 'history', `line ${i + 1}: `));
  }
  return { records, truncated };
}

// ---------------------------------------------------------------------------------------------
// split.json, data.json

const partIdsSchema = z.looseObject({ name: z.string(), ids: z.array(z.string()) });

/** `split.json`: how the data was divided (written by the trainer). */
export const splitFileSchema = z.looseObject({
  /** In words: where each part came from. */
  how: z.string(),
  /** The data root (absolute). */
  data: z.string(),
  /** How the root was read (a dataset kind: folder, medmnist:<name>, …). */
  dataset: z.string(),
  train: z.looseObject({ name: z.string(), images: z.number().int().min(0) }),
  validation: partIdsSchema.nullable(),
  final: partIdsSchema.nullable(),
});
export type SplitFile = z.infer<typeof splitFileSchema>;

/**
 * The options that open a run's data again, so `--resume` needs only the run folder: the root, how
 * to read it and the options of the division into parts. Extra keys are kept (an app may store more).
 */
export const dataSourceSchema = z.looseObject({
  /** The data root (absolute path, or a URL). */
  data: z.string().min(1),
  /** The dataset kind (folder, medmnist:<name>, …). */
  dataset: z.string().min(1),
  /** Class folders of normal images (folder datasets). */
  normalClasses: z.array(z.string()).optional(),
  /** Images held out when the data has no val/test split. */
  holdout: z.number().int().min(0).optional(),
  /** Files that fail to decode are skipped (and listed in skipped.json). */
  skipInvalid: z.boolean().optional(),
  /** The seed of the held-out division (the run's train.seed). */
  seed: z.number().int().optional(),
});
export type DataSource = z.infer<typeof dataSourceSchema>;

/** `data.json`: the encoder and the data the run saw, and (since this release) how to open the data again. */
export const dataFileSchema = z.looseObject({
  encoder: z.string(),
  encoderWeightsHash: z.string(),
  train: z.looseObject({ dataset: z.string(), images: z.number().int().min(0) }),
  validation: z.looseObject({ dataset: z.string(), images: z.number().int().min(0), anomalies: z.number().int().min(0) }).nullable(),
  /** Absent in runs of the previous release (those need --data again to resume). */
  source: dataSourceSchema.optional(),
});
export type DataFile = z.infer<typeof dataFileSchema>;

// ---------------------------------------------------------------------------------------------
// skipped.json

export const skippedFileListSchema = z
  .looseObject({
    count: z.number().int().min(0),
    skipped: z.array(z.looseObject({ path: z.string(), reason: z.string() })),
  })
  .refine((v) => v.count === v.skipped.length, { error: 'count must equal the number of entries in "skipped"', path: ['count'] });
export type SkippedFileList = z.infer<typeof skippedFileListSchema>;

/** skipped.json from a list of skipped files. */
export function skippedFileList(skipped: readonly { path: string; reason: string }[]): SkippedFileList {
  return { count: skipped.length, skipped: skipped.map((s) => ({ ...s })) };
}

// ---------------------------------------------------------------------------------------------
// calibration.json (β and the threshold, together)

/**
 * How β was chosen: the run's fixed `score.beta`, a given value, by AUROC on the run's validation
 * part (`auto`), or by AUROC on the images it was fitted on (`fit`: a site's calibration sample).
 */
export const BETA_RULES = ['run', 'value', 'auto', 'fit'] as const;
export type BetaRule = (typeof BETA_RULES)[number];
/**
 * How the threshold was chosen: best F1 on a labelled part, a given value, a quantile of normal
 * scores (no anomalies to choose with), or the validation calibration applied to other images.
 */
export const THRESHOLD_RULES = ['best-f1', 'value', 'normal-quantile', 'from-val'] as const;
export type ThresholdRule = (typeof THRESHOLD_RULES)[number];

/**
 * `calibration.json`: the β that combines the score parts and the threshold on the total, stored
 * once, together, with the rules that chose them, what they were fitted on and when. A threshold
 * is only meaningful at its β: readers refuse to apply it at another.
 */
const calibrationFields = {
  beta: z.number().min(0).max(1),
  betaRule: z.enum(BETA_RULES),
  threshold: z.number(),
  thresholdRule: z.enum(THRESHOLD_RULES),
  /** `normal-quantile`: the quantile of the normal scores (e.g. 0.95: about 5 % false alarms). */
  quantile: z.number().min(0).max(1).optional(),
  fittedOn: z.looseObject({
    /** The part of the data (e.g. "chest-xray val", "held-out validation"). */
    split: z.string(),
    images: z.number().int().min(0),
    normal: z.number().int().min(0).optional(),
    anomalous: z.number().int().min(0).optional(),
    /** The scores file the values were fitted on, relative to the run folder (e.g. validation/scores.csv). */
    scores: z.string().optional(),
  }),
  /** ISO 8601. For a calibration read from a previous release's threshold.json: that file's modification time. */
  date: z.string(),
  /** Set when read from a previous release's file (e.g. "threshold.json"). */
  migratedFrom: z.string().optional(),
};
export const calibrationFileSchema = z.looseObject({
  ...calibrationFields,
  /** The calibrations this one replaced, newest first (a refit for a new site keeps the old ones). */
  previous: z.array(z.looseObject(calibrationFields)).optional(),
});
export type CalibrationFile = z.infer<typeof calibrationFileSchema>;

/** The previous release's `threshold.json`. */
export const legacyThresholdFileSchema = z.looseObject({
  threshold: z.number(),
  rule: z.literal('best-f1'),
  split: z.string(),
  beta: z.number().min(0).max(1),
  betaRule: z.enum(BETA_RULES).optional(),
  images: z.number().int().min(0),
});

/** A previous release's threshold.json as a calibration (`date`: when that file was written). */
export function calibrationFromLegacyThreshold(value: unknown, file: string, date: string): CalibrationFile {
  const t = parseWith(legacyThresholdFileSchema, value, file, 'calibration');
  return {
    beta: t.beta,
    // files before betaRule existed: β was the run's fixed one
    betaRule: t.betaRule ?? 'run',
    threshold: t.threshold,
    thresholdRule: t.rule,
    fittedOn: { split: t.split, images: t.images, scores: `${RUN_FILES.validation}/${RUN_FILES.scores}` },
    date,
    migratedFrom: RUN_FILES.legacyThreshold,
  };
}

// ---------------------------------------------------------------------------------------------
// metrics.json

const nullableNumber = z.number().nullable();
/** What a run chooses on its validation part: the checkpoint's epoch, β (`score.beta: 'auto'`) and the decision threshold. */
export const SELECTION_CHOICES = ['epoch', 'beta', 'threshold'] as const;
export type SelectionChoice = (typeof SELECTION_CHOICES)[number];

const crossValidationSummary = z.looseObject({ auroc: z.number(), ap: z.number(), f1: z.number(), accuracy: z.number(), sensitivity: z.number(), specificity: z.number(), beta: z.number().nullable() });

/**
 * `metrics.json`. The first keys are fixed (outside scripts read them); a value that cannot be
 * computed on the data (AUROC with one class) is null, never absent.
 */
export const metricsFileSchema = z.looseObject({
  auroc: nullableNumber,
  /** DeLong 95 % interval of the AUROC. */
  aurocCI: z.object({ low: z.number(), high: z.number() }).nullable(),
  ap: nullableNumber,
  threshold: nullableNumber,
  f1: nullableNumber,
  accuracy: nullableNumber,
  sensitivity: nullableNumber,
  specificity: nullableNumber,
  counts: z.looseObject({
    images: z.number().int().min(0),
    normal: z.number().int().min(0),
    anomalous: z.number().int().min(0),
    unlabeled: z.number().int().min(0),
    tp: nullableNumber,
    fp: nullableNumber,
    tn: nullableNumber,
    fn: nullableNumber,
    predictedAnomalous: nullableNumber,
  }),
  thresholdRule: z.enum(THRESHOLD_RULES),
  beta: nullableNumber,
  betaRule: z.enum(BETA_RULES).nullable(),
  /** AUROC of the total at β = 0, 0.05, …, 1 from the stored parts. */
  betaSweep: z.array(z.object({ beta: z.number(), auroc: z.number() })).nullable(),
  /** The paper's appendix protocol (`--folds`), when asked for. */
  crossValidation: z
    .looseObject({
      k: z.number().int(),
      seed: z.number().int(),
      chooseBeta: z.boolean(),
      images: z.number().int(),
      folds: z.array(z.looseObject({ fold: z.number().int() })),
      mean: crossValidationSummary,
      std: crossValidationSummary,
    })
    .optional(),
  /**
   * What was chosen on the very images these metrics are measured on (the trainer with a
   * validation part and no separate test part): the numbers are then optimistic, and
   * `crossValidation` is the honest estimate. Absent: the images were held out from every choice.
   */
  chosenOnTheseImages: z.array(z.enum(SELECTION_CHOICES)).optional(),
  /** How many of the scored images those choices were made on, when not all of them (a re-score that includes the run's calibration images). */
  chosenOnImages: z.number().int().positive().optional(),
  /** Set when read from a previous release's file. */
  migratedFrom: z.string().optional(),
});
export type MetricsFile = z.infer<typeof metricsFileSchema>;

/** The metrics.json `scoreRun` wrote in the previous release. */
export const legacyScoreRunMetricsSchema = z.looseObject({
  auroc: z.number(),
  averagePrecision: z.number(),
  bestF1: z.looseObject({
    threshold: z.number(),
    f1: z.number(),
    accuracy: z.number(),
    sensitivity: z.number(),
    specificity: z.number(),
    tp: z.number(),
    fp: z.number(),
    tn: z.number(),
    fn: z.number(),
  }),
  normals: z.number().int(),
  anomalies: z.number().int(),
  threshold: z.number().optional(),
  beta: z.number(),
});

/**
 * Parses metrics.json: the current form, or `scoreRun`'s form of the previous release (its numbers
 * at its best-F1 threshold; no interval and no sweep: null).
 */
export function parseMetrics(value: unknown, file: string = RUN_FILES.metrics): MetricsFile {
  if (value && typeof value === 'object' && 'averagePrecision' in value && 'bestF1' in value) {
    const m = parseWith(legacyScoreRunMetricsSchema, value, file, 'metrics');
    const threshold = m.threshold ?? m.bestF1.threshold;
    const atBest = threshold === m.bestF1.threshold;
    return {
      auroc: m.auroc,
      aurocCI: null,
      ap: m.averagePrecision,
      threshold,
      f1: atBest ? m.bestF1.f1 : null,
      accuracy: atBest ? m.bestF1.accuracy : null,
      sensitivity: atBest ? m.bestF1.sensitivity : null,
      specificity: atBest ? m.bestF1.specificity : null,
      counts: {
        images: m.normals + m.anomalies,
        normal: m.normals,
        anomalous: m.anomalies,
        unlabeled: 0,
        tp: atBest ? m.bestF1.tp : null,
        fp: atBest ? m.bestF1.fp : null,
        tn: atBest ? m.bestF1.tn : null,
        fn: atBest ? m.bestF1.fn : null,
        predictedAnomalous: atBest ? m.bestF1.tp + m.bestF1.fp : null,
      },
      thresholdRule: atBest ? 'best-f1' : 'value',
      beta: m.beta,
      betaRule: null,
      betaSweep: null,
      migratedFrom: 'scoreRun metrics.json (previous release)',
    };
  }
  return parseWith(metricsFileSchema, value, file, 'metrics');
}

// ---------------------------------------------------------------------------------------------
// scores.csv

/**
 * What the score's first part (the one β weighs) holds: the flow's prior density per dimension
 * (`score.flow: 'density'`, negated), its NLL per dimension (`'nll'`), the kNN distance of the
 * pooled z′ (`'knn'`), that distance plus the synthetic-anomaly head's logit, each standardised on
 * the training normals (`'knn'` with `score.synthetic: 'nsa'`), or the `knn` model's distance of the
 * pooled encoder features. `flow`: a previous release's file, which did not say.
 */
export const PRIMARY_SCORE_COLUMNS = ['flow_density', 'flow_nll', 'latent_knn_distance', 'latent_knn_nsa', 'feature_knn_distance', 'flow'] as const;
/** What the second part (weighed by 1 − β) holds: −SSIM(x, x′). `recon`: a previous release's file. */
export const RECON_SCORE_COLUMNS = ['neg_ssim', 'recon'] as const;
export type PrimaryScoreColumn = (typeof PRIMARY_SCORE_COLUMNS)[number];
export type ReconScoreColumn = (typeof RECON_SCORE_COLUMNS)[number];

/**
 * The columns of a scores.csv: which of the score's two parts a model has and what each holds
 * (null: the model has no such part; the row holds 0 for it, as the model computes it).
 */
export interface ScoreColumns {
  flow: PrimaryScoreColumn | null;
  recon: ReconScoreColumn | null;
}

/** The score columns of a model configuration (what {@link formatScoresCsv} names its parts). */
export function scoreColumns(config: Pick<RunConfig, 'model'> & { score: Pick<RunConfig['score'], 'flow'> & Partial<Pick<RunConfig['score'], 'synthetic'>> }): ScoreColumns {
  const { model } = config;
  if (!(MODEL_KINDS as readonly string[]).includes(model)) throw new Error(`scoreColumns: unknown model kind "${model}"`);
  if (model === 'knn') return { flow: 'feature_knn_distance', recon: null };
  const flow: PrimaryScoreColumn | null = model === 'ae' ? null : config.score.flow === 'nll' ? 'flow_nll' : config.score.flow === 'knn' ? (config.score.synthetic !== undefined && config.score.synthetic !== 'none' ? 'latent_knn_nsa' : 'latent_knn_distance') : 'flow_density';
  return { flow, recon: model === 'fastflow' ? null : 'neg_ssim' };
}

/**
 * One scored image: the row of scores.csv. `flow` and `recon` are the two parts of the total,
 * S = β·flow + (1 − β)·recon (the paper's S_flow and S_recon); what each holds for a model kind is
 * named by its {@link ScoreColumns} (for the `knn` model `flow` is the kNN distance).
 */
export interface ScoreRow {
  id: string;
  /** 0 normal, 1 anomalous, null unknown. */
  label: 0 | 1 | null;
  flow: number;
  recon: number;
  total: number;
  /** 1 where total >= threshold, else 0; null without a threshold. */
  predicted: 0 | 1 | null;
}

/** A CSV field per RFC 4180: quoted when it holds a comma, quote, line break or edge space. */
export function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The header of a scores.csv with these columns: id, label, the parts the model has, total, predicted. */
export function scoresCsvHeader(columns: ScoreColumns): string[] {
  return ['id', 'label', ...(columns.flow ? [columns.flow] : []), ...(columns.recon ? [columns.recon] : []), 'total', 'predicted'];
}

/** scores.csv text: numbers as JavaScript prints them (they read back exactly), empty label/predicted when unknown. */
export function formatScoresCsv(rows: readonly ScoreRow[], columns: ScoreColumns): string {
  const lines = [scoresCsvHeader(columns).join(',')];
  for (const r of rows) {
    lines.push([csvField(r.id), r.label ?? '', ...(columns.flow ? [r.flow] : []), ...(columns.recon ? [r.recon] : []), r.total, r.predicted ?? ''].join(','));
  }
  return lines.join('\n') + '\n';
}

/** RFC 4180 records of a CSV text (quoted fields may hold commas, quotes and line breaks); each with its 1-based line. */
export function parseCsvRecords(text: string): { fields: string[]; line: number }[] {
  const out: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let atFieldStart = true;
  let line = 1;
  let recordLine = 1;
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '')) out.push({ fields, line: recordLine });
    fields = [];
    field = '';
    atFieldStart = true;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && atFieldStart) {
      quoted = true;
      atFieldStart = false;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
      atFieldStart = true;
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else {
      field += ch;
      atFieldStart = false;
    }
  }
  if (quoted) throw new Error(`a quoted field opened on line ${recordLine} is never closed`);
  if (field !== '' || fields.length > 0) endRecord();
  return out;
}

const HEADER_ALIASES: Record<string, string> = {
  // scoreRun of the previous release
  flow_score: 'flow',
  recon_score: 'recon',
  total_score: 'total',
};

/**
 * Parses a scores.csv: this release's header (parts named by what they hold), or either header of
 * the previous release (`id,label,flow,recon,total,predicted` from the scorer,
 * `id,label,flow_score,recon_score,total_score,predicted` from `scoreRun`), whose parts read as the
 * unnamed `flow` / `recon`. Every error names the file, the line and the column.
 */
export function parseScoresCsv(text: string, file: string = RUN_FILES.scores): { rows: ScoreRow[]; columns: ScoreColumns } {
  let records: { fields: string[]; line: number }[];
  try {
    records = parseCsvRecords(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new RunFileError(file, null, (err as Error).message, RUN_FILE_FIXES.scores);
  }
  if (records.length === 0) throw new RunFileError(file, null, 'empty: no header line', RUN_FILE_FIXES.scores);
  const header = records[0]!.fields.map((h) => HEADER_ALIASES[h.trim()] ?? h.trim());
  const index = (name: string) => header.indexOf(name);
  for (const required of ['id', 'label', 'total']) {
    if (index(required) < 0) throw new RunFileError(file, 'line 1 (header)', `no "${required}" column (header: ${records[0]!.fields.join(',')})`, RUN_FILE_FIXES.scores);
  }
  const flowNames = header.filter((h) => (PRIMARY_SCORE_COLUMNS as readonly string[]).includes(h));
  const reconNames = header.filter((h) => (RECON_SCORE_COLUMNS as readonly string[]).includes(h));
  if (flowNames.length > 1 || reconNames.length > 1) {
    throw new RunFileError(file, 'line 1 (header)', `more than one column for a score part (${[...flowNames, ...reconNames].join(', ')})`, RUN_FILE_FIXES.scores);
  }
  if (flowNames.length === 0 && reconNames.length === 0) {
    throw new RunFileError(file, 'line 1 (header)', `no score part column: expected one of ${[...PRIMARY_SCORE_COLUMNS, ...RECON_SCORE_COLUMNS].join(', ')}`, RUN_FILE_FIXES.scores);
  }
  const columns: ScoreColumns = { flow: (flowNames[0] as PrimaryScoreColumn | undefined) ?? null, recon: (reconNames[0] as ReconScoreColumn | undefined) ?? null };
  const iId = index('id');
  const iLabel = index('label');
  const iTotal = index('total');
  const iPredicted = index('predicted');
  const iFlow = columns.flow ? index(columns.flow) : -1;
  const iRecon = columns.recon ? index(columns.recon) : -1;
  const rows: ScoreRow[] = [];
  for (const { fields, line } of records.slice(1)) {
    if (fields.length !== header.length) throw new RunFileError(file, `line ${line}`, `${fields.length} fields, the header has ${header.length}`, RUN_FILE_FIXES.scores);
    const where = (col: number) => `line ${line}, column "${header[col]}"`;
    const num = (col: number): number => {
      const s = fields[col]!.trim();
      const v = Number(s);
      if (s === '' || (Number.isNaN(v) && s !== 'NaN')) throw new RunFileError(file, where(col), `"${fields[col]}" is not a number`, RUN_FILE_FIXES.scores);
      return v;
    };
    const label01 = (col: number): 0 | 1 | null => {
      if (col < 0) return null;
      const s = fields[col]!.trim();
      if (s === '') return null;
      if (s === '0' || s === '1') return Number(s) as 0 | 1;
      throw new RunFileError(file, where(col), `"${fields[col]}" is not 0, 1 or empty`, RUN_FILE_FIXES.scores);
    };
    rows.push({
      id: fields[iId]!,
      label: label01(iLabel),
      flow: iFlow >= 0 ? num(iFlow) : 0,
      recon: iRecon >= 0 ? num(iRecon) : 0,
      total: num(iTotal),
      predicted: label01(iPredicted),
    });
  }
  return { rows, columns };
}

// ---------------------------------------------------------------------------------------------
// safetensors metadata of model.safetensors and checkpoint.safetensors

/** `model.safetensors`' metadata. */
export const modelMetadataSchema = z.looseObject({
  format: z.literal('aeflow-model'),
  epoch: z.string().regex(/^\d+$/),
  /** Absent in the earliest files. */
  model: z.enum(MODEL_KINDS).optional(),
  /** The run's config.json, as JSON text (absent in the earliest files). */
  config: z.string().optional(),
  /** `score.beta: 'auto'`: the β chosen on validation for these weights. */
  beta: z.string().optional(),
});
export type ModelMetadata = z.infer<typeof modelMetadataSchema>;

/** The training loop's state (in the checkpoint's metadata `state`). */
export const loopStateSchema = z.looseObject({
  epoch: z.number().int().min(0),
  step: z.number().int().min(0),
  lr: z.number(),
  optimizerStep: z.number().int().min(0),
  /** The RNG state at the start of epoch `epoch + 1` (`SeededRandom.getState()`; its NaN is stored as null). */
  rng: z.array(z.number().nullable()),
  best: z.object({ epoch: z.number().int(), metric: z.enum(['auroc', 'loss']), value: jsonNumber, beta: z.number().optional() }).nullable(),
  beta: z.number().optional(),
  partial: z
    .object({
      epoch: z.number().int(),
      batch: z.number().int(),
      sumLoss: z.number(),
      sumFlow: z.number(),
      sumRecon: z.number(),
      seen: z.number(),
      seconds: z.number(),
      cpuSeconds: z.number(),
    })
    .nullable()
    .optional(),
});
export type LoopState = z.infer<typeof loopStateSchema>;

/** `checkpoint.safetensors`' metadata. */
export const checkpointMetadataSchema = z.looseObject({
  format: z.literal('aeflow-checkpoint'),
  epoch: z.string().regex(/^\d+$/),
  /** {@link LoopState} as JSON text. */
  state: z.string(),
  /** The history records up to this checkpoint, as JSON text (absent in the previous release's checkpoints). */
  history: z.string().optional(),
});
export type CheckpointMetadata = z.infer<typeof checkpointMetadataSchema>;

/** Parses a checkpoint's metadata into its loop state (and history when it carries it). */
export function parseCheckpointMetadata(metadata: Record<string, string>, file: string = RUN_FILES.checkpoint): { state: LoopState; history: HistoryRecord[] | null } {
  const m = parseWith(checkpointMetadataSchema, metadata, file, 'checkpoint', 'metadata.');
  const state = parseWith(loopStateSchema, parseJsonText(m.state, `${file} (metadata.state)`, 'checkpoint'), file, 'checkpoint', 'metadata.state.');
  const history = m.history !== undefined ? parseHistory(m.history, `${file} (metadata.history)`).records : null;
  return { state, history };
}

/** Parses model.safetensors' metadata. */
export function parseModelMetadata(metadata: Record<string, string>, file: string = RUN_FILES.model): ModelMetadata {
  return parseWith(modelMetadataSchema, metadata, file, 'model', 'metadata.');
}

// ---------------------------------------------------------------------------------------------
// The text files, one table

/** What each text file of a run holds, as read and as written. */
export interface RunFileContent {
  config: RunConfig;
  history: HistoryRecord[];
  split: SplitFile;
  data: DataFile;
  scores: { rows: ScoreRow[]; columns: ScoreColumns };
  metrics: MetricsFile;
  calibration: CalibrationFile;
  skipped: SkippedFileList;
  report: string;
}

/** Parses and formats a text file of a run (file names in errors are the caller's `file`). */
export interface RunFileCodec<T> {
  readonly name: string;
  parse(text: string, file: string): T;
  format(value: T): string;
}

function jsonCodec<T>(kind: RunFileKind, name: string, parse: (value: unknown, file: string) => T): RunFileCodec<T> {
  return {
    name,
    parse: (text, file) => parse(parseJsonText(text, file, kind), file),
    format: (value) => formatJson(value),
  };
}

/** config.json validated by `parseRunConfig`, its error as a {@link RunFileError}. */
export function parseConfigFile(value: unknown, file: string = RUN_FILES.config): RunConfig {
  try {
    return parseRunConfig(value, file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const [first, ...rest] = err.issues;
    const colon = first?.indexOf(': ') ?? -1;
    const field = first && colon > 0 && !first.startsWith('unknown key') ? first.slice(0, colon) : null;
    const problem = (field !== null ? first!.slice(colon + 2) : (first ?? 'invalid')) + (rest.length > 0 ? ` (and: ${rest.join('; ')})` : '');
    throw new RunFileError(file, field, problem, RUN_FILE_FIXES.config);
  }
}

/** Codecs of the text files: `RunFolder` reads and writes through these. */
export const RUN_FILE_CODECS: { readonly [K in RunFileKind]: RunFileCodec<RunFileContent[K]> } = {
  config: jsonCodec('config', RUN_FILES.config, parseConfigFile),
  history: { name: RUN_FILES.history, parse: (text, file) => parseHistory(text, file).records, format: formatHistory },
  split: jsonCodec('split', RUN_FILES.split, (v, file) => parseWith(splitFileSchema, v, file, 'split')),
  data: jsonCodec('data', RUN_FILES.data, (v, file) => parseWith(dataFileSchema, v, file, 'data')),
  scores: { name: RUN_FILES.scores, parse: (text, file) => parseScoresCsv(text, file), format: (v) => formatScoresCsv(v.rows, v.columns) },
  metrics: jsonCodec('metrics', RUN_FILES.metrics, (v, file) => parseMetrics(v, file)),
  calibration: jsonCodec('calibration', RUN_FILES.calibration, (v, file) => parseWith(calibrationFileSchema, v, file, 'calibration')),
  skipped: jsonCodec('skipped', RUN_FILES.skipped, (v, file) => parseWith(skippedFileListSchema, v, file, 'skipped')),
  report: { name: RUN_FILES.report, parse: (text) => text, format: (v) => v },
};
