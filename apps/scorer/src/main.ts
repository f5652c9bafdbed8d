import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DATASET_KINDS, DataError, openData } from '@aeflow/datasets/node';
import { EXIT_CODES, EXIT_CODES_HELP, EvaluationError, MAX_FOLDS, OUTPUT_FILES, UsageError, parseThresholdOption } from '@aeflow/eval';
import { checkDataPaths, checkOutputFile, checkOutputFolder, checkRunFolder, formatDuration, processConsole, reportFailure, scoreToFolder, type Console, type OutputMode } from '@aeflow/eval/node';
import { exportRunToOnnx, SCORE_RUNTIMES, type ScoreRuntime } from '@aeflow/onnx/node';
import { checkWebExport, exportWebFolder } from '@aeflow/web/node';
import { DEFAULT_QUEUE_NAME } from '@aeflow/queue';
import { checkRedisUrl, redactRedisUrl, startScoreWorker, submitScoring } from '@aeflow/queue/node';
import { BACKEND_NAMES, type BackendName } from '@aeflow/tensor';
import { initBackend } from '@aeflow/tensor/node';
import { version } from '../package.json';
import { calibrateCommand, type CalibrateCliOptions } from './calibrate-command.js';
import { Progress } from './progress.js';
import { startScoreServer } from './server.js';

const EXAMPLES = `
Examples:
  # score the test split of a folder dataset (<root>/test/<CLASS>/…) with a trained run
  $ aeflow-score --run runs/chest --data data/chest-xray --split test --out runs/chest/test

  # score some files (labels unknown), with the threshold chosen on the run's validation split
  $ aeflow-score --run runs/chest --data "scan 1.png" scan2.dcm --threshold from-val --out out/

  # β chosen honestly on the run's validation split (by AUROC over 0, 0.05, …, 1), threshold there too
  $ aeflow-score --run runs/chest --data data/chest-xray --beta auto --out out/

  # another β (the flow/SSIM mix), residual + heat-map PNGs for the 10 most anomalous images
  $ aeflow-score --run runs/chest --data data/chest-xray --beta 0.5 --threshold best-f1 --maps 10 --out out/

  # re-score the held-out test images of a run trained on a train folder only, at another β
  $ aeflow-score --run runs/chest --data data/chest-xray --split train --ids runs/chest/split.json --beta 1 --threshold best-f1 --out out/

  # keep going past unreadable files; they are listed in out/skipped.json and on the console
  $ aeflow-score --run runs/chest --data data/chest-xray --skip-invalid --out out/

  # the paper's appendix protocol: 5 stratified folds, each in turn the 20 % validation part that picks
  # the threshold (and, with --fold-beta, β); metrics on the other 80 %, mean ± std in metrics.json
  $ aeflow-score --run runs/chest --data data/chest-xray --folds 5 --fold-seed 0 --fold-beta --out out/

  # the run's whole scoring graph as an ONNX model (opset 17), to score with ONNX Runtime anywhere
  $ aeflow-score export --run runs/chest --onnx chest.onnx

  # a folder any static file server can host: the web page that scores images in the browser, with the run
  $ aeflow-score export --run runs/chest --web chest-web

  # many machines: Redis + workers anywhere (each loads the run once), one submit that collects;
  # stop it and run it again to resume (no image scored twice); see @aeflow/queue's README
  $ aeflow-score worker --queue redis://queue-host:6379 --concurrency 8
  $ aeflow-score submit --queue redis://queue-host:6379 --run runs/chest --data data/chest-xray --out out/

  # a new site: refit β and the threshold on its small labelled sample (<site>/<CLASS>/…) and store them
  # as the run's calibration (the sample's scores under runs/chest/calibrations/); later scoring uses it
  $ aeflow-score --run runs/chest --calibrate data/site-b-sample

  # a site with unlabelled images only: the threshold at the 95 % quantile of their scores
  # (flags about 5 % of a normal population)
  $ aeflow-score --run runs/chest --calibrate data/site-b-normals/*.png --threshold quantile:0.95

  # HTTP service: POST an image, get JSON scores (or ?heatmap=1 for a PNG)
  $ aeflow-score serve --run runs/chest --port 8080
  $ curl -s --data-binary @x.png -H 'content-type: image/png' http://127.0.0.1:8080/score

${EXIT_CODES_HELP}
`;

