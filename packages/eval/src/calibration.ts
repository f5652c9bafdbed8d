import type { CalibrationFile } from '@aeflow/model';

/** One earlier calibration, as kept in a calibration's `previous` list. */
export type PreviousCalibration = NonNullable<CalibrationFile['previous']>[number];

/** A calibration without the list of those it replaced (what goes into that list). */
export function withoutPrevious(c: CalibrationFile): PreviousCalibration {
  const rest: Record<string, unknown> = { ...c };
  delete rest.previous;
  return rest as PreviousCalibration;
}

function percent(x: number): string {
  return `${Math.round(x * 1000) / 10} %`;
}

/**
 * One line that says which calibration a run uses: the rule behind the threshold and β, what they
 * were fitted on and when — shown in reports, on the console and in the browser page.
 */
export function describeCalibration(c: CalibrationFile | PreviousCalibration): string {
  const f = c.fittedOn;
  const counts = f.normal !== undefined && f.anomalous !== undefined ? `${f.images} images: ${f.normal} normal, ${f.anomalous} anomalous` : `${f.images} images`;
  const rule =
    c.thresholdRule === 'normal-quantile' && c.quantile !== undefined
      ? `threshold at the ${percent(c.quantile)} quantile of normal scores (flags ≈ ${percent(1 - c.quantile)} of a normal population)`
      : c.thresholdRule === 'best-f1'
        ? 'threshold by best F1'
        : `threshold ${c.thresholdRule}`;
  const beta =
    c.betaRule === 'fit' ? `β = ${c.beta} fitted by AUROC` : c.betaRule === 'auto' ? `β = ${c.beta} chosen by AUROC` : c.betaRule === 'value' ? `β = ${c.beta} given` : `β = ${c.beta} (the run's)`;
  const date = c.date.slice(0, 10);
  const migrated = c.migratedFrom ? `, read from ${c.migratedFrom}` : '';
  return `${rule}, ${beta}, on ${f.split} (${counts}), ${date}${migrated}`;
}
