import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { SkippedFile } from '@aeflow/datasets';
import { trainingData, type Part, type TrainingData } from '@aeflow/datasets/node';
import { parseRunConfig, resolveConfig, RUN_FILES, skippedFileList, type DataSource, type RunConfig, type SelectionChoice } from '@aeflow/model';
import { trainRun, type TrainEvent, type TrainResult } from '@aeflow/model/node';
import { RunFolder } from '@aeflow/model/node';
import type { ScoreMetrics } from './evaluate.js';
import type { ThresholdOption } from './outputs.js';
import { scoreToFolder } from './score-to-folder.js';
import { pathExists } from '@aeflow/tensor/node';

/** Where the data of a run comes from and how it is divided (the trainer's --data, --dataset, --normal, --holdout, --skip-invalid). */
export interface DataSourceOptions {
  /** A dataset root (`<root>/<split>/<CLASS>/…`), a MedMNIST `.npz` or its folder, an ISIC or BraTS root. */
  data: string;
  /** How to read it (`DATASET_KINDS`; default 'folder'). */
  dataset?: string;
  /** Class folders of normal images (folder, miic; default ['NORMAL']). */
  normalClasses?: readonly string[];
  /** Normal (and as many anomalous) images held out when the data has no val/test split (default 200). */
  holdout?: number;
  /** Skip (and list in skipped.json) files that fail to decode instead of stopping. */
  skipInvalid?: boolean;
}

/** What `trainAndEvaluate` reports as it goes (no console writes: the caller shows what it likes). */
export type WorkflowEvent =
  | TrainEvent
  | { type: 'data'; how: string; train: number; validation: number; final: number; description: string }
  | { type: 'skipped'; count: number; skipped: SkippedFile[] }
  | { type: 'scoring'; part: 'validation' | 'final'; done: number; total: number };

export interface TrainAndEvaluateOptions {
  /** The run folder (created; refused when it holds a run already, unless `resume`). */
  out: string;
  /**
   * The data. Stored in the run (data.json's `source`), so with `resume` it may be left out: the
   * run reopens the data it was trained on.
   */
  data?: DataSourceOptions;
  /** Preset name + overrides (see @aeflow/model's `resolveConfig`); not allowed with `resume`. */
  config?: Record<string, unknown>;
  /** Continue the run in `out` from its last checkpoint, with its own config.json. */
  resume?: boolean;
  /** Train until this epoch (default: train.epochs; with `resume`, to go further). */
  epochs?: number;
  /** Stop after the first epoch that ends past this many seconds (a checkpoint is written). */
  maxSeconds?: number;
  /** Feature cache root; null: in memory only (default: the writable aeflow cache). */
  cacheDir?: string | null;
  /** Stops after the current step (Ctrl-C); what was finished is kept and `resume` continues. */
  signal?: AbortSignal;
  onEvent?: (event: WorkflowEvent) => void;
  /** Page title of the reports (default: the run folder). */
  title?: string;
}

export interface TrainAndEvaluateResult {
  runDir: string;
  config: RunConfig;
  /** 'aborted': interrupted (nothing scored; `resume` continues); 'time': `maxSeconds` reached (scored). */
  stopped: TrainResult['stopped'];
  epoch: number;
  step: number;
  partialEpoch: TrainResult['partialEpoch'];
  seconds: number;
  best: TrainResult['best'];
  /**
   * Metrics of the final part (the held-out test, else the validation part); null when nothing was
   * scored. When the final part is the validation part, `metrics.chosenOnTheseImages` lists what was
   * chosen on it (optimistic numbers) and `metrics.crossValidation` holds the honest estimate: the
   * paper's protocol inside it (5 stratified folds; each picks the threshold, and β with
   * `score.beta: 'auto'`, on 1/5 and is measured on the other 4/5).
   */
  metrics: ScoreMetrics | null;
  skipped: SkippedFile[];
  data: { how: string; train: number; validation: number; final: number };
  /** What the final part is (e.g. `…/chest-xray/val`), null without one. */
  finalPart: string | null;
}

/** Thrown when the run folder and the request do not fit (a run already there, nothing to resume). */
export class RunFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunFolderError';
  }
}

/** The data options a run stored (data.json's `source`), to resume it with only its folder. */
export async function storedDataSource(runDir: string): Promise<DataSource | null> {
  const data = await new RunFolder(resolve(runDir)).readIfExists('data');
  if (!data) return null;
  if (!data.source) {
    throw new RunFolderError(`${join(resolve(runDir), RUN_FILES.data)} does not say where the data is (a run of an earlier release): give --data (and --dataset, --normal, --holdout as when it was started) to resume it`);
  }
  return data.source;
}