/** `--runtime`: where scores are computed (scoring and serve). */
const RUNTIME_OPTION = () =>
  new Option('--runtime <name>', 'where scores are computed: onnx (ONNX Runtime), tfjs, or auto (onnx wherever onnxruntime-node loads, else tfjs); the start-up line says which and why')
    .choices(['auto', ...SCORE_RUNTIMES])
    .default('auto');

function parseNumber(name: string, min?: number, max?: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name}: "${value}" is not a number`);
    if ((min !== undefined && n < min) || (max !== undefined && n > max)) throw new InvalidArgumentError(`${name}: ${n} is outside [${min ?? '-∞'}, ${max ?? '∞'}]`);
    return n;
  };
}

function parseInteger(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new InvalidArgumentError(`${name}: "${value}" is not a whole number from ${min} to ${max}`);
    return n;
  };
}

/** The score command's options: those `--calibrate` reads too, and the rest. */
interface ScoreCliOptions extends CalibrateCliOptions {
  maps?: string[];
  quiet?: boolean;
  json?: boolean;
  foldSeed: number;
  foldBeta?: boolean;
}

/** Ids from `--ids`: a run's split.json (its `final.ids`) or a text file, one id per line. */
async function readIdList(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder, not a file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : String((err as Error).message ?? err);
    throw new DataError(`--ids ${path}: cannot read it (${why}); give a text file with one id per line, or a run's split.json`);
  }
  if (text.trimStart().startsWith('{')) {
    const split = JSON.parse(text) as { final?: { ids?: unknown } };
    const ids = split.final?.ids;
    if (!Array.isArray(ids) || !ids.every((i) => typeof i === 'string')) throw new DataError(`--ids ${path}: a JSON file must be a run's split.json with final.ids`);
    return ids;
  }
  const ids = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (ids.length === 0) throw new DataError(`--ids ${path}: no ids in it`);
  return ids;
}

/** The dataset and the images to score from the scoring options (--data, --dataset, --split, --normal, --skip-invalid, --ids). */
async function openScoringData(opts: Pick<ScoreCliOptions, 'data' | 'dataset' | 'split' | 'normal' | 'skipInvalid' | 'ids'>) {
  const dataset = await openData({
    data: opts.data!,
    dataset: opts.dataset,
    ...(opts.split ? { split: opts.split } : {}),
    normalClasses: opts.normal.split(',').map((s) => s.trim()).filter(Boolean),
    skipInvalid: opts.skipInvalid ?? false,
  });
  if (!dataset) throw new DataError(`--split ${opts.split}: ${resolve(opts.data![0]!)} has no "${opts.split}" folder`);
  let items = dataset.items;
  if (opts.ids) {
    const wanted = await readIdList(opts.ids);
    const byId = new Map(items.map((it) => [it.id, it]));
    const missing = wanted.filter((id) => !byId.has(id));
    if (missing.length > 0) {
      throw new DataError(`--ids ${opts.ids}: ${missing.length} of ${wanted.length} ids are not in ${dataset.name} (first: ${JSON.stringify(missing[0])}); check --data and --split`);
    }
    items = wanted.map((id) => byId.get(id)!);
  }
  return { dataset, items };
}

