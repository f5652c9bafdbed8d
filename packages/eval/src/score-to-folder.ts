import { readFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { ImageDataset, ImageItem, SkippedFile } from '@aeflow/datasets';
import { chooseBeta, RUN_FILES, scoreColumns, skippedFileList, type AEFlow, type CalibrationFile, type SelectionChoice } from '@aeflow/model';
import { loadRun } from '@aeflow/model/node';
import { RunFolder } from '@aeflow/model/node';
import { createImageScorer, type ImageScorer, type ScoreRuntime } from '@aeflow/onnx/node';
import { imageToPng, mapScale, mapToPng, overlayToPng, renderReport, selectExamples, type ReportGroup } from '@aeflow/report';
import { writeFileAtomic } from '@aeflow/tensor/node';
import { describeCalibration, withoutPrevious } from './calibration.js';
import { bestF1Threshold, countLabels, crossValidate, evaluateScores, EvaluationError, scoreQuantile, type BetaRule, type ScoreMetrics, type ScoreRow, type ThresholdChoice } from './evaluate.js';
import { combineScores, OUTPUT_FILES, safeFileStem, type ThresholdOption } from './outputs.js';
import { InterruptedError } from './exit-codes.js';
import { scoreItems, type ImageMaps } from './score.js';

/** The run's validation scores (`<run>/validation/scores.csv`, written by aeflow-train), or null when there are none. */
export async function readValidationScores(runDir: string): Promise<ScoreRow[] | null> {
  return (await new RunFolder(runDir).validation().readIfExists('scores'))?.rows ?? null;
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

/** `history.jsonl` of a run, parsed (bad lines are left out: a report is still useful). */
export async function readHistory(runDir: string): Promise<Record<string, unknown>[]> {
  const text = await readIfExists(join(runDir, RUN_FILES.history));
  if (!text) return [];
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (v && typeof v === 'object') out.push(v as Record<string, unknown>);
    } catch {
      // a line cut by a crash before atomic writes existed; skip it
    }
  }
  return out;
}

/**
 * What a run chose on the images scored again here, when its calibration (β and the threshold) is
 * used: the threshold; β when the calibration chose it (auto / fit); the epoch when the calibration
 * images are the run's validation part (the trainer kept the epoch that scored best on them). The
 * same image: the same id, or — for the trainer's validation part, whose data root the run stores
 * — the same file (so `val/` scored from its own folder, ids `NORMAL/x.jpeg`, still counts). Ids
 * are not matched by their tails alone: `train/NORMAL/img_0.png` and a calibration sample's
 * `NORMAL/img_0.png` are different images. None found, or the calibration's scores gone: nothing.
 */
export async function choicesMadeOn(runDir: string, calibration: Pick<CalibrationFile, 'betaRule'> & { fittedOn: Pick<CalibrationFile['fittedOn'], 'split' | 'scores'> }, scored: readonly { id: string; path?: string }[]): Promise<{ choices: SelectionChoice[]; images: number }> {
  const none = { choices: [], images: 0 };
  const scores = calibration.fittedOn.scores;
  if (scores === undefined) return none;
  const path = join(runDir, scores);
  if (basename(path) !== RUN_FILES.scores) return none;
  const fitted = (await new RunFolder(dirname(path)).readIfExists('scores').catch(() => null))?.rows.map((r) => r.id) ?? [];
  const run = new RunFolder(runDir);
  const data = await run.readIfExists('data').catch(() => null);
  const onValidation = data?.validation != null && data.validation.dataset === calibration.fittedOn.split;
  const root = onValidation && data.source ? resolve(data.source.data) : null;
  const ids = new Set(fitted);
  const files = new Set(root ? fitted.map((id) => resolve(root, id)) : []);
  const images = scored.filter((r) => ids.has(r.id) || (r.path !== undefined && files.has(resolve(r.path)))).length;
  if (images === 0) return none;
  const choices: SelectionChoice[] = [];
  if (onValidation) {
    const { records } = await run.readHistory({ tolerateTruncatedEnd: true }).catch(() => ({ records: [] }));
    if (records.filter((r) => r.kind === 'epoch' && 'validation' in r && r.validation != null).length > 1) choices.push('epoch');
  }
  if (calibration.betaRule === 'auto' || calibration.betaRule === 'fit') choices.push('beta');
  choices.push('threshold');
  return { choices, images };
}

/** The run's calibration.json (or an older threshold.json), read at most once and only when asked for. */
type StoredCalibration = () => Promise<CalibrationFile | null>;