/**
 * A threshold flagging at most a fraction 1 − q of these normal scores (anomalous where score >=
 * threshold): about 5 % false alarms for q = 0.95, when no anomalies are known to choose with.
 */

/**
 * What the run chose on the images of its final part: the epoch (validation picked the best of
 * several), β (`score.beta: 'auto'`) and the threshold, when the final part is the validation part;
 * only the threshold (from the final part's normals) when that part has no anomalies. Empty: held out.
 */
export function chosenOnFinalPart(run: { config: RunConfig; epochs: number; validated: boolean; finalIsValidation: boolean; thresholdOnFinal: boolean }): SelectionChoice[] {
  const chosen: SelectionChoice[] = [];
  if (run.finalIsValidation) {
    // a memory model (knn) is filled once: there is no epoch to choose
    if (run.validated && run.config.model !== 'knn' && run.epochs > 1) chosen.push('epoch');
    if (run.config.score.beta === 'auto') chosen.push('beta');
  }
  if (run.thresholdOnFinal) chosen.push('threshold');
  return chosen;
}

/**
 * Folds of the cross-validation inside a validation part that is also scored: 5 (the paper's
 * appendix protocol: 1/5 validation, 4/5 test), fewer when a class has under 10 images (each fold
 * needs 2 of each class), null under 4.
 */
export function crossValidationFolds(part: Part): number | null {
  const normal = part.items.filter((i) => i.label === 0).length;
  const anomalous = part.items.filter((i) => i.label === 1).length;
  const k = Math.min(5, Math.floor(Math.min(normal, anomalous) / 2));
  return k >= 2 ? k : null;
}

/**
 * What `aeflow-train` does, as one call: opens the data and divides it (the data's own val/test
 * splits, else a seeded hold-out carved from train), trains (or resumes), then scores what was held
 * out — β (with `score.beta: 'auto'`) and the best-F1 threshold are chosen on the validation part and
 * applied unchanged to the final part — and writes split.json, scores.csv, metrics.json,
 * calibration.json (β and the threshold), report.html (and validation/…, skipped.json) into the run folder.
 */
