import type { CalibrationFile, RunConfig } from '@aeflow/model';

/** What the page says about a loaded run, in words a reader of the results needs. */
export interface RunInfo {
  name: string;
  size: number;
  modelDescription: string;
  /** How the total is made from its parts, with β. */
  scoreDescription: string;
  /** The threshold, the rule that chose it, what it was fitted on and when — or why there is none. */
  thresholdDescription: string;
  threshold: number | null;
  beta: number;
  /** Column names of the two score parts; null where the model kind has no such part. */
  parts: [string | null, string | null];
  /** What the heat map shows. */
  mapDescription: string;
}

function encoderName(config: RunConfig): string {
  const arch = config.encoder.arch;
  const name = arch === 'mobilenet_v1' ? 'MobileNet V1' : typeof arch === 'string' ? arch : 'ResNet';
  return `${name} (${config.encoder.weights === 'pretrained' ? 'ImageNet' : config.encoder.weights} weights, ${config.encoder.tap})`;
}

const RULES: Record<string, string> = {
  'best-f1': 'best F1',
  value: 'a given value',
  'normal-quantile': 'a quantile of the normal scores',
  'from-val': 'the validation calibration',
};

function fmt(v: number): string {
  return Math.abs(v) !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e4) ? v.toExponential(4) : v.toFixed(4);
}

/**
 * The run's description: model kind and encoder, which score parts exist (AE-FLOW: flow + SSIM
 * reconstruction; AE: reconstruction only; FastFlow: flow only; kNN: distance), β, and the
 * calibrated threshold with its rule — a verdict is only shown against a named calibration.
 */
export function describeRun(name: string, config: RunConfig, calibration: CalibrationFile | null, modelBeta: number): RunInfo {
  const latentKnn = config.knn.regions === 'left-right' ? 'kNN on z′ per half' : 'kNN on z′';
  const flowName = config.score.flow === 'knn' ? (config.score.synthetic !== 'none' ? `Flow part (${latentKnn} + synthetic-anomaly head)` : `Flow part (${latentKnn})`) : config.score.flow === 'nll' ? 'Flow part (NLL)' : 'Flow part (density)';
  const kinds: Record<RunConfig['model'], { label: string; parts: [string | null, string | null]; map: string }> = {
    aeflow: { label: 'AE-FLOW (autoencoder with a normalizing-flow bottleneck)', parts: [flowName, 'Reconstruction part (−SSIM)'], map: '|image − reconstruction|' },
    ae: { label: 'Autoencoder baseline', parts: [null, 'Reconstruction part (−SSIM)'], map: '|image − reconstruction|' },
    fastflow: { label: 'FastFlow-style flow baseline', parts: [flowName, null], map: 'per-pixel flow density' },
    knn: { label: `kNN on frozen features (k = ${config.knn.k})`, parts: ['kNN distance', null], map: 'distance to the nearest normal features' },
  };
  const kind = kinds[config.model];
  const beta = calibration?.beta ?? modelBeta;
  const twoParts = kind.parts[0] !== null && kind.parts[1] !== null;
  const scoreDescription = twoParts
    ? `β·flow + (1 − β)·reconstruction with β = ${beta}${calibration ? (calibration.betaRule === 'auto' ? ' (chosen by AUROC on validation)' : calibration.betaRule === 'run' ? " (the run's)" : ' (given)') : ''}; higher is less like the training normals`
    : 'higher is less like the training normals';
  let thresholdDescription: string;
  if (calibration) {
    const f = calibration.fittedOn;
    const counts = f.normal !== undefined && f.anomalous !== undefined ? `: ${f.normal} normal, ${f.anomalous} anomalous` : '';
    thresholdDescription = `${fmt(calibration.threshold)} — chosen by ${RULES[calibration.thresholdRule] ?? calibration.thresholdRule}${calibration.quantile !== undefined ? ` (${calibration.quantile})` : ''} on ${f.split} (${f.images} images${counts}), ${calibration.date.slice(0, 10)}`;
  } else {
    thresholdDescription = 'none: the run has no calibration (no validation part with anomalies), so no verdicts are shown';
  }
  return {
    name,
    size: config.size,
    modelDescription: `${kind.label}; encoder ${encoderName(config)}`,
    scoreDescription,
    thresholdDescription,
    threshold: calibration?.threshold ?? null,
    beta,
    parts: kind.parts,
    mapDescription: kind.map,
  };
}