async function resolveThreshold(option: ThresholdOption, runDir: string, stored: StoredCalibration, rows: readonly ScoreRow[], beta: number, dataName: string): Promise<ThresholdChoice> {
  if (typeof option === 'number') return { rule: 'value', value: option };
  if (typeof option === 'object') {
    // The population taken as normal: the normal-labelled images when there are labels, else all.
    const normals = rows.filter((r) => r.label === 0);
    const population = normals.length > 0 ? normals : rows.filter((r) => r.label === null);
    if (population.length === 0) throw new EvaluationError(`${dataName}: a quantile threshold needs normal or unlabelled images; all ${rows.length} are labelled anomalous`);
    return { rule: 'normal-quantile', quantile: option.quantile, value: scoreQuantile(population.map((r) => r.total), option.quantile) };
  }
  const { normal, anomalous } = countLabels(rows);
  const path = new RunFolder(runDir).path('calibration');
  // calibration.json (β and the threshold chosen together on validation), or a previous release's threshold.json
  const fromVal = async (): Promise<ThresholdChoice | null> => {
    const saved = await stored();
    if (!saved) return null;
    if (Math.abs(saved.beta - beta) > 1e-12) {
      throw new EvaluationError(`${path}: the validation threshold was chosen at β = ${saved.beta}, but the scores use β = ${beta}; use --threshold best-f1 or a number with --beta`);
    }
    return { rule: 'from-val', value: saved.threshold };
  };
  if (option === 'from-val') {
    const t = await fromVal();
    if (!t) throw new EvaluationError(`--threshold from-val: ${path} does not exist (aeflow-train writes it when it has a validation split with anomalies); use --threshold best-f1 or a number`);
    return t;
  }
  if (option === 'best-f1') return { rule: 'best-f1' };
  // auto: the run's calibration when there is one at this β (an honest estimate), else best-F1 on these labels.
  const saved = await stored();
  if (saved && Math.abs(saved.beta - beta) <= 1e-12) return { rule: 'from-val', value: saved.threshold };
  if (normal > 0 && anomalous > 0) return { rule: 'best-f1' };
  throw new EvaluationError(
    `no threshold: the run has no ${OUTPUT_FILES.calibration} and the images are not labelled with both classes (${normal} normal, ${anomalous} anomalous); pass --threshold <number>`,
  );
}

