import { basename, join, resolve } from 'node:path';
import { RunFolder, loadRun } from '@aeflow/model/node';
import type { CalibrationFile } from '@aeflow/model';
import { EvaluationError } from './evaluate.js';
import { safeFileStem } from './outputs.js';
import { scoreToFolder, type ScoreToFolderOptions, type ScoreToFolderResult } from './score-to-folder.js';

export interface CalibrateRunOptions extends Omit<ScoreToFolderOptions, 'writeThresholdTo' | 'beta' | 'threshold' | 'out' | 'crossValidation'> {
  /**
   * Where the calibration sample's scores.csv / metrics.json / report.html go (default:
   * `<run>/calibrations/<data name>`): the run's calibration.json names this file as what it was
   * fitted on.
   */
  out?: string;
  /**
   * β: 'fit' (default for a model with two score parts: by AUROC on the labelled sample), 'run'
   * (keep the run's), or a number.
   */
  beta?: 'fit' | 'run' | number;
  /**
   * For a site with unlabelled images only (or to fix the false-alarm rate): the threshold at this
   * quantile of the sample's normal (or, without labels, all) scores — flags about 1 − q of a normal
   * population. Without it the threshold is the best-F1 one on the labelled sample.
   */
  quantile?: number;
}

export interface CalibrateRunResult extends ScoreToFolderResult {
  /** What was stored as the run's calibration.json. */
  calibration: CalibrationFile;
  out: string;
}

/**
 * Calibrates a trained run for a new site: scores the site's sample with the run, refits β and the
 * threshold on it (best F1 on a labelled sample, or a quantile of normal scores for a population
 * taken as normal) and stores them as the run's calibration.json — with the scores it was fitted
 * on, the rules and the date; the calibration it replaces is kept in the file's `previous` list.
 * Later scoring with `--threshold auto` (the default) or `from-val` uses it.
 */
export async function calibrateRun(options: CalibrateRunOptions): Promise<CalibrateRunResult> {
  const runDir = resolve(options.runDir);
  const items = options.items ?? options.dataset.items;
  const normal = items.filter((it) => it.label === 0).length;
  const anomalous = items.filter((it) => it.label === 1).length;
  const name = options.dataName ?? options.dataset.name;
  if (options.quantile === undefined && (normal === 0 || anomalous === 0)) {
    throw new EvaluationError(
      `calibrate ${name}: a best-F1 threshold needs labelled normal and anomalous images (found ${normal} normal, ${anomalous} anomalous, ${items.length - normal - anomalous} unlabelled); ` +
        'for a site with unlabelled images of a normal population, ask for a quantile threshold (--threshold quantile:0.95 flags about 5 % of them)',
    );
  }
  if (options.quantile !== undefined && !(options.quantile > 0 && options.quantile < 1)) {
    throw new EvaluationError(`calibrate ${name}: quantile ${options.quantile} is not between 0 and 1 (e.g. 0.95 flags about 5 % of a normal population)`);
  }
  const model = options.model ?? (await loadRun(runDir));
  try {
    // β can be fitted only with both classes and only where the model has two score parts.
    const twoParts = model.config.model === 'aeflow';
    const wantBeta = options.beta ?? (twoParts && normal > 0 && anomalous > 0 ? 'fit' : 'run');
    if (wantBeta === 'fit' && !twoParts) throw new EvaluationError(`calibrate ${name}: the run's model (${model.config.model}) has one score part; there is no β to fit (leave out --beta)`);
    const out = resolve(options.out ?? join(runDir, 'calibrations', safeFileStem(basename(name), 1).replace(/^\d+_/, '')));
    const { beta: _beta, quantile: _quantile, ...scoreOptions } = options;
    const result = await scoreToFolder({
      ...scoreOptions,
      runDir,
      model,
      out,
      ...(wantBeta === 'run' ? {} : { beta: wantBeta }),
      threshold: options.quantile !== undefined ? { quantile: options.quantile } : 'best-f1',
      writeThresholdTo: runDir,
      title: options.title ?? `${basename(runDir)} · calibration on ${name}`,
    });
    const calibration = await new RunFolder(runDir).readCalibration();
    if (!calibration) throw new EvaluationError(`calibrate ${name}: no threshold could be chosen on the sample (see ${join(out, 'metrics.json')})`);
    return { ...result, calibration, out };
  } finally {
    if (!options.model) model.dispose();
  }
}
