import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DATASET_KINDS } from '@aeflow/datasets/node';
import { EXIT_CODES, EXIT_CODES_HELP, InterruptedError, metricsSummary, UsageError } from '@aeflow/eval';
import { checkDataPaths, checkOutputFolder, formatDuration, processConsole, reportFailure, RunFolderError, runWorkflowBenchmark, SCORE_RUNTIMES, trainAndEvaluate, type Console, type ScoreRuntime, type OutputMode, type WorkflowEvent } from '@aeflow/eval/node';
import { ENCODER_ARCHS, parseRunConfig, PRESET_NAMES, RUN_FILES, type HistoryRecord, type RunConfig } from '@aeflow/model';
import { RunFolder } from '@aeflow/model/node';
import { BACKEND_NAMES, type BackendName } from '@aeflow/tensor';
import { initBackend, pathExists } from '@aeflow/tensor/node';
import { version } from '../package.json';
import { buildConfig } from './config.js';

const EXAMPLES = `
Examples:
  # the embedded default: the cpu preset on a folder dataset (<root>/train/{NORMAL,PNEUMONIA}/…)
  $ aeflow-train --data $AEFLOW_HOME/data/chest-xray --dataset chest-xray --out runs/chest

  # the paper's setting, with two settings changed
  $ aeflow-train --data data/OCT2017 --dataset oct2017 --preset paper --set train.epochs=50 --set flow.subnet=conv --out runs/oct

  # MedMNIST from the asset cache, settings from a file, a fixed seed, machine-readable progress
  $ aeflow-train --data $AEFLOW_HOME/data/medmnist --dataset medmnist:pneumoniamnist --config my.json --seed 1 --json --out runs/pmnist

  # β chosen honestly on the validation split (by AUROC), then applied unchanged to the held-out test part
  $ aeflow-train --data data/chest --beta auto --out runs/chest-auto

  # a baseline of the paper's Table 1 (plain autoencoder or FastFlow-style flow only)
  $ aeflow-train --data data/chest --set model=ae --out runs/chest-ae

  # the kNN bar: nothing trained, the training images' pooled features are the memory
  $ aeflow-train --data data/chest --set model=knn --set knn.k=5 --set size=224 --out runs/chest-knn

  # interrupted (Ctrl-C)? continue the same run from its last checkpoint (the run knows its data)
  $ aeflow-train --resume --out runs/chest

  # speed of a configuration on random images; the last line is JSON
  $ aeflow-train bench --encoder wide_resnet50_2 --random-weights --size 64 --batch 8 --steps 3

${EXIT_CODES_HELP}

Settings (--set key=value, or a --config JSON file) are those of config.json:
  preset, model (aeflow|ae|fastflow|knn), encoder.{arch,weights,tap,batchNorm}, size,
  flow.{blocks,subnet,hiddenChannels,clamp,clampMode,permutation,positional,featureNorm}, decoder.widths, loss.{alpha,recon},
  score.{beta,flow,synthetic}, knn.{k,regions}, train.{lr,weightDecay,batchSize,epochs,validateEvery,featureCache,featureNoise,seed}
`;

function parseInteger(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || n < min || n > max) throw new InvalidArgumentError(`${name}: "${value}" is not a whole number from ${min} to ${max}`);
    return n;
  };
}