/** Exit codes: EXIT_CODES of @aeflow/eval (0 done, 1 data/run error, 2 usage error, 130 interrupted). */
export async function main(argv: readonly string[], io: Console = processConsole): Promise<number> {
  // --json is known before commander parses (a usage error is a JSON line too)
  let mode: OutputMode = argv.includes('--json') ? 'json' : argv.includes('--quiet') ? 'quiet' : 'human';
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(EXIT_CODES.interrupted);
    controller.abort();
    io.err('aeflow-score: interrupted; stopping after this batch (Ctrl-C again to quit now)');
  };

  const program = new Command('aeflow-score')
    .description('Score images with a trained AE-FLOW run: scores.csv, metrics.json, heat maps and report.html; or serve over HTTP.')
    .version(version, '--version', 'print the version and exit')
    .addOption(new Option('--run <dir>', 'trained run folder (config.json, model.safetensors)'))
    .addOption(new Option('--data <paths...>', 'dataset root (<root>/<split>/<CLASS>/…), a .npz, or image files'))
    .addOption(new Option('--dataset <kind>', `how to read --data: ${DATASET_KINDS.join(', ')}`).default('folder'))
    .option('--split <name>', 'split to score (folder root: <root>/<split>; default: test if present)')
    .option('--normal <classes>', 'comma-separated class folders of normal images (folder, miic)', 'NORMAL')
    .option('--threshold <rule>', 'best-f1 | from-val | auto | quantile:<q> | <number> (auto: the run\'s calibration when it has one, else best-f1; quantile:0.95: the 95 % quantile of the normal (or unlabelled) images\' scores)', 'auto')
    .option('--calibrate <paths...>', "a new site's sample (a dataset folder or image files, like --data): refit β (by AUROC) and the threshold (best F1, or --threshold quantile:<q> for unlabelled images) on it and store them as the run's calibration.json; its scores go to --out (default <run>/calibrations/<name>)")
    .option(
      '--beta <B|auto>',
      "score weight β in [0, 1]: total = β·flow + (1 − β)·recon (default: the run's); auto: the β chosen on the run's validation split (by AUROC), never on the scored images",
      (v: string) => (v === 'auto' ? ('auto' as const) : parseNumber('--beta', 0, 1)(v)),
    )
    .option('--ids <file>', "score only these images: a text file with one id per line, or a run's split.json (its held-out test part)")
    .option('--skip-invalid', 'skip unreadable files (listed in <out>/skipped.json and on the console) instead of stopping')
    .option('--maps <N|ids...>', 'write residual + heat-map PNGs for the N most anomalous images, or for these ids')
    .option('--folds <k>', `cross-validate (the paper's appendix protocol): k stratified folds, each in turn the validation part for the threshold; mean ± std in metrics.json (2..${MAX_FOLDS}; the paper: 5)`, parseInteger('--folds', 2, MAX_FOLDS))
    .option('--fold-seed <n>', 'seed of the fold assignment', parseInteger('--fold-seed', 0), 0)
    .option('--fold-beta', 'with --folds: also choose β per fold, by AUROC on its validation part')
    .option('--out <dir>', 'output folder')
    .addOption(new Option('--backend <name>', 'tensor backend').choices([...BACKEND_NAMES]))
    .addOption(RUNTIME_OPTION())
    .option('--batch-size <n>', 'images per model call', parseInteger('--batch-size', 1, 1024))
    .option('--quiet', 'print only errors and the final summary line')
    .option('--json', 'machine output: JSON lines on stdout (progress events, then the result)')
    .addHelpText('after', EXAMPLES)
    .showHelpAfterError('(run with --help for usage and examples)')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  program.action(async (opts: ScoreCliOptions) => {
    mode = opts.json ? 'json' : opts.quiet ? 'quiet' : 'human';
    if (opts.calibrate !== undefined) return calibrateCommand(opts, io, mode, () => openScoringData({ ...opts, data: opts.calibrate }));
    const missing = (['run', 'data', 'out'] as const).filter((k) => opts[k] === undefined);
    if (missing.length > 0) throw new UsageError(`missing ${missing.map((m) => `--${m}`).join(', ')} (see --help)`);
    if (opts.foldBeta && opts.folds === undefined) throw new UsageError('--fold-beta needs --folds <k> (see --help)');
    // The paths, in words, before the backend or the data is loaded.
    const runDir = await checkRunFolder(opts.run!);
    await checkDataPaths(opts.data!);
    const out = await checkOutputFolder(opts.out!);
    process.on('SIGINT', onSigint);
    const emit = (event: Record<string, unknown>) => mode === 'json' && io.out(JSON.stringify(event));
    const threshold = parseThresholdOption(opts.threshold);
    const maps = opts.maps === undefined ? undefined : opts.maps.length === 1 && /^\d+$/.test(opts.maps[0]!) ? Number(opts.maps[0]) : opts.maps;
    const backend = await initBackend({ ...(opts.backend ? { backend: opts.backend } : {}), quiet: mode !== 'human' });
    emit({ event: 'backend', backend: backend.name });
    const { dataset, items } = await openScoringData(opts);
    if (opts.folds !== undefined) {
      // Fail before the (slow) scoring; crossValidate checks again on the images actually scored.
      const normal = items.filter((it) => it.label === 0).length;
      const anomalous = items.filter((it) => it.label === 1).length;
      if (normal === 0 || anomalous === 0) {
        throw new EvaluationError(`--folds ${opts.folds}: cross-validation needs labelled normal and anomalous images (${dataset.name}: ${normal} normal, ${anomalous} anomalous, ${items.length - normal - anomalous} unlabelled); score a labelled split or leave out --folds`);
      }
      if (Math.floor(Math.min(normal, anomalous) / opts.folds) < 2) {
        throw new EvaluationError(
          `--folds ${opts.folds}: a fold would have fewer than 2 ${normal <= anomalous ? 'normal' : 'anomalous'} images (${normal} normal, ${anomalous} anomalous in ${opts.folds} folds); use fewer folds (at most ${Math.max(2, Math.floor(Math.min(normal, anomalous) / 2))}, and at least 4 images of each class)`,
        );
      }
    }
    const progress = new Progress(mode);
    let last = 0;
    let result;
    try {
      result = await scoreToFolder({
      runDir,
      dataset,
      items,
      out,
      threshold,
      ...(opts.beta !== undefined ? { beta: opts.beta } : {}),
      skipInvalid: opts.skipInvalid ?? false,
      ...(maps !== undefined ? { maps } : {}),
      ...(opts.batchSize ? { batchSize: opts.batchSize } : {}),
      ...(opts.folds !== undefined ? { crossValidation: { k: opts.folds, seed: opts.foldSeed, chooseBeta: opts.foldBeta ?? false } } : {}),
      runtime: opts.runtime,
      onRuntime: (described, runtime) => {
        if (mode === 'human') io.err(`aeflow-score: ${described}`);
        emit({ event: 'runtime', runtime, described });
        progress.start('scoring', items.length, '{label} |{bar}| {value}/{total} images | {eta_formatted} left');
      },
      signal: controller.signal,
      onProgress: (phase, done, total) => {
        if (phase === 'score') {
          progress.update(done);
          if (mode === 'json' && (done === total || done - last >= 64)) {
            last = done;
            emit({ event: 'progress', done, total });
          }
        }
      },
      });
    } finally {
      progress.stop();
      process.off('SIGINT', onSigint);
    }
    for (const s of result.skipped) if (mode !== 'json') io.err(`skipped ${s.path}: ${s.reason}`);
    const m = result.metrics;
    const summary = {
      event: 'done',
      out,
      images: result.rows.length,
      skipped: result.skipped.length,
      auroc: m.auroc,
      aurocCI: m.aurocCI,
      ap: m.ap,
      threshold: m.threshold,
      thresholdRule: m.thresholdRule,
      f1: m.f1,
      accuracy: m.accuracy,
      sensitivity: m.sensitivity,
      specificity: m.specificity,
      ...(m.crossValidation ? { crossValidation: { k: m.crossValidation.k, mean: m.crossValidation.mean, std: m.crossValidation.std } } : {}),
      ...(m.chosenOnTheseImages ? { chosenOnTheseImages: m.chosenOnTheseImages, ...(m.chosenOnImages !== undefined ? { chosenOnImages: m.chosenOnImages } : {}) } : {}),
      files: result.files,
    };
    if (mode === 'json') io.out(JSON.stringify(summary));
    else {
      const f = (v: number | null) => (v === null ? '—' : v.toFixed(4));
      io.out(
        `scored ${result.rows.length} images${result.skipped.length ? ` (${result.skipped.length} skipped, see ${OUTPUT_FILES.skipped})` : ''}: ` +
          `AUROC ${f(m.auroc)}${m.aurocCI ? ` [${f(m.aurocCI.low)}, ${f(m.aurocCI.high)}]` : ''}, AP ${f(m.ap)}, F1 ${f(m.f1)}, ` +
          `accuracy ${f(m.accuracy)}, sensitivity ${f(m.sensitivity)}, specificity ${f(m.specificity)} at threshold ${m.threshold ?? '—'} (${m.thresholdRule})`,
      );
      const chosen = m.chosenOnTheseImages ?? [];
      if (chosen.length > 0) {
        // a re-score of the images the run chose on (its val/ again): those numbers are optimistic
        const on = m.chosenOnImages !== undefined ? `${m.chosenOnImages} of these ${result.rows.length} images` : 'these images';
        io.out(`optimistic: the run chose its ${chosen.map((c) => (c === 'beta' ? 'β' : c)).join(', ')} on ${on}; score images held out from training and calibration for an honest estimate, or add --folds 5`);
      }
      const cv = m.crossValidation;
      if (cv) {
        const ms = (k: 'auroc' | 'ap' | 'f1' | 'accuracy' | 'sensitivity' | 'specificity') => `${f(cv.mean[k])} ± ${f(cv.std[k])}`;
        io.out(
          `cross-validation (${cv.k} folds, seed ${cv.seed}${cv.chooseBeta ? `, β per fold: ${f(cv.mean.beta)} ± ${f(cv.std.beta)}` : ''}): ` +
            `AUROC ${ms('auroc')}, AP ${ms('ap')}, F1 ${ms('f1')}, accuracy ${ms('accuracy')}, sensitivity ${ms('sensitivity')}, specificity ${ms('specificity')}`,
        );
      }
      io.out(`wrote ${out}/{${OUTPUT_FILES.scores}, ${OUTPUT_FILES.metrics}, ${OUTPUT_FILES.report}}`);
    }
  });

  // One subcommand, one option per target format; each target is checked before anything is
  // loaded, then written atomically in turn.
  program
    .command('export')
    .description(
      'write a trained run for deployment: --onnx <file>, the whole scoring graph (encoder, flow, decoder, scores, anomaly map) as an ONNX model (opset 17; input NCHW pixels in [0, 1], preprocessing in its metadata); --web <dir>, a folder any static file server can host (index.html at its root) that scores images in the browser, nothing uploaded',
    )
    .requiredOption('--run <dir>', 'trained run folder')
    .option('--onnx <file>', 'the .onnx file to write (atomically; its folder is created)')
    .option('--web <dir>', 'the folder to write: the web page and the run (atomically; a new or empty folder whose parent exists)')
    .option('--overwrite', 'with --web: replace an earlier web export in that folder')
    .addOption(new Option('--backend <name>', 'tensor backend that reads the weights (for --onnx)').choices([...BACKEND_NAMES]))
    .option('--json', 'machine output: one JSON line per file or folder written')
    .action(async (opts: { run: string; onnx?: string; web?: string; overwrite?: boolean; backend?: BackendName; json?: boolean }) => {
      mode = opts.json ? 'json' : 'human';
      if (opts.onnx === undefined && opts.web === undefined) throw new UsageError('export: name what to write: --onnx <file> and/or --web <dir> (see export --help)');
      if (opts.overwrite && opts.web === undefined) throw new UsageError('export: --overwrite replaces an earlier --web export; give --web <dir>');
      const runDir = await checkRunFolder(opts.run);
      const onnxFile = opts.onnx === undefined ? null : await checkOutputFile(opts.onnx, '--onnx');
      const web = opts.web === undefined ? null : { run: runDir, out: opts.web, overwrite: opts.overwrite ?? false };
      if (web) await checkWebExport(web);
      if (onnxFile !== null) {
        await initBackend({ ...(opts.backend ? { backend: opts.backend } : {}), quiet: true });
        const exported = await exportRunToOnnx(runDir, onnxFile);
        const mib = exported.bytes.length / 2 ** 20;
        if (mode === 'json') io.out(JSON.stringify({ event: 'exported', format: 'onnx', file: onnxFile, bytes: exported.bytes.length, outputs: exported.outputs }));
        else io.out(`aeflow-score: wrote ${opts.onnx} (ONNX, ${mib.toFixed(1)} MiB): input image [batch, 1|3, size, size] in [0, 1]; outputs ${exported.outputs.join(', ')}`);
      }
      if (web) {
        const exported = await exportWebFolder(web);
        if (mode === 'json') io.out(JSON.stringify({ event: 'exported', format: 'web', folder: exported.out, files: exported.files, bytes: exported.bytes }));
        else io.out(`aeflow-score: wrote ${opts.web} (web page + run, ${exported.files} files, ${(exported.bytes / 2 ** 20).toFixed(1)} MiB): host it with any static file server and open index.html; images are scored in the browser`);
      }
    });

  // The queue (BullMQ on Redis): workers on any number of machines, one submit that collects.
  program
    .command('worker')
    .description('score jobs from a Redis queue (BullMQ) until stopped: loads each run once and keeps it warm; see submit')
    .requiredOption('--queue <redis-url>', 'Redis URL, e.g. redis://127.0.0.1:6379')
    .option('--queue-name <name>', 'BullMQ queue name (the same as submit\'s)', DEFAULT_QUEUE_NAME)
    .option('--concurrency <n>', 'jobs taken at once; concurrent jobs are scored together as one batch', parseInteger('--concurrency', 1, 256), 8)
    .option('--run <dirs...>', 'run folders to load at start (others are loaded from the folder a job names, when readable here)')
    .option('--lock-duration <ms>', "a job whose worker is gone (killed, frozen) goes back to the queue after this long", parseInteger('--lock-duration', 100), 30_000)
    .option('--stalled-interval <ms>', 'how often this worker looks for such jobs', parseInteger('--stalled-interval', 100), 30_000)
    .addOption(new Option('--backend <name>', 'tensor backend').choices([...BACKEND_NAMES]))
    .addOption(RUNTIME_OPTION())
    .option('--quiet', 'print only errors')
    .option('--json', 'machine output: one JSON line per event')
    .action(async (opts: { queue: string; queueName: string; concurrency: number; run?: string[]; lockDuration: number; stalledInterval: number; backend?: BackendName; runtime: ScoreRuntime | 'auto'; quiet?: boolean; json?: boolean }) => {
      mode = opts.json ? 'json' : opts.quiet ? 'quiet' : 'human';
      checkRedisUrl(opts.queue);
      for (const dir of opts.run ?? []) await checkRunFolder(dir);
      await initBackend({ ...(opts.backend ? { backend: opts.backend } : {}), quiet: mode !== 'human' });
      const worker = await startScoreWorker({
        url: opts.queue,
        queueName: opts.queueName,
        concurrency: opts.concurrency,
        runtime: opts.runtime,
        lockDurationMs: opts.lockDuration,
        stalledIntervalMs: opts.stalledInterval,
        ...(opts.run ? { runs: opts.run } : {}),
        onEvent: (e) => {
          if (mode === 'json') io.out(JSON.stringify(e));
          else if (e.event === 'failed') io.err(`aeflow-score worker: ${e.image}: ${e.reason}${e.final ? '' : ' (will be retried)'}`);
          else if (e.event === 'connection' && e.state !== 'ready') io.err(`aeflow-score worker: Redis ${e.state}${e.detail ? `: ${e.detail}` : ''}`);
          else if (mode === 'human' && e.event === 'run-loaded') io.out(`aeflow-score worker: loaded run ${e.runId} from ${e.dir} (${e.ms} ms); ${e.described}`);
        },
      });
      if (mode === 'human') io.out(`aeflow-score worker ${worker.name}: taking jobs from ${redactRedisUrl(opts.queue)} queue "${opts.queueName}" (concurrency ${opts.concurrency}); Ctrl-C to stop after the jobs in hand`);
      await new Promise<void>((r) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void worker.close().then(r);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      const { scored, failed } = worker.counts();
      if (mode === 'json') io.out(JSON.stringify({ event: 'done', scored, failed }));
      else if (mode === 'human') io.out(`aeflow-score worker ${worker.name}: stopped after ${scored} images scored, ${failed} failed jobs`);
    });

  program
    .command('submit')
    .description('score a dataset through a Redis queue: enqueue its images, show progress across workers, write the same scores.csv / metrics.json / report.html as a local run; run it again with the same --out to resume')
    .requiredOption('--queue <redis-url>', 'Redis URL, e.g. redis://127.0.0.1:6379')
    .option('--queue-name <name>', 'BullMQ queue name (the same as the workers\')', DEFAULT_QUEUE_NAME)
    .requiredOption('--run <dir>', 'trained run folder (workers load it from this path unless started with --run)')
    .requiredOption('--data <paths...>', 'dataset root (<root>/<split>/<CLASS>/…) or image files')
    .addOption(new Option('--dataset <kind>', `how to read --data: ${DATASET_KINDS.join(', ')} (image files only)`).default('folder'))
    .option('--split <name>', 'split to score (folder root: <root>/<split>; default: test if present)')
    .option('--normal <classes>', 'comma-separated class folders of normal images', 'NORMAL')
    .option('--ids <file>', "score only these images: one id per line, or a run's split.json")
    .requiredOption('--out <dir>', 'output folder (also holds queue-journal.jsonl, what a resumed submit skips)')
    .option('--threshold <rule>', 'best-f1 | from-val | auto | <number>', 'auto')
    .option('--beta <B|auto>', 'score weight β in [0, 1], or auto (as for scoring without --queue)', (v: string) => (v === 'auto' ? ('auto' as const) : parseNumber('--beta', 0, 1)(v)))
    .option('--skip-invalid', 'write the results without the images that failed (listed in skipped.json) instead of stopping')
    .option('--maps <N|ids...>', 'residual + heat-map PNGs for the N most anomalous images, or for these ids (made here)')
    .addOption(new Option('--send <what>', 'bytes: jobs carry the files; path: workers read them (a volume shared at the same path)').choices(['bytes', 'path']).default('bytes'))
    .option('--max-queued <n>', 'jobs in Redis at once (bounds its memory)', parseInteger('--max-queued', 1), 1000)
    .addOption(new Option('--backend <name>', 'tensor backend (for the report\'s example images)').choices([...BACKEND_NAMES]))
    .addOption(RUNTIME_OPTION())
    .option('--quiet', 'print only errors and the final summary line')
    .option('--json', 'machine output: JSON lines on stdout (progress events, then the result)')
    .action(async (opts: ScoreCliOptions & { queue: string; queueName: string; send: 'bytes' | 'path'; maxQueued: number }) => {
      mode = opts.json ? 'json' : opts.quiet ? 'quiet' : 'human';
      checkRedisUrl(opts.queue);
      const runDir = await checkRunFolder(opts.run!);
      await checkDataPaths(opts.data!);
      const out = await checkOutputFolder(opts.out!);
      const maps = opts.maps === undefined ? undefined : opts.maps.length === 1 && /^\d+$/.test(opts.maps[0]!) ? Number(opts.maps[0]) : opts.maps;
      await initBackend({ ...(opts.backend ? { backend: opts.backend } : {}), quiet: mode !== 'human' });
      const { dataset, items } = await openScoringData(opts);
      process.on('SIGINT', onSigint);
      const progress = new Progress(mode);
      progress.start('scoring', items.length, '{label} |{bar}| {value}/{total} images | {info}');
      let lastLine = 0;
      let result;
      try {
        result = await submitScoring({
          url: opts.queue,
          queueName: opts.queueName,
          runDir,
          dataset,
          items,
          out,
          threshold: parseThresholdOption(opts.threshold),
          ...(opts.beta !== undefined ? { beta: opts.beta } : {}),
          skipInvalid: opts.skipInvalid ?? false,
          ...(maps !== undefined ? { maps } : {}),
          runtime: opts.runtime,
          send: opts.send,
          maxQueued: opts.maxQueued,
          signal: controller.signal,
          onProgress: (p) => {
            const info = `${p.failed} failed, ${p.queued} queued, ${p.workers} workers, ${p.rate === null ? '—' : p.rate.toFixed(1)} images/s, ETA ${p.etaSeconds === null ? '—' : formatDuration(p.etaSeconds)}${p.redis === 'ready' ? '' : ', Redis reconnecting'}`;
            progress.update(p.done + p.failed, { info });
            const now = Date.now();
            if (mode === 'json' && (now - lastLine >= 2000 || p.done + p.failed === p.total)) {
              lastLine = now;
              io.out(JSON.stringify({ event: 'progress', ...p }));
            } else if (mode === 'human' && !progress.active && now - lastLine >= 10_000) {
              lastLine = now;
              io.err(`aeflow-score submit: ${p.done}/${p.total} done, ${info}`);
            }
          },
        });
      } finally {
        progress.stop();
        process.off('SIGINT', onSigint);
      }
      for (const s of result.skipped) if (mode !== 'json') io.err(`skipped ${s.path}: ${s.reason}`);
      const m = result.metrics;
      const f = (v: number | null) => (v === null ? '—' : v.toFixed(4));
      if (mode === 'json') io.out(JSON.stringify({ event: 'done', out, runId: result.runId, images: result.rows.length, scoredNow: result.scoredNow, skipped: result.skipped.length, auroc: m.auroc, ap: m.ap, threshold: m.threshold, files: result.files }));
      else io.out(`scored ${result.rows.length} images through the queue (${result.scoredNow} now${result.skipped.length ? `, ${result.skipped.length} skipped, see ${OUTPUT_FILES.skipped}` : ''}): AUROC ${f(m.auroc)}, AP ${f(m.ap)}, F1 ${f(m.f1)} at threshold ${m.threshold ?? '—'} (${m.thresholdRule}); wrote ${out}`);
    });

  program
    .command('serve')
    .description('HTTP scoring service: POST /score (PNG, JPEG or DICOM body) → JSON scores or ?heatmap=1 PNG; GET /health')
    .requiredOption('--run <dir>', 'trained run folder')
    .option('--port <n>', 'port (0: any free one)', parseInteger('--port', 0, 65535), 8080)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--max-bytes <n>', 'largest upload in bytes', parseInteger('--max-bytes', 1), 20 * 1024 * 1024)
    .option('--max-concurrent <n>', 'requests being decoded or scored before 503 (an upload takes a slot once its body has arrived)', parseInteger('--max-concurrent', 1, 1024), 4)
    .option('--headers-timeout <ms>', 'time for the request line and headers to arrive, then 408', parseInteger('--headers-timeout', 1), 10_000)
    .option('--request-timeout <ms>', 'time for the whole request (headers and body) to arrive, then 408', parseInteger('--request-timeout', 1), 30_000)
    .option('--idle-timeout <ms>', 'time an upload may send nothing before 408; also the keep-alive idle time', parseInteger('--idle-timeout', 1), 10_000)
    .option('--max-connections-per-client <n>', 'open connections from one client address before 429', parseInteger('--max-connections-per-client', 1, 65535), 16)
    .option('--threshold <value>', 'decision threshold (default: the run\'s calibration.json)', parseNumber('--threshold'))
    .addOption(new Option('--backend <name>', 'tensor backend').choices([...BACKEND_NAMES]))
    .addOption(RUNTIME_OPTION())
    .option('--quiet', 'no request log')
    .action(async (opts: { run: string; port: number; host: string; maxBytes: number; maxConcurrent: number; headersTimeout: number; requestTimeout: number; idleTimeout: number; maxConnectionsPerClient: number; threshold?: number; backend?: BackendName; runtime: ScoreRuntime | 'auto'; quiet?: boolean }) => {
      await checkRunFolder(opts.run);
      await initBackend({ ...(opts.backend ? { backend: opts.backend } : {}), quiet: opts.quiet ?? false });
      const running = await startScoreServer({
        runDir: resolve(opts.run),
        port: opts.port,
        host: opts.host,
        maxBytes: opts.maxBytes,
        maxConcurrent: opts.maxConcurrent,
        headersTimeoutMs: opts.headersTimeout,
        requestTimeoutMs: opts.requestTimeout,
        idleTimeoutMs: opts.idleTimeout,
        maxConnectionsPerClient: opts.maxConnectionsPerClient,
        ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}),
        runtime: opts.runtime,
        ...(opts.quiet ? {} : { log: (line: string) => io.err(line) }),
      });
      io.out(`aeflow-score: ${running.scorer.describe()}`);
      io.out(`aeflow-score: serving ${opts.run} on ${running.url} (POST /score, GET /health); Ctrl-C to stop`);
      await new Promise<void>((r) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void running.close().then(r);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; usage errors were already printed by commander (to stderr).
      if (err.exitCode === 0) return EXIT_CODES.ok;
      if (mode === 'json') io.out(JSON.stringify({ event: 'error', exitCode: EXIT_CODES.usage, error: err.message.replace(/^error: /, '') }));
      return EXIT_CODES.usage;
    }
    return reportFailure(io, 'aeflow-score', mode, err);
  } finally {
    process.off('SIGINT', onSigint);
  }
  return EXIT_CODES.ok;
}
