import type { ImageDataset } from '@aeflow/datasets';
import { describeCalibration, parseThresholdOption, UsageError } from '@aeflow/eval';
import { calibrateRun, checkDataPaths, checkOutputFolder, checkRunFolder, type Console, type OutputMode } from '@aeflow/eval/node';
import type { ScoreRuntime } from '@aeflow/onnx/node';
import type { BackendName } from '@aeflow/tensor';
import { initBackend } from '@aeflow/tensor/node';

/** The options of the score command that `--calibrate` reads. */
export interface CalibrateCliOptions {
  run?: string;
  data?: string[];
  calibrate?: string[];
  dataset: string;
  split?: string;
  normal: string;
  threshold: string;
  beta?: number | 'auto';
  skipInvalid?: boolean;
  ids?: string;
  folds?: number;
  out?: string;
  backend?: BackendName;
  runtime: ScoreRuntime | 'auto';
  batchSize?: number;
}

/**
 * `aeflow-score --run <run> --calibrate <sample>`: argument checks, then one call of
 * @aeflow/eval's `calibrateRun`, then the summary. `openSample` opens the sample as the score
 * command opens `--data` (--dataset, --split, --normal, --skip-invalid).
 */
export async function calibrateCommand(opts: CalibrateCliOptions, io: Console, mode: OutputMode, openSample: () => Promise<{ dataset: ImageDataset }>): Promise<void> {
  if (opts.run === undefined) throw new UsageError('--calibrate needs --run <dir> (the run to calibrate)');
  if (opts.data !== undefined) throw new UsageError('--calibrate <paths…> is the data to calibrate on; leave out --data (score other images afterwards, without --calibrate)');
  if (opts.folds !== undefined || opts.ids !== undefined) throw new UsageError('--calibrate fits on the whole sample; leave out --folds and --ids');
  if (opts.beta === 'auto') throw new UsageError("--calibrate fits β on the sample by AUROC already; leave out --beta auto (or give a number to keep β fixed)");
  const threshold = parseThresholdOption(opts.threshold);
  if (threshold !== 'auto' && threshold !== 'best-f1' && typeof threshold !== 'object') {
    throw new UsageError(`--calibrate chooses the threshold: best F1 on a labelled sample (the default) or --threshold quantile:<q>; "--threshold ${opts.threshold}" does not fit`);
  }
  const runDir = await checkRunFolder(opts.run);
  await checkDataPaths(opts.calibrate!);
  const out = opts.out === undefined ? undefined : await checkOutputFolder(opts.out);
  const emit = (event: Record<string, unknown>) => mode === 'json' && io.out(JSON.stringify(event));
  const backend = await initBackend({ ...(opts.backend ? { backend: opts.backend } : {}), quiet: mode !== 'human' });
  emit({ event: 'backend', backend: backend.name });
  const { dataset } = await openSample();
  const result = await calibrateRun({
    runDir,
    dataset,
    ...(out !== undefined ? { out } : {}),
    ...(typeof opts.beta === 'number' ? { beta: opts.beta } : {}),
    ...(typeof threshold === 'object' ? { quantile: threshold.quantile } : {}),
    skipInvalid: opts.skipInvalid ?? false,
    ...(opts.batchSize ? { batchSize: opts.batchSize } : {}),
    runtime: opts.runtime,
    onRuntime: (described, runtime) => {
      if (mode === 'human') io.err(`aeflow-score: ${described}`);
      emit({ event: 'runtime', runtime, described });
    },
  });
  for (const s of result.skipped) if (mode !== 'json') io.err(`skipped ${s.path}: ${s.reason}`);
  const c = result.calibration;
  if (mode === 'json') {
    io.out(JSON.stringify({ event: 'done', out: result.out, images: result.rows.length, skipped: result.skipped.length, calibration: c, files: result.files }));
    return;
  }
  io.out(`calibrated ${runDir}: β ${c.beta}, threshold ${c.threshold} — ${describeCalibration(c)}`);
  const m = result.metrics;
  if (m.auroc !== null) {
    const f = (v: number | null) => (v === null ? '—' : v.toFixed(4));
    io.out(`on the sample it was fitted on (optimistic): AUROC ${f(m.auroc)}, sensitivity ${f(m.sensitivity)}, specificity ${f(m.specificity)}`);
  }
  io.out(`wrote the run's calibration.json (the one it replaces is kept in its "previous" list) and the sample's scores in ${result.out}`);
}