function parsePositive(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name}: "${value}" is not a positive number`);
    return n;
  };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A word for a POSIX shell: quoted unless it is made of safe characters only. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command that continues an interrupted run: `--resume --out <run>` and the options that are
 * not stored in the run (cache, backend, --epochs); the data options too when the run has not
 * stored them yet (data.json is written once the training data is ready).
 */
export function resumeCommand(opts: TrainCliOptions, dataStored: boolean): string {
  const args: string[] = [];
  if (!dataStored && opts.data !== undefined) {
    args.push('--data', resolve(opts.data), '--dataset', opts.dataset);
    if (opts.normal !== 'NORMAL') args.push('--normal', opts.normal);
    if (opts.holdout !== 200) args.push('--holdout', String(opts.holdout));
    if (opts.skipInvalid) args.push('--skip-invalid');
  }
  if (opts.cache === false) args.push('--no-cache');
  else if (opts.cacheDir) args.push('--cache-dir', resolve(opts.cacheDir));
  if (opts.backend) args.push('--backend', opts.backend);
  if (opts.epochs !== undefined) args.push('--epochs', String(opts.epochs));
  args.push('--resume', '--out', resolve(opts.out!));
  return ['aeflow-train', ...args].map(shellWord).join(' ');
}

interface TrainCliOptions {
  data?: string;
  dataset: string;
  normal: string;
  preset?: string;
  config?: string;
  set?: string[];
  out?: string;
  resume?: boolean;
  epochs?: number;
  maxMinutes?: number;
  backend?: BackendName;
  seed?: number;
  beta?: number | 'auto';
  holdout: number;
  skipInvalid?: boolean;
  cacheDir?: string;
  cache: boolean;
  quiet?: boolean;
  json?: boolean;
}

/** Exit codes: EXIT_CODES of @aeflow/eval (0 done, 1 data/run error, 2 usage error, 130 interrupted: resume with --resume). */
export async function main(argv: readonly string[], io: Console = processConsole): Promise<number> {
  let exitCode: number = EXIT_CODES.ok;
  // --json is known before commander parses (a usage error is a JSON line too)
  let mode: OutputMode = argv.includes('--json') ? 'json' : argv.includes('--quiet') ? 'quiet' : 'human';
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) {
      io.err('aeflow-train: stopped at once; the last epoch checkpoint is kept');
      process.exit(EXIT_CODES.interrupted);
    }
    controller.abort();
    io.err('\naeflow-train: interrupted; stopping after this step (Ctrl-C again to quit now)');
  };

  const program = new Command('aeflow-train')
    .description('Train AE-FLOW on the normal images of a dataset; writes a run folder (config.json, model.safetensors, history.jsonl, scores.csv, metrics.json, report.html).')
    .version(version, '--version', 'print the version and exit')
    .option('--data <root>', 'dataset root (<root>/<split>/<CLASS>/…), a MedMNIST .npz or its folder, an ISIC or BraTS root (with --resume: the run\'s own, unless given)')
    .addOption(new Option('--dataset <kind>', `how to read --data: ${DATASET_KINDS.join(', ')}`).default('folder'))
    .option('--normal <classes>', 'comma-separated class folders of normal images (folder, miic)', 'NORMAL')
    .addOption(new Option('--preset <name>', 'starting settings (default cpu)').choices([...PRESET_NAMES]))
    .option('--config <file.json>', 'settings file (full or partial config.json)')
    .option('--set <key=value>', 'one setting, e.g. train.lr=0.001 (repeatable)', collect)
    .option('--out <dir>', 'run folder to write (e.g. runs/<name>)')
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .option('--epochs <n>', 'train until this epoch (default: train.epochs; with --resume, to go further)', parseInteger('--epochs', 1, 100_000))
    .option('--max-minutes <m>', 'stop after the first epoch that ends past this time (a checkpoint is written)', parsePositive('--max-minutes'))
    .addOption(new Option('--backend <name>', 'tensor backend (default: the first that loads)').choices([...BACKEND_NAMES]))
    .option('--seed <n>', 'seed of the initialisation, shuffling and held-out split (train.seed)', parseInteger('--seed', -2147483648, 2147483647))
    .option(
      '--beta <B|auto>',
      'score weight β in [0, 1] (score.beta; default the paper\'s 0.9); auto: chosen on the validation split by AUROC over 0, 0.05, …, 1 and applied unchanged to the scored part',
      (v: string) => {
        if (v === 'auto') return 'auto' as const;
        const n = Number(v);
        if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`--beta: "${v}" is not a number in [0, 1] or auto`);
        return n;
      },
    )
    .option('--holdout <n>', 'normal (and as many anomalous) images held out when the data has no val/test split', parseInteger('--holdout', 1), 200)
    .option('--skip-invalid', 'skip files that fail to decode (listed in <out>/skipped.json and on the console) instead of stopping')
    .option('--cache-dir <dir>', 'feature cache folder (default: the writable aeflow cache)')
    .option('--no-cache', 'keep the feature cache in memory only')
    .option('--quiet', 'print only errors and the final summary line')
    .option('--json', 'machine output: JSON lines on stdout (events, then the result)')
    .addHelpText('after', EXAMPLES)
    .showHelpAfterError('(run with --help for usage and examples)')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  program.action(async (opts: TrainCliOptions) => {
    mode = opts.json ? 'json' : opts.quiet ? 'quiet' : 'human';
    // --resume reopens the data the run stored (data.json): --out is enough
    const missing = (opts.resume ? (['out'] as const) : (['data', 'out'] as const)).filter((k) => opts[k] === undefined);
    if (missing.length > 0) throw new UsageError(`missing ${missing.map((m) => `--${m}`).join(', ')} (see --help)`);
    if (opts.resume && (opts.preset || opts.config || (opts.set ?? []).length > 0 || opts.seed !== undefined || opts.beta !== undefined)) {
      throw new UsageError(`--resume continues ${opts.out} with its own ${RUN_FILES.config}; drop --preset, --config, --set and --seed (and --beta; use --epochs to train further)`);
    }
    const emit = (event: Record<string, unknown>) => mode === 'json' && io.out(JSON.stringify(event));
    const say = (line: string) => mode === 'human' && io.err(line);
    // The paths, in words, before the backend or the data is loaded.
    if (opts.data !== undefined) await checkDataPaths([opts.data], { folder: true });
    const out = await checkOutputFolder(opts.out!);
    const configPath = join(out, RUN_FILES.config);

    let config: RunConfig;
    let overrides: Record<string, unknown> | undefined;
    if (opts.resume) {
      if (!(await pathExists(configPath))) throw new RunFolderError(`--resume: ${out} holds no run (no ${RUN_FILES.config}); start one without --resume`);
      config = parseRunConfig(JSON.parse(await readFile(configPath, 'utf8')), configPath);
    } else {
      if (await pathExists(configPath)) throw new RunFolderError(`${out} already holds a run; continue it with --resume or choose another --out`);
      ({ overrides, config } = await buildConfig({ ...(opts.preset ? { preset: opts.preset } : {}), ...(opts.config ? { configFile: opts.config } : {}), set: [...(opts.set ?? []), ...(opts.beta !== undefined ? [`score.beta=${opts.beta}`] : [])], ...(opts.seed !== undefined ? { seed: opts.seed } : {}) }));
    }

    const backend = await initBackend({ ...(opts.backend ? { backend: opts.backend } : {}), quiet: mode !== 'human' });
    emit({ event: 'backend', backend: backend.name });

    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 30, fps: 4, barsize: 24, format: '{label} |{bar}| {value}/{total} {info}' },
      cliProgress.Presets.shades_classic,
    );
    const tty = mode === 'human' && process.stderr.isTTY === true;
    let barOn = false;
    let barLabel = '';
    const barStart = (label: string, total: number, value = 0, info = '') => {
      if (!tty) return;
      if (barOn) bar.stop();
      bar.start(total, value, { label, info });
      barOn = true;
      barLabel = label;
    };
    const barStop = () => {
      if (barOn) bar.stop();
      barOn = false;
      barLabel = '';
    };

    // Progress: a bar over all steps of the run, with the epoch, images/s, ETA and running losses.
    const epochs = config.model === 'knn' ? 1 : (opts.epochs ?? config.train.epochs);
    let runningLoss = 0;
    let runningCount = 0;
    let lastEpoch: (HistoryRecord & { kind: 'epoch' }) | null = null;
    let stepTimes: number[] = [];
    let lastStepAt = performance.now();
    let cacheAnnounced = false;
    const fmt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : v.toPrecision(4));
    const onEvent = (e: WorkflowEvent) => {
      if (e.type === 'data') {
        say(`aeflow-train: ${e.description}`);
        const schedule = config.model === 'knn' ? `nothing to train: one pass fills the memory (k ${config.knn.k})` : `${config.train.epochs} epochs of batch ${config.train.batchSize}`;
        say(`aeflow-train: ${config.preset} preset, ${config.model}, ${typeof config.encoder.arch === 'string' ? config.encoder.arch : 'resnet'} at ${config.size} px, ${schedule}${opts.resume ? ' (resuming)' : ''}`);
        emit({ event: 'data', how: e.how, train: e.train, validation: e.validation, final: e.final });
        return;
      }
      if (e.type === 'skipped') {
        for (const s of e.skipped) if (mode !== 'json') io.err(`skipped ${s.path}: ${s.reason}`);
        emit({ event: 'skipped', count: e.count, skipped: e.skipped });
        return;
      }
      if (e.type === 'scoring') {
        const label = e.part === 'validation' ? 'scoring validation' : 'scoring';
        if (barLabel !== label || e.done <= 0) barStart(label, e.total);
        if (barOn) bar.update(e.done, { info: `of ${e.total}` });
        if (e.done === e.total) barStop();
        return;
      }
      if (e.type === 'synthetic') {
        if (mode === 'json') emit({ event: 'synthetic', ...e });
        else if (mode === 'human') {
          barStop();
          io.err(`synthetic-anomaly head: pass ${e.epoch}/${e.epochs}, loss ${fmt(e.loss)}`);
        }
        return;
      }
      if (mode === 'json') {
        if (e.type === 'history') emit({ event: 'history', ...e.record });
        else if (e.type === 'step') emit({ event: 'step', ...e });
        else if (e.done === e.total || e.done % 256 < config.train.batchSize) emit({ event: 'cache', done: e.done, total: e.total });
        return;
      }
      if (e.type === 'cache') {
        if (!tty && !cacheAnnounced) say(`computing encoder features of ${e.total} images (once: reused every epoch and by later runs)…`);
        cacheAnnounced = true;
        if (!tty) return;
        if (!barOn || e.done <= config.train.batchSize) barStart('encoder features', e.total, e.done, '(computed once, reused every epoch)');
        else bar.update(e.done);
        if (e.done === e.total) barStop();
        return;
      }
      if (e.type === 'step') {
        const now = performance.now();
        stepTimes.push(now - lastStepAt);
        if (stepTimes.length > 20) stepTimes = stepTimes.slice(-20);
        lastStepAt = now;
        if (e.batch === 1) {
          runningLoss = 0;
          runningCount = 0;
        }
        if (Number.isFinite(e.loss)) {
          runningLoss += e.loss;
          runningCount++;
        }
        const done = (e.epoch - 1) * e.batches + e.batch;
        const total = epochs * e.batches;
        const meanStep = stepTimes.reduce((a, b) => a + b, 0) / stepTimes.length / 1000;
        const ips = config.train.batchSize / meanStep;
        const info =
          `epoch ${e.epoch}/${epochs} step ${e.batch}/${e.batches} | ${ips.toFixed(1)} img/s | ETA ${formatDuration((total - done) * meanStep)} | ` +
          `loss ${fmt(runningLoss / Math.max(1, runningCount))}${lastEpoch ? ` (last epoch: nll ${fmt(lastEpoch.flowNll)}, recon ${fmt(lastEpoch.recon)})` : ''}`;
        if (tty) {
          if (!barOn) barStart('training', total, done, info);
          else {
            bar.setTotal(total);
            bar.update(done, { info });
          }
        }
        return;
      }
      const r = e.record;
      if (r.kind === 'epoch') {
        lastEpoch = r;
        const v = r.validation ? `, validation ${r.validation.metric} ${fmt(r.validation.value)}${r.best ? ' (best: saved)' : ''}` : '';
        const what = config.model === 'knn' ? 'memory filled' : `loss ${fmt(r.loss)} (flow nll ${fmt(r.flowNll)}, recon ${fmt(r.recon)})`;
        const line = `epoch ${r.epoch}/${epochs}: ${what}, ${r.imagesPerSecond.toFixed(1)} img/s, ${formatDuration(r.seconds)}${v}`;
        if (mode === 'human') {
          barStop();
          io.err(line);
        }
      } else if (r.kind === 'nonfinite') {
        io.err(`epoch ${r.epoch} step ${r.step}: ${r.message} (lr now ${r.lr})`);
      } else if (r.kind === 'cache') {
        say(`encoder features: ${r.computed} computed now, ${r.cached} in the cache, ${formatDuration(r.seconds)}`);
      }
    };

    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let result;
    try {
      result = await trainAndEvaluate({
        out,
        ...(opts.data !== undefined
          ? {
              data: {
                data: opts.data,
                dataset: opts.dataset,
                normalClasses: opts.normal.split(',').map((s) => s.trim()).filter(Boolean),
                holdout: opts.holdout,
                skipInvalid: opts.skipInvalid ?? false,
              },
            }
          : {}),
        ...(overrides ? { config: overrides } : {}),
        resume: opts.resume ?? false,
        epochs,
        ...(opts.cache === false ? { cacheDir: null } : opts.cacheDir ? { cacheDir: resolve(opts.cacheDir) } : {}),
        ...(opts.maxMinutes !== undefined ? { maxSeconds: opts.maxMinutes * 60 } : {}),
        signal: controller.signal,
        onEvent,
        title: opts.out!,
      });
    } finally {
      barStop();
    }
    if (result.stopped === 'aborted') {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      const p = result.partialEpoch;
      const partial = p ? `the first ${p.batch} of ${p.batches} steps of epoch ${p.epoch} (--resume continues at step ${p.batch + 1})` : '';
      const msg =
        result.epoch > 0
          ? `the checkpoint of epoch ${result.epoch}${p ? `, with ${partial},` : ''} is in ${out}`
          : p
            ? `the checkpoint of ${partial} is in ${out}`
            : `no epoch had finished, so there is no checkpoint yet${config.train.featureCache && opts.cache !== false ? ' (the encoder features computed so far are cached)' : ''}`;
      const hint = resumeCommand(opts, (await new RunFolder(out).readIfExists('data'))?.source !== undefined);
      if (mode === 'json') emit({ event: 'interrupted', epoch: result.epoch, step: result.step, partialEpoch: p, runDir: out, resume: hint });
      else io.err(`aeflow-train: interrupted during epoch ${result.epoch + 1}; ${msg}. Continue with: ${hint}`);
      exitCode = EXIT_CODES.interrupted;
      return;
    }

    const metrics = result.metrics;
    const summary = {
      event: 'done',
      runDir: out,
      stopped: result.stopped,
      epoch: result.epoch,
      seconds: result.seconds,
      best: result.best,
      auroc: metrics?.auroc ?? null,
      aurocCI: metrics?.aurocCI ?? null,
      ap: metrics?.ap ?? null,
      f1: metrics?.f1 ?? null,
      threshold: metrics?.threshold ?? null,
      thresholdRule: metrics?.thresholdRule ?? null,
      beta: metrics?.beta ?? null,
      betaRule: metrics?.betaRule ?? null,
      skipped: result.skipped.length,
      // what was chosen on the scored images (then auroc is optimistic) and the honest estimate inside them
      chosenOnTheseImages: metrics?.chosenOnTheseImages ?? [],
      crossValidation: metrics?.crossValidation ? { k: metrics.crossValidation.k, mean: metrics.crossValidation.mean, std: metrics.crossValidation.std } : null,
    };
    if (mode === 'json') io.out(JSON.stringify(summary));
    else {
      io.out(
        `${config.model === 'knn' ? 'memory filled' : `trained ${result.epoch} epochs`} in ${formatDuration(result.seconds)}${result.stopped === 'time' ? ' (time limit)' : ''}` +
          (metrics ? `; ${metricsSummary(metrics, result.finalPart ?? 'the final part')}` : '') +
          `; run in ${out} (report.html)`,
      );
    }
  });

  program
    .command('bench')
    .description('measure train (with / without the feature cache) and score images/s on random images; prints one JSON line last')
    .addOption(new Option('--preset <name>', 'starting settings').choices([...PRESET_NAMES]).default('cpu'))
    .addOption(new Option('--encoder <arch>', 'encoder architecture (default: the preset\'s)').choices([...ENCODER_ARCHS]))
    .option('--random-weights', 'seeded random encoder weights (no pretrained asset needed)')
    .option('--size <px>', 'image size', parseInteger('--size', 16, 4096))
    .option('--batch <n>', 'batch size', parseInteger('--batch', 1, 1024), 8)
    .option('--steps <n>', 'timed steps per measurement', parseInteger('--steps', 1, 1000), 3)
    .option('--set <key=value>', 'one more setting (repeatable)', collect)
    .addOption(new Option('--backend <name>', 'tensor backend').choices([...BACKEND_NAMES]))
    .addOption(new Option('--runtime <name>', 'scoring runtime measured for score_images_per_s: auto (what aeflow-score uses: onnx wherever onnxruntime-node loads), onnx or tfjs; tfjs is always measured too').choices(['auto', ...SCORE_RUNTIMES]).default('auto'))
    .option('--score-threads <n>', 'ONNX Runtime threads (default: one per core)', parseInteger('--score-threads', 1, 256))
    .option('--quiet', 'only the JSON line')
    .action(async (opts: { preset: 'cpu' | 'paper'; encoder?: (typeof ENCODER_ARCHS)[number]; randomWeights?: boolean; size?: number; batch: number; steps: number; set?: string[]; backend?: BackendName; runtime: ScoreRuntime | 'auto'; scoreThreads?: number; quiet?: boolean }) => {
      await initBackend({ ...(opts.backend ? { backend: opts.backend } : {}), quiet: opts.quiet ?? false });
      const { parseSetArgs } = await import('./config.js');
      const r = await runWorkflowBenchmark({
        runtime: opts.runtime,
        ...(opts.scoreThreads !== undefined ? { scoreThreads: opts.scoreThreads } : {}),
        preset: opts.preset,
        ...(opts.encoder ? { encoder: opts.encoder } : {}),
        randomWeights: opts.randomWeights ?? false,
        ...(opts.size ? { size: opts.size } : {}),
        batch: opts.batch,
        steps: opts.steps,
        config: parseSetArgs(opts.set ?? []),
        ...(opts.quiet ? {} : { onProgress: (m: string) => io.err(m) }),
      });
      io.out(
        JSON.stringify({
          backend: r.backend,
          train_images_per_s: r.train_images_per_s,
          train_images_per_s_no_cache: r.train_images_per_s_no_cache,
          score_images_per_s: r.score_images_per_s,
          peak_rss_mb: r.peak_rss_mb,
          score_runtime: r.score_runtime,
          score_runtime_described: r.score_runtime_described,
          score_images_per_s_tfjs: r.score_images_per_s_tfjs,
          train_gflops: r.train_gflops,
          train_gflops_no_cache: r.train_gflops_no_cache,
          score_gflops: r.score_gflops,
        }),
      );
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
    // Interrupted while scoring, after training: the model is saved.
    if (err instanceof InterruptedError) return reportFailure(io, 'aeflow-train', mode, `${err.message}; the trained model is in the run folder (score it with aeflow-score --run)`, EXIT_CODES.interrupted);
    return reportFailure(io, 'aeflow-train', mode, err);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return exitCode;
}