export async function trainAndEvaluate(options: TrainAndEvaluateOptions): Promise<TrainAndEvaluateResult> {
  const out = resolve(options.out);
  const emit = (e: WorkflowEvent) => options.onEvent?.(e);
  const configPath = join(out, RUN_FILES.config);
  let config: RunConfig;
  if (options.resume) {
    if (!(await pathExists(configPath))) throw new RunFolderError(`${out} holds no run to resume (no ${RUN_FILES.config}); start one without resume`);
    if (options.config !== undefined) throw new RunFolderError(`resume continues ${out} with its own ${RUN_FILES.config}; give no config`);
    config = parseRunConfig(JSON.parse(await readFile(configPath, 'utf8')), configPath);
  } else {
    if (await pathExists(configPath)) throw new RunFolderError(`${out} already holds a run; continue it with --resume or choose another --out`);
    config = resolveConfig(options.config ?? {}, 'config');
  }

  const source = options.data ?? (options.resume ? await storedDataSource(out) : null);
  if (!source) {
    throw new RunFolderError(
      options.resume
        ? `${out} has not stored its data options yet (it was interrupted before training began): give --data (and --dataset, --normal, --holdout as when it was started) to resume it`
        : 'no data: give the data to train on (--data)',
    );
  }
  const skipInvalid = source.skipInvalid ?? false;
  const data: TrainingData = await trainingData({
    data: source.data,
    dataset: source.dataset ?? 'folder',
    normalClasses: source.normalClasses ?? ['NORMAL'],
    skipInvalid,
    holdout: source.holdout ?? 200,
    seed: config.train.seed,
  });
  const counts = { how: data.how, train: data.train.items.length, validation: data.validation?.items.length ?? 0, final: data.final?.items.length ?? 0 };
  const description = `${data.how}; train ${counts.train} images${data.validation ? `, validation ${counts.validation}` : ''}${data.final && data.final !== data.validation ? `, final test ${counts.final}` : ''}`;
  emit({ type: 'data', ...counts, description });

  // --skip-invalid: the datasets skip files that fail to decode as they are loaded (the model's
  // feature cache decodes each once; scoring skips them too) and list them in dataset.skipped.
  const skipped: SkippedFile[] = [...data.skipped];
  const announced = new Set<string>();
  const collectSkipped = async (more: readonly SkippedFile[] = []) => {
    if (!skipInvalid) return;
    const parts = [data.train, data.validation, data.final].filter((p): p is Part => p !== null);
    for (const s of [...parts.flatMap((p) => p.dataset.skipped), ...more]) if (!skipped.some((k) => k.path === s.path)) skipped.push(s);
    await new RunFolder(out).write('skipped', skippedFileList(skipped));
    const fresh = skipped.filter((s) => !announced.has(s.path));
    for (const s of fresh) announced.add(s.path);
    if (fresh.length > 0) emit({ type: 'skipped', count: skipped.length, skipped: fresh });
  };

  await new RunFolder(out).write('split', {
    how: data.how,
    data: resolve(source.data),
    dataset: source.dataset ?? 'folder',
    train: { name: data.train.name, images: data.train.items.length },
    validation: data.validation ? { name: data.validation.name, ids: data.validation.items.map((i) => i.id) } : null,
    final: data.final ? { name: data.final.name, ids: data.final.items.map((i) => i.id) } : null,
  });

  const epochs = config.model === 'knn' ? 1 : (options.epochs ?? config.train.epochs);
  const result = await trainRun({
    runDir: out,
    ...(options.resume ? {} : { config: options.config ?? {} }),
    train: { dataset: data.train.dataset, items: data.train.items },
    ...(data.validation ? { validation: { dataset: data.validation.dataset, items: data.validation.items } } : {}),
    resume: options.resume ?? false,
    dataSource: {
      data: resolve(source.data),
      dataset: source.dataset ?? 'folder',
      normalClasses: [...(source.normalClasses ?? ['NORMAL'])],
      holdout: source.holdout ?? 200,
      skipInvalid,
      seed: config.train.seed,
    },
    epochs,
    ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}),
    ...(options.maxSeconds !== undefined ? { maxSeconds: options.maxSeconds } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    onEvent: (e) => emit(e),
  });
  await collectSkipped(result.skipped);
  const done = (metrics: ScoreMetrics | null): TrainAndEvaluateResult => ({
    runDir: out,
    config: result.config,
    stopped: result.stopped,
    epoch: result.epoch,
    step: result.step,
    partialEpoch: result.partialEpoch,
    seconds: result.seconds,
    best: result.best,
    metrics,
    skipped,
    data: counts,
    finalPart: data.final?.name ?? null,
  });
  if (result.stopped === 'aborted' || !data.final) return done(null);

  // Score what was held out: the threshold is chosen on validation (best F1) and applied to the final part.
  const title = options.title ?? options.out;
  const scoreOpts = { runDir: out, skipInvalid, ...(options.signal ? { signal: options.signal } : {}) };
  const progress = (part: 'validation' | 'final') => (phase: string, d: number, t: number) => {
    if (phase === 'score') emit({ type: 'scoring', part, done: d, total: t });
  };
  const finalIsValidation = data.final === data.validation;
  const hasBoth = (p: Part) => p.items.some((i) => i.label === 0) && p.items.some((i) => i.label === 1);
  let threshold: ThresholdOption = 'best-f1';
  if (data.validation && !finalIsValidation && hasBoth(data.validation)) {
    await scoreToFolder({ ...scoreOpts, dataset: data.validation.dataset, items: data.validation.items, dataName: data.validation.name, out: join(out, 'validation'), threshold: 'best-f1', writeThresholdTo: out, examplesPerGroup: 2, title: `${title} · validation`, onProgress: progress('validation') });
    threshold = 'from-val';
  } else if (!hasBoth(data.final)) {
    // No anomalies to choose a threshold with: flag the top 5 % of normal scores.
    threshold = { quantile: 0.95 };
  }
  const chosen = chosenOnFinalPart({ config: result.config, epochs: result.epoch, validated: result.best !== null, finalIsValidation, thresholdOnFinal: threshold !== 'from-val' });
  const folds = finalIsValidation && hasBoth(data.final) ? crossValidationFolds(data.final) : null;
  const scored = await scoreToFolder({
    ...scoreOpts,
    dataset: data.final.dataset,
    items: data.final.items,
    dataName: data.final.name,
    out,
    threshold,
    // the threshold chosen on this part is the run's calibration (best F1, or the normal quantile)
    ...((finalIsValidation && threshold === 'best-f1') || typeof threshold === 'object' ? { writeThresholdTo: out } : {}),
    ...(chosen.length > 0 ? { chosenOnTheseImages: chosen } : {}),
    ...(folds !== null ? { crossValidation: { k: folds, seed: 0, chooseBeta: result.config.score.beta === 'auto' } } : {}),
    title,
    onProgress: progress('final'),
  });
  await collectSkipped(scored.skipped);
  return done(scored.metrics);
}