export interface ScoreToFolderOptions {
  /** The trained run (config.json, model.safetensors, history.jsonl). */
  runDir: string;
  dataset: ImageDataset;
  /** Items to score (default: all of the dataset's). */
  items?: readonly ImageItem[];
  /** Output folder (created). */
  out: string;
  threshold?: ThresholdOption;
  /**
   * Recombine the stored parts with this β instead of the run's; 'auto': the β the run chose on
   * validation (`score.beta: 'auto'`), else one chosen now on the run's validation scores
   * (`validation/scores.csv`), with the threshold (auto / from-val) chosen there at that β; 'fit':
   * chosen by AUROC on the labelled images scored here (a site's calibration sample).
   */
  beta?: number | 'auto' | 'fit';
  skipInvalid?: boolean;
  /** Residual + heat-map PNGs: for the N most anomalous images, or for these ids. */
  maps?: number | readonly string[];
  /** What the scored images are, for the report (default: the dataset's name). */
  dataName?: string;
  /** Images per group in the report's grid (default 3). */
  examplesPerGroup?: number;
  /**
   * Scores computed elsewhere (by @aeflow/queue's workers, with the same `scoreItems`): rows in
   * item order with their labels, and the files that could not be scored. Given, the first
   * scoring pass is not run; the model still scores the few images the report and maps show.
   */
  scores?: { rows: readonly ScoreRow[]; skipped: readonly SkippedFile[] };
  /** A loaded model (else loaded from the run); not disposed here when given. */
  model?: AEFlow;
  /**
   * Where the scores are computed (when no `scorer` is given): `tfjs` (default: the model's own
   * path), `onnx` (ONNX Runtime on the model exported in memory; fails, saying why, where
   * onnxruntime-node does not load) or `auto` (ONNX Runtime wherever it loads, tfjs otherwise).
   * Either gives the same scores within 1e-4 relative.
   */
  runtime?: ScoreRuntime | 'auto';
  /** A scorer made by the caller (`createImageScorer`); not disposed here. Overrides `runtime`. */
  scorer?: ImageScorer;
  /** Called once the scorer is ready, with its start-up line (`ImageScorer.describe()`: runtime, backend/provider, why). */
  onRuntime?: (described: string, runtime: ScoreRuntime) => void;
  batchSize?: number;
  /** Page title of the report (default: the run folder's name). */
  title?: string;
  /**
   * Also write the run's calibration.json into this run folder: β and the threshold chosen here
   * (best F1, or a quantile of the normal scores), with what they were fitted on — the trainer's
   * validation scoring, and `aeflow-score calibrate` for a new site. The calibrations it replaces
   * are kept in its `previous` list.
   */
  writeThresholdTo?: string;
  /**
   * The paper's appendix protocol on the scored images (`--folds`): k stratified folds, each in turn
   * the validation part; written to metrics.json as `crossValidation` and shown in the report.
   */
  crossValidation?: { k: number; seed?: number; chooseBeta?: boolean };
  /** What was chosen on these images (written to metrics.json and shown in the report as optimistic). */
  chosenOnTheseImages?: readonly SelectionChoice[];
  onProgress?: (phase: 'score' | 'report', done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface ScoreToFolderResult {
  rows: ScoreRow[];
  metrics: ScoreMetrics;
  skipped: SkippedFile[];
  files: string[];
}

/**
 * Scores a dataset with a run's model and writes the results into a folder: scores.csv,
 * metrics.json, report.html, skipped.json (when skipping) and the residual / heat-map PNGs asked
 * for. Every file is written atomically.
 */
export async function scoreToFolder(options: ScoreToFolderOptions): Promise<ScoreToFolderResult> {
  const model = options.model ?? (await loadRun(options.runDir));
  const files: string[] = [];
  const write = async (name: string, data: string | Uint8Array) => {
    const path = join(options.out, name);
    await writeFileAtomic(path, data);
    files.push(path);
  };
  let ownScorer: ImageScorer | undefined;
  try {
    const items = options.items ?? options.dataset.items;
    if (items.length === 0) throw new EvaluationError(`${options.dataset.name}: no images to score`);
    const scorer = options.scorer ?? (ownScorer = await createImageScorer(model, { runtime: options.runtime ?? 'tfjs' }));
    options.onRuntime?.(scorer.describe(), scorer.runtime);
    const explicitMaps = Array.isArray(options.maps) ? new Set<string>(options.maps as readonly string[]) : undefined;
    const scored = options.scores ? { rows: [...options.scores.rows], skipped: [...options.scores.skipped], maps: new Map<string, ImageMaps>() } : await scoreItems({
      model,
      scorer,
      dataset: options.dataset,
      items,
      skipInvalid: options.skipInvalid ?? false,
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      ...(explicitMaps ? { keepMaps: explicitMaps } : {}),
      onProgress: (d, t) => options.onProgress?.('score', d, t),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (options.signal?.aborted) throw new InterruptedError(`scoring ${options.dataset.name}`);
    // once per path: a dataset used for training may already list what scoring skipped again
    const skipped = [...options.dataset.skipped, ...scored.skipped].filter((s, i, all) => all.findIndex((o) => o.path === s.path) === i);
    if (scored.rows.length === 0) throw new EvaluationError(`${options.dataset.name}: none of the ${items.length} images could be scored (see ${OUTPUT_FILES.skipped})`);

    const runBeta = model.beta;
    const thresholdOption = options.threshold ?? 'auto';
    let storedRead: Promise<CalibrationFile | null> | undefined;
    const stored: StoredCalibration = () => (storedRead ??= new RunFolder(options.runDir).readCalibration());
    const runRule: BetaRule = model.config.score.beta === 'auto' ? 'auto' : 'run';
    let beta = runBeta;
    let betaRule: BetaRule = runRule;
    let valThreshold: ThresholdChoice | null = null;
    if (options.beta === 'auto' && runRule !== 'auto') {
      // Honest: β (and then the threshold) from the run's validation scores, never from these images.
      const val = await readValidationScores(options.runDir);
      const labelled = (val ?? []).filter((r) => r.label !== null);
      if (!labelled.some((r) => r.label === 0) || !labelled.some((r) => r.label === 1)) {
        throw new EvaluationError(
          `--beta auto: the run has a fixed β (${runBeta}) and no validation scores with normal and anomalous images to choose one on (${join(options.runDir, 'validation', OUTPUT_FILES.scores)}); pass --beta <number>, or train with --beta auto`,
        );
      }
      beta = chooseBeta(labelled.map((r) => r.label!), labelled.map((r) => r.flow), labelled.map((r) => r.recon)).beta;
      betaRule = 'auto';
      if (thresholdOption === 'auto' || thresholdOption === 'from-val') {
        const at = labelled.map((r) => combineScores(r.flow, r.recon, beta));
        valThreshold = { rule: 'from-val', value: bestF1Threshold(labelled.map((r) => r.label!), at) };
      }
    } else if (options.beta === 'fit') {
      // A calibration sample: β by AUROC on these labelled images (its metrics here are optimistic).
      const labelled = scored.rows.filter((r) => r.label !== null);
      const { normal, anomalous } = countLabels(labelled);
      if (normal === 0 || anomalous === 0) {
        throw new EvaluationError(`${options.dataset.name}: fitting β needs labelled normal and anomalous images (found ${normal} normal, ${anomalous} anomalous); keep the run's β (--beta run) or give a number`);
      }
      beta = chooseBeta(labelled.map((r) => r.label!), labelled.map((r) => r.flow), labelled.map((r) => r.recon), { prefer: runBeta }).beta;
      betaRule = 'fit';
    } else if (typeof options.beta === 'number') {
      beta = options.beta;
      betaRule = 'value';
    } else if (options.beta === undefined && (thresholdOption === 'auto' || thresholdOption === 'from-val')) {
      // The run's calibration decides β with its threshold (a threshold means nothing at another β):
      // after `aeflow-score --calibrate` that is the β fitted for the site.
      const saved = await stored();
      if (saved) {
        beta = saved.beta;
        betaRule = saved.betaRule;
      }
    }
    let rows = scored.rows;
    if (beta !== runBeta) rows = rows.map((r) => ({ ...r, total: combineScores(r.flow, r.recon, beta) }));
    const threshold = valThreshold ?? (await resolveThreshold(thresholdOption, options.runDir, stored, rows, beta, options.dataset.name));
    const evaluated = evaluateScores(rows, { threshold, beta, betaRule, combine: combineScores });
    rows = evaluated.rows;
    const metrics = evaluated.metrics;
    if (options.crossValidation) {
      const cv = options.crossValidation;
      metrics.crossValidation = crossValidate(rows, { k: cv.k, seed: cv.seed ?? 0, chooseBeta: cv.chooseBeta ?? false, beta });
    }
    if (options.chosenOnTheseImages && options.chosenOnTheseImages.length > 0) metrics.chosenOnTheseImages = [...options.chosenOnTheseImages];
    else if (threshold.rule === 'from-val') {
      // a re-score of images the run chose on says so: those its calibration was fitted on (e.g.
      // its val/ again), or, with --beta auto on a fixed-β run, its validation scores (β and the
      // threshold were just chosen on them)
      const fitted = valThreshold === null
        ? await stored()
        : { betaRule: 'auto' as const, fittedOn: { split: (await new RunFolder(options.runDir).readIfExists('data').catch(() => null))?.validation?.dataset ?? 'validation', scores: `validation/${RUN_FILES.scores}` } };
      const paths = new Map(items.map((it) => [it.id, it.source.kind === 'file' ? it.source.path : undefined]));
      const made = fitted ? await choicesMadeOn(options.runDir, fitted, rows.map((r) => ({ id: r.id, ...(paths.get(r.id) !== undefined ? { path: paths.get(r.id)! } : {}) }))) : { choices: [], images: 0 };
      if (made.images > 0) {
        metrics.chosenOnTheseImages = made.choices;
        if (made.images < rows.length) metrics.chosenOnImages = made.images;
      }
    }

    // scores.csv, metrics.json, skipped.json: through the run-folder owner (schema-checked, atomic)
    const folder = new RunFolder(options.out);
    if (options.skipInvalid || skipped.length > 0) files.push(await folder.write('skipped', skippedFileList(skipped)));
    files.push(await folder.write('scores', { rows, columns: scoreColumns(model.config) }));
    files.push(await folder.write('metrics', metrics));
    let calibration: CalibrationFile | null = null;
    if (options.writeThresholdTo && metrics.threshold !== null && (threshold.rule === 'best-f1' || threshold.rule === 'normal-quantile')) {
      // β and the threshold, stored once and together, with what they were fitted on; the
      // calibrations it replaces are kept in it (newest first), so a refit never loses one.
      const run = new RunFolder(options.writeThresholdTo);
      const scoresFile = relative(run.dir, folder.path('scores')).split(sep).join('/');
      const { normal, anomalous } = countLabels(rows);
      const before = await run.readCalibration();
      const previous = before ? [withoutPrevious(before), ...(before.previous ?? [])] : [];
      const fitted: CalibrationFile = {
        beta,
        betaRule,
        threshold: metrics.threshold,
        thresholdRule: threshold.rule,
        ...(threshold.rule === 'normal-quantile' ? { quantile: threshold.quantile } : {}),
        fittedOn: { split: options.dataName ?? options.dataset.name, images: rows.length, normal, anomalous, scores: scoresFile },
        date: new Date().toISOString(),
        ...(previous.length > 0 ? { previous } : {}),
      };
      await run.write('calibration', fitted);
      calibration = fitted;
    } else if (threshold.rule === 'from-val') {
      calibration = await stored();
    }

    // Which images get maps and which go into the report's grid; one more pass over just those.
    const ranked = [...rows].sort((a, b) => b.total - a.total);
    const mapIds = typeof options.maps === 'number' ? ranked.slice(0, Math.max(0, options.maps)).map((r) => r.id) : explicitMaps ? [...explicitMaps] : [];
    if (explicitMaps) {
      const known = new Set(rows.map((r) => r.id));
      const missing = [...explicitMaps].filter((id) => !known.has(id));
      if (missing.length > 0) throw new EvaluationError(`--maps: no scored image has the id ${missing.map((m) => JSON.stringify(m)).join(', ')}; ids are as in scores.csv`);
    }
    const groupsPicked = selectExamples(rows, options.examplesPerGroup ?? 3);
    const need = new Set([...mapIds, ...groupsPicked.flatMap((g) => g.ids)].filter((id) => !scored.maps.has(id)));
    const maps = new Map<string, ImageMaps>(scored.maps);
    if (need.size > 0) {
      const byId = new Map(items.map((it) => [it.id, it]));
      const again = await scoreItems({ model, scorer, dataset: options.dataset, items: [...need].map((id) => byId.get(id)!), keepMaps: 'all', skipInvalid: true });
      for (const [id, m] of again.maps) maps.set(id, m);
    }
    // One colour scale for all residuals shown, so a dark map means "close to normal" everywhere.
    const shown = [...new Set([...mapIds, ...groupsPicked.flatMap((g) => g.ids)])].map((id) => maps.get(id)).filter((m): m is ImageMaps => m !== undefined);
    const scale = Math.max(1e-12, ...shown.map((m) => mapScale(m.residual)));

    const byRow = new Map(rows.map((r) => [r.id, r]));
    for (let i = 0; i < mapIds.length; i++) {
      const id = mapIds[i]!;
      const m = maps.get(id);
      if (!m) continue;
      const stem = safeFileStem(id, i + 1);
      await write(join(OUTPUT_FILES.maps, `${stem}.residual.png`), await mapToPng(m.residual, scale));
      if (m.residual.width === m.original.width && m.residual.height === m.original.height) {
        await write(join(OUTPUT_FILES.maps, `${stem}.heatmap.png`), await overlayToPng(m.original, m.residual, scale));
      }
    }

    const groups: ReportGroup[] = [];
    for (const g of groupsPicked) {
      const examples = [];
      for (const id of g.ids) {
        const m = maps.get(id);
        const row = byRow.get(id);
        if (!m || !row) continue;
        examples.push({
          id,
          label: row.label,
          total: row.total,
          original: await imageToPng(m.original),
          reconstruction: m.reconstruction ? await imageToPng(m.reconstruction) : null,
          residual: await mapToPng(m.residual, scale),
        });
      }
      groups.push({ title: g.title, note: g.note, examples });
    }
    const configText = await readIfExists(join(options.runDir, RUN_FILES.config));
    const dataText = await readIfExists(join(options.runDir, 'data.json'));
    const settings: Record<string, unknown> = {};
    const config = configText ? (JSON.parse(configText) as { model?: unknown }) : null;
    if (config) settings.config = config;
    if (dataText) settings.trainingData = JSON.parse(dataText) as unknown;
    settings.scored = { dataset: options.dataName ?? options.dataset.name, images: rows.length, skipped: skipped.length, beta, betaRule, threshold: metrics.threshold, thresholdRule: metrics.thresholdRule };
    if (calibration) settings.calibration = withoutPrevious(calibration);
    const html = renderReport({
      title: options.title ?? basename(options.runDir),
      subtitle: `${rows.length} images of ${options.dataName ?? options.dataset.name} scored with ${options.runDir}`,
      settings,
      ...(typeof config?.model === 'string' ? { model: config.model } : {}),
      rows,
      metrics,
      ...(calibration ? { calibration: `${threshold.rule === 'from-val' ? "The run's calibration" : "Fitted on these images and stored as the run's calibration"}: ${describeCalibration(calibration)}` } : {}),
      history: await readHistory(options.runDir),
      groups,
      skipped,
    });
    await write(OUTPUT_FILES.report, html);
    options.onProgress?.('report', 1, 1);
    return { rows, metrics, skipped, files };
  } finally {
    await ownScorer?.dispose();
    if (!options.model) model.dispose();
  }
}
