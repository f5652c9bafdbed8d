import * as tf from '@tensorflow/tfjs-core';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createEncoder, type Encoder } from '@aeflow/backbone';
import { writeSkipReport, type ImageDataset, type ImageItem } from '@aeflow/datasets';
import { auroc, averagePrecision, bestF1, type ThresholdMetrics } from '@aeflow/metrics';
import { pathExists, readSafetensors, readSafetensorsHeader, SeededRandom, writableCacheDir, writeFileAtomic, writeSafetensors } from '@aeflow/tensor';
import { Adam } from './adam.js';
import { parseRunConfig, resolveConfig, type RunConfig } from './config.js';
import { FeatureCache, loadBatchItems } from './feature-cache.js';
import { chooseBeta } from './beta.js';
import { AEFlow } from './model.js';
import { formatScoresCsv, RUN_FILES, scoreColumns, type DataSource, type HistoryRecord, type ScoreRow } from './run-files.js';
import { RunFolder } from './run-folder.js';

export { RUN_FILES, type HistoryRecord, type ScoreRow };

/** A dataset and the items of it to use (default: all of its items). */
export interface DataSplit {
  dataset: ImageDataset;
  items?: readonly ImageItem[];
}

/** Progress events of {@link trainRun} (for a CLI's progress display). */
export type TrainEvent =
  | { type: 'cache'; done: number; total: number }
  | { type: 'step'; epoch: number; step: number; batch: number; batches: number; loss: number }
  | { type: 'history'; record: HistoryRecord };

export interface TrainRunOptions {
  /** The run folder (created). */
  runDir: string;
  /** Preset name + overrides (see `resolveConfig`); ignored when resuming (config.json is used). */
  config?: unknown;
  /** Training images (normal ones). Default items: all whose label is not 1. */
  train: DataSplit;
  /** Validation images: AUROC when they include anomalies (label 1), else the mean loss. */
  validation?: DataSplit;
  /** Continue the run in `runDir` from its checkpoint (a fresh start when there is none). */
  resume?: boolean;
  /** Train until this epoch (default config.train.epochs); lets a resumed run go further. */
  epochs?: number;
  /** A ready encoder (else built from config.encoder). It is not disposed. */
  encoder?: Encoder;
  /** Feature cache root: a folder, `null` for memory only; default `<writableCacheDir()>/features`. */
  cacheDir?: string | null;
  /**
   * Stops between two steps (or between two batches of the feature cache's fill). The steps done
   * in the interrupted epoch are saved in `checkpoint.safetensors` (see `checkpointOnAbort`), so
   * `resume` continues at the next step of that epoch.
   */
  signal?: AbortSignal;
  /**
   * On abort, write the partial epoch (weights, optimizer, loop state with the step reached) to
   * the checkpoint. Default true; false leaves the last epoch's checkpoint, as a kill would.
   */
  checkpointOnAbort?: boolean;
  onEvent?: (event: TrainEvent) => void;
  /** Stop after the first epoch that ends past this many seconds (a checkpoint is written). */
  maxSeconds?: number;
  /**
   * How to open the training data again (root, dataset kind, options), stored in data.json's
   * `source` so a resume can reopen the data from the run folder alone.
   */
  dataSource?: DataSource;
  /** Fault injection for tests: at these global steps (1-based) the loss is multiplied by NaN. */
  injectNaNAtSteps?: readonly number[];
}

export interface TrainResult {
  runDir: string;
  config: RunConfig;
  history: HistoryRecord[];
  /** Last completed epoch. */
  epoch: number;
  /** The best validation; `beta`: the β chosen there (`score.beta: 'auto'`), the best model's β. */
  best: { epoch: number; metric: 'auroc' | 'loss'; value: number; beta?: number } | null;
  stopped: 'done' | 'aborted' | 'time';
  /** Global optimisation steps done (counting those of a partial epoch). */
  step: number;
  /** Aborted within an epoch and its steps saved in the checkpoint: where `resume` continues. */
  partialEpoch: { epoch: number; batch: number; batches: number } | null;
  seconds: number;
}

interface LoopState {
  epoch: number;
  step: number;
  lr: number;
  optimizerStep: number;
  /** The RNG state at the start of epoch `epoch + 1` (its shuffle order is drawn from it). */
  rng: number[];
  best: TrainResult['best'];
  /** `score.beta: 'auto'`: the β chosen at the last validation (the model's β now). */
  beta?: number;
  /**
   * An interrupted epoch (written on abort): `batch` of its batches were done, with these running
   * sums; resuming draws the same order from `rng` and continues at batch `batch + 1`.
   */
  partial?: PartialEpoch | null;
}

interface PartialEpoch {
  epoch: number;
  batch: number;
  sumLoss: number;
  sumFlow: number;
  sumRecon: number;
  seen: number;
  seconds: number;
  cpuSeconds: number;
}

/** What one training step did. */
export interface StepResult {
  loss: number;
  flowNll: number;
  recon: number;
  gradSquaredNorm: number;
  /** false: the loss or a gradient was NaN/Inf and the update was not applied. */
  finite: boolean;
}

/**
 * One optimisation step at a time on the trained parts (flow + decoder) of a model: loss,
 * gradients, a finiteness check (one read per step), and the Adam update only when everything is
 * finite. Every tensor of a step is disposed: the tensor count stays flat.
 */
export class Trainer {
  readonly optimizer: Adam;
  private readonly vars: tf.Variable[];

  constructor(
    readonly model: AEFlow,
    config: { lr: number; weightDecay: number },
  ) {
    this.vars = model.trainableVariables;
    this.optimizer = new Adam(this.vars, config);
  }

  /** A step on a batch of features (from the encoder or the cache) and its images in [0, 1]. */
  async step(features: tf.Tensor4D, images: tf.Tensor4D, options: { poison?: boolean; noiseSeed?: number } = {}): Promise<StepResult> {
    const parts: tf.Tensor[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const l = this.model.lossFromFeatures(features, images, true, options.noiseSeed !== undefined ? { noiseSeed: options.noiseSeed } : {});
      parts.push(tf.keep(l.flowNll), tf.keep(l.recon));
      return options.poison ? tf.mul<tf.Scalar>(l.total, Number.NaN) : l.total;
    }, this.vars);
    const ordered = this.vars.map((v) => grads[v.name] ?? tf.zerosLike(v));
    const check = tf.tidy(() => tf.stack([value, parts[0]!, parts[1]!, tf.addN(ordered.map((g) => tf.tidy(() => tf.sum(tf.square(g)))))]));
    try {
      const [loss, flowNll, recon, gradSquaredNorm] = Array.from(await check.data()) as [number, number, number, number];
      const finite = [loss, flowNll, recon, gradSquaredNorm].every((v) => Number.isFinite(v));
      if (finite) this.optimizer.apply(ordered);
      return { loss, flowNll, recon, gradSquaredNorm, finite };
    } finally {
      tf.dispose([value, check, ...parts, ...Object.values(grads)]);
      tf.dispose(ordered.filter((g) => !Object.values(grads).includes(g)));
    }
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

/** Builds the encoder a configuration names (pretrained asset, a path, or seeded random weights). */
export async function encoderFromConfig(config: RunConfig): Promise<Encoder> {
  const { arch, weights, tap } = config.encoder;
  return createEncoder({
    arch: typeof arch === 'string' ? arch : { block: arch.block, layers: arch.layers, ...(arch.widthPerGroup !== undefined ? { widthPerGroup: arch.widthPerGroup } : {}) },
    ...(weights === 'pretrained' ? {} : { weights }),
    taps: [tap],
    seed: config.train.seed,
  });
}

/**
 * Lets timers, I/O callbacks and signal handlers run. A cached step needs no I/O and, on wasm,
 * `tensor.data()` resolves as a microtask, so without this a whole epoch is one chain of
 * microtasks: Ctrl-C and progress timers would wait for the epoch's end. Costs microseconds.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}


function allFinite(tensors: Record<string, tf.Tensor>): boolean {
  const list = Object.values(tensors);
  if (list.length === 0) return true;
  return tf.tidy(() => tf.all(tf.stack(list.map((t) => tf.all(tf.isFinite(t))))).dataSync()[0] === 1);
}

/** Writes weights, refusing non-finite values: a NaN checkpoint is never written. */
async function writeWeights(path: string, tensors: Record<string, tf.Tensor>, metadata: Record<string, string>): Promise<void> {
  if (!allFinite(tensors)) throw new Error(`refusing to write ${path}: the weights contain NaN or Inf`);
  await writeSafetensors(path, tensors, metadata);
}

/**
 * Loads a trained model from a run folder (`model.safetensors`, or `checkpoint.safetensors` with
 * `which: 'last'`), with the β chosen on validation when the run has `score.beta: 'auto'`.
 */
export async function loadRun(runDir: string, options: { encoder?: Encoder; which?: 'best' | 'last' } = {}): Promise<AEFlow> {
  const config = parseRunConfig(JSON.parse(await readFile(join(runDir, RUN_FILES.config), 'utf8')), join(runDir, RUN_FILES.config));
  const file = join(runDir, options.which === 'last' ? RUN_FILES.checkpoint : RUN_FILES.model);
  let chosenBeta: number | undefined;
  if (config.score.beta === 'auto') {
    const meta = (await readSafetensorsHeader(file)).metadata;
    const fromState = meta.state ? (JSON.parse(meta.state) as Partial<LoopState>).beta : undefined;
    chosenBeta = meta.beta !== undefined ? Number(meta.beta) : fromState;
    if (chosenBeta === undefined || !Number.isFinite(chosenBeta)) {
      throw new Error(`${file}: the run has score.beta "auto" but the file records no chosen β (no validation with anomalies has run yet)`);
    }
  }
  const encoder = options.encoder ?? (await encoderFromConfig(config));
  const model = new AEFlow(config, encoder);
  if (chosenBeta !== undefined) model.setBeta(chosenBeta);
  const tensors = await readSafetensors(file, { filter: (k) => k.startsWith('flow.') || k.startsWith('decoder.') || k === 'memory.bank' });
  try {
    model.setWeights(tensors);
  } finally {
    tf.dispose(Object.values(tensors));
  }
  return model;
}

interface Batch {
  features: tf.Tensor4D;
  images: tf.Tensor4D;
  /** The items in the batch: fewer than asked for when files were skipped (`dataset.skipInvalid`), maybe none. */
  items: ImageItem[];
}

/**
 * Yields batches of features + images: from the cache, or by loading and encoding (prefetching the
 * next load). Without a cache, files that fail to decode are skipped when `dataset.skipInvalid`.
 */
async function* featureBatches(model: AEFlow, split: Required<DataSplit>, cache: FeatureCache | null, order: readonly number[], batchSize: number): AsyncGenerator<Batch> {
  const chunks: ImageItem[][] = [];
  for (let i = 0; i < order.length; i += batchSize) chunks.push(order.slice(i, i + batchSize).map((k) => split.items[k]!));
  if (cache) {
    for (const chunk of chunks) yield { ...cache.batch(chunk.map((it) => it.id)), items: chunk };
    return;
  }
  const load = (chunk: ImageItem[]) => loadBatchItems(split.dataset, chunk, model.config.size);
  let next = chunks.length > 0 ? load(chunks[0]!) : undefined;
  try {
    for (let c = 0; c < chunks.length; c++) {
      const { images, items } = await next!;
      next = c + 1 < chunks.length ? load(chunks[c + 1]!) : undefined;
      const features = items.length > 0 ? model.encode(images) : tf.zeros<tf.Rank.R4>([0, model.featureSize, model.featureSize, model.featureChannels]);
      yield { features, images, items };
    }
  } finally {
    // stopped early (abort): the prefetched batch is nobody's
    if (next) void next.then((t) => t.images.dispose(), () => undefined);
  }
}

/**
 * Scores of a split (eval mode): total/flow/recon per item of `items` — the split's items, less any
 * skipped because they failed to decode (`dataset.skipInvalid`) — and the mean losses.
 */
export async function evaluateSplit(
  model: AEFlow,
  split: Required<DataSplit>,
  cache: FeatureCache | null,
  batchSize: number,
): Promise<{ items: ImageItem[]; flow: Float32Array; recon: Float32Array; total: Float32Array; loss: number; flowNll: number; reconLoss: number }> {
  const n = split.items.length;
  const items: ImageItem[] = [];
  const flow = new Float32Array(n);
  const recon = new Float32Array(n);
  const total = new Float32Array(n);
  let lossSum = 0;
  let nllSum = 0;
  let reconSum = 0;
  let offset = 0;
  for await (const b of featureBatches(model, split, cache, split.items.map((_, i) => i), batchSize)) {
    if (b.items.length === 0) {
      tf.dispose([b.features, b.images]);
      continue;
    }
    items.push(...b.items);
    const out = tf.tidy(() => {
      const s = model.scoreFromFeatures(b.features, b.images);
      const l = model.lossFromFeatures(b.features, b.images, false);
      const k = b.images.shape[0];
      return [s.flow, s.recon, s.total, tf.stack([tf.mul(l.total, k), tf.mul(l.flowNll, k), tf.mul(l.recon, k)])];
    });
    const [f, r, t, l] = await Promise.all(out.map((x) => x.data()));
    flow.set(f!, offset);
    recon.set(r!, offset);
    total.set(t!, offset);
    lossSum += l![0]!;
    nllSum += l![1]!;
    reconSum += l![2]!;
    offset += b.images.shape[0];
    tf.dispose([...out, b.features, b.images]);
    await yieldToEventLoop();
  }
  const d = Math.max(1, offset);
  const used = <T extends Float32Array>(a: T) => (offset === n ? a : a.slice(0, offset));
  return { items, flow: used(flow), recon: used(recon), total: used(total), loss: lossSum / d, flowNll: nllSum / d, reconLoss: reconSum / d };
}

function withItems(split: DataSplit, train: boolean): Required<DataSplit> {
  const items = split.items ?? (train ? split.dataset.items.filter((it) => it.label !== 1) : split.dataset.items);
  if (items.length === 0) throw new Error(`${split.dataset.name}: no images to ${train ? 'train on' : 'validate on'}`);
  return { dataset: split.dataset, items };
}

/**
 * Trains a model and keeps its run folder up to date: `config.json` at the start; after every
 * epoch `checkpoint.safetensors` (weights, Adam moments and the loop state: epoch, step, lr, RNG —
 * one atomic file, so a kill never leaves weights and state out of step), `history.jsonl`, and
 * `model.safetensors` whenever validation improves (or every epoch without validation).
 *
 * A step whose loss or gradients are NaN/Inf is not applied: the loop restores the state at the
 * start of the epoch (weights, flow buffers, optimizer), halves the learning rate, logs a
 * `nonfinite` record, and goes on; eight in a row stop the run with an error.
 */
export async function trainRun(options: TrainRunOptions): Promise<TrainResult> {
  const t0 = performance.now();
  const { runDir } = options;
  const configPath = join(runDir, RUN_FILES.config);
  const checkpointPath = join(runDir, RUN_FILES.checkpoint);
  const resuming = options.resume === true && (await pathExists(checkpointPath));
  let config: RunConfig;
  if (options.resume && (await pathExists(configPath))) {
    config = parseRunConfig(JSON.parse(await readFile(configPath, 'utf8')), configPath);
  } else {
    config = resolveConfig(options.config ?? {});
  }
  let train = withItems(options.train, true);
  let validation = options.validation ? withItems(options.validation, false) : undefined;
  const autoBeta = config.score.beta === 'auto';
  const autoBetaError = () =>
    new Error(
      `score.beta "auto" chooses β on the validation images by AUROC, which needs normal and anomalous ones (${validation ? `${validation.dataset.name}: ${validation.items.filter((i) => i.label === 1).length} anomalous of ${validation.items.length}` : 'no validation split given'}); set score.beta to a number (the paper: 0.9)`,
    );
  // checked before any work (the feature cache may take minutes)
  if (autoBeta && !(validation?.items.some((i) => i.label === 1) && validation.items.some((i) => i.label === 0))) throw autoBetaError();
  const encoder = options.encoder ?? (await encoderFromConfig(config));
  const model = new AEFlow(config, encoder);
  const trainer = new Trainer(model, { lr: config.train.lr, weightDecay: config.train.weightDecay });
  const optimizer = trainer.optimizer;
  const emit = options.onEvent ?? (() => undefined);
  // the knn model's one pass fills its memory; a second would add every image twice
  const epochs = config.model === 'knn' ? 1 : (options.epochs ?? config.train.epochs);
  let history: HistoryRecord[] = [];
  let state: LoopState = {
    epoch: 0,
    step: 0,
    lr: config.train.lr,
    optimizerStep: 0,
    rng: new SeededRandom(config.train.seed).getState(),
    best: null,
  };
  let snapshot: Record<string, tf.Tensor> | undefined;
  const takeSnapshot = (): void => {
    if (snapshot) tf.dispose(Object.values(snapshot));
    snapshot = { ...model.getWeights() };
    for (const [k, v] of Object.entries(optimizer.getState())) snapshot[`optimizer.${k}`] = v;
  };
  const restore = (from: Record<string, tf.Tensor>, optimizerStep: number): void => {
    const weights: Record<string, tf.Tensor> = {};
    const opt: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(from)) {
      if (k.startsWith('optimizer.')) opt[k.slice('optimizer.'.length)] = v;
      else weights[k] = v;
    }
    model.setWeights(weights);
    optimizer.setState(opt, optimizerStep);
  };
  /**
   * skipped.json, when a dataset skips invalid files (`skipInvalid`) and any were left out: every
   * file the datasets left out (while listing, or decoding) with the reason.
   */
  const writeSkipped = async (): Promise<void> => {
    const sets = [train.dataset, ...(validation && validation.dataset !== train.dataset ? [validation.dataset] : [])];
    if (!sets.some((d) => d.skipInvalid)) return;
    const all = sets.flatMap((d) => d.skipped);
    const unique = all.filter((s, i) => all.findIndex((o) => o.path === s.path) === i);
    if (unique.length > 0) await writeSkipReport(join(runDir, RUN_FILES.skipped), unique);
  };
  /** Weights + optimizer moments + loop state in one atomic file: they never get out of step. */
  const writeCheckpoint = async (loop: LoopState): Promise<void> => {
    const weights = model.getWeights();
    const opt = optimizer.getState();
    try {
      const all: Record<string, tf.Tensor> = { ...weights };
      for (const [k, v] of Object.entries(opt)) all[`optimizer.${k}`] = v;
      await writeWeights(checkpointPath, all, { format: 'aeflow-checkpoint', epoch: String(loop.epoch), state: JSON.stringify(loop) });
    } finally {
      tf.dispose([...Object.values(weights), ...Object.values(opt)]);
    }
  };

  try {
    if (resuming) {
      const tensors = await readSafetensors(checkpointPath);
      const header = await readSafetensorsHeader(checkpointPath);
      const saved = JSON.parse(header.metadata.state ?? 'null') as LoopState | null;
      if (!saved) throw new Error(`${checkpointPath}: no loop state in its metadata; it is not a training checkpoint`);
      try {
        restore(tensors, saved.optimizerStep);
      } finally {
        tf.dispose(Object.values(tensors));
      }
      state = saved;
      optimizer.lr = state.lr;
      if (state.beta !== undefined) model.setBeta(state.beta);
      try {
        history = (await readFile(join(runDir, RUN_FILES.history), 'utf8'))
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as HistoryRecord)
          // records of a partial epoch (its non-finite steps) stay with it
          .filter((r) => !('epoch' in r) || r.epoch <= state.epoch || (r.kind === 'nonfinite' && r.epoch === state.partial?.epoch && r.step <= state.step));
      } catch {
        history = [];
      }
    } else {
      await writeFileAtomic(
        configPath,
        JSON.stringify(
          {
            ...config,
          },
          null,
          2,
        ) + '\n',
      );
    }

    const record = (r: HistoryRecord): void => {
      history.push(r);
      emit({ type: 'history', record: r });
    };

    // Feature cache: the encoder is frozen, so its features are computed once per image.
    let trainCache: FeatureCache | null = null;
    let valCache: FeatureCache | null = null;
    if (config.train.featureCache) {
      const root = options.cacheDir === null ? undefined : (options.cacheDir ?? join(await writableCacheDir(), 'features'));
      const tc = performance.now();
      trainCache = await FeatureCache.open(model, train.dataset.name, root);
      const onCache = (done: number, total: number) => emit({ type: 'cache', done, total });
      await trainCache.fill(model, train.dataset, train.items, config.train.batchSize, onCache, options.signal);
      if (validation && !options.signal?.aborted) {
        valCache = validation.dataset.name === train.dataset.name ? trainCache : await FeatureCache.open(model, validation.dataset.name, root);
        await valCache.fill(model, validation.dataset, validation.items, config.train.batchSize, onCache, options.signal);
      }
      // Stopped while computing features: what was computed is in the cache's shards already.
      if (options.signal?.aborted) {
        await writeSkipped();
        return { runDir, config, history, epoch: state.epoch, best: state.best, stopped: 'aborted', step: state.step, partialEpoch: null, seconds: (performance.now() - t0) / 1000 };
      }
      const computed = trainCache.computed + (valCache && valCache !== trainCache ? valCache.computed : 0);
      if (!resuming || computed > 0) record({ kind: 'cache', computed, cached: trainCache.cachedCount, seconds: (performance.now() - tc) / 1000 });
      // Files that failed to decode (skipped with dataset.skipInvalid) are not cached: use the rest.
      const tc2 = trainCache;
      train = withItems({ dataset: train.dataset, items: train.items.filter((it) => tc2.has(it.id)) }, true);
      const vc = valCache;
      if (validation && vc) validation = withItems({ dataset: validation.dataset, items: validation.items.filter((it) => vc.has(it.id)) }, false);
    }
    if (!resuming) {
      await new RunFolder(runDir).write('data', {
        encoder: encoder.id,
        encoderWeightsHash: encoder.weightsHash,
        train: { dataset: train.dataset.name, images: train.items.length },
        validation: validation
          ? { dataset: validation.dataset.name, images: validation.items.length, anomalies: validation.items.filter((i) => i.label === 1).length }
          : null,
        ...(options.dataSource ? { source: options.dataSource } : {}),
      });
    }

    const hasAnomalies = validation ? validation.items.some((i) => i.label === 1) && validation.items.some((i) => i.label === 0) : false;
    if (autoBeta && !hasAnomalies) throw autoBetaError();
    const inject = new Set(options.injectNaNAtSteps ?? []);
    let stopped: TrainResult['stopped'] = 'done';
    let partialEpoch: TrainResult['partialEpoch'] = null;
    let consecutiveBad = 0;
    takeSnapshot();
    let snapshotStep = optimizer.step;

    for (let epoch = state.epoch + 1; epoch <= epochs; epoch++) {
      const te = performance.now();
      const cpu0 = process.cpuUsage();
      const rng = SeededRandom.fromState(state.rng);
      const order = rng.permutation(train.items.length);
      // A batch of one has no batch statistics (the resnet subnet's BatchNorm): drop a lone last image.
      const usable = order.length % config.train.batchSize === 1 && order.length > 1 ? order.slice(0, -1) : order;
      const batches = Math.ceil(usable.length / config.train.batchSize);
      // Resuming an interrupted epoch: the same order, its first `partial.batch` batches done.
      const partial = state.partial && state.partial.epoch === epoch ? state.partial : null;
      state.partial = null;
      let sumLoss = partial?.sumLoss ?? 0;
      let sumFlow = partial?.sumFlow ?? 0;
      let sumRecon = partial?.sumRecon ?? 0;
      let seen = partial?.seen ?? 0;
      let b = partial?.batch ?? 0;
      let aborted = false;
      for await (const batch of featureBatches(model, train, trainCache, usable.slice(b * config.train.batchSize), config.train.batchSize)) {
        if (options.signal?.aborted) {
          tf.dispose([batch.features, batch.images]);
          aborted = true;
          break;
        }
        b += 1;
        if (batch.items.length === 0) {
          // every file of this batch failed to decode and was skipped (dataset.skipInvalid)
          tf.dispose([batch.features, batch.images]);
          continue;
        }
        const stepNumber = state.step + 1;
        let r: StepResult;
        if (config.model === 'knn') {
          model.addToMemory(batch.features);
          r = { loss: 0, flowNll: 0, recon: 0, gradSquaredNorm: 0, finite: true };
        } else {
          // the step's feature noise comes from the run's seed and the step number: a resumed run draws the same
          r = await trainer.step(batch.features, batch.images, { poison: inject.has(stepNumber), noiseSeed: config.train.seed * 1_000_003 + stepNumber });
        }
        const n = batch.images.shape[0];
        tf.dispose([batch.features, batch.images]);
        const { loss, flowNll, recon, gradSquaredNorm: gradSq, finite } = r;
        if (finite) {
          consecutiveBad = 0;
          sumLoss += loss * n;
          sumFlow += flowNll * n;
          sumRecon += recon * n;
          seen += n;
        }
        state.step = stepNumber;
        if (!finite) {
          // Back to the last good state (the start of this epoch): the flow's BatchNorm running
          // statistics may have taken the bad batch in; then a smaller step.
          restore(snapshot!, snapshotStep);
          state.lr /= 2;
          optimizer.lr = state.lr;
          consecutiveBad += 1;
          record({ kind: 'nonfinite', epoch, step: stepNumber, lr: state.lr, message: `loss ${loss}, squared gradient norm ${gradSq}: restored the epoch-start state, halved the learning rate` });
          if (consecutiveBad >= 8) throw new Error(`training diverged: ${consecutiveBad} non-finite steps in a row (last lr ${state.lr}); lower train.lr`);
        }
        emit({ type: 'step', epoch, step: stepNumber, batch: b, batches, loss });
        await yieldToEventLoop();
      }
      if (aborted) {
        stopped = 'aborted';
        if (options.checkpointOnAbort !== false && b > (partial?.batch ?? 0)) {
          const cpu = process.cpuUsage(cpu0);
          const saved: LoopState = {
            ...state,
            optimizerStep: optimizer.step,
            partial: {
              epoch,
              batch: b,
              sumLoss,
              sumFlow,
              sumRecon,
              seen,
              seconds: (partial?.seconds ?? 0) + (performance.now() - te) / 1000,
              cpuSeconds: (partial?.cpuSeconds ?? 0) + (cpu.user + cpu.system) / 1e6,
            },
          };
          await writeCheckpoint(saved);
          await writeFileAtomic(join(runDir, RUN_FILES.history), history.map((r) => JSON.stringify(r)).join('\n') + (history.length > 0 ? '\n' : ''));
          partialEpoch = { epoch, batch: b, batches };
        }
        break;
      }
      if (model.hasMemory && config.model !== 'knn') {
        // score.flow 'knn': the flow moved this epoch, so its memory of the training images' pooled z′ is rebuilt
        model.clearMemory();
        for await (const batch of featureBatches(model, train, trainCache, train.items.map((_, i) => i), config.train.batchSize)) {
          if (batch.items.length > 0) model.addToMemory(batch.features);
          tf.dispose([batch.features, batch.images]);
          await yieldToEventLoop();
        }
      }
      state.epoch = epoch;
      state.rng = rng.getState();
      state.optimizerStep = optimizer.step;
      const seconds = (partial?.seconds ?? 0) + (performance.now() - te) / 1000;
      const epochRecord: HistoryRecord & { kind: 'epoch' } = {
        kind: 'epoch',
        epoch,
        step: state.step,
        lr: state.lr,
        loss: sumLoss / Math.max(1, seen),
        flowNll: sumFlow / Math.max(1, seen),
        recon: sumRecon / Math.max(1, seen),
        seconds,
        cpuSeconds: (() => {
          const c = process.cpuUsage(cpu0);
          return (partial?.cpuSeconds ?? 0) + (c.user + c.system) / 1e6;
        })(),
        imagesPerSecond: seen / seconds,
      };
      let improved = false;
      if (validation && (epoch % config.train.validateEvery === 0 || epoch === epochs)) {
        const ev = await evaluateSplit(model, validation, valCache, config.train.batchSize);
        const labels = ev.items.map((i) => (i.label === 1 ? 1 : 0));
        // Without anomalies: the flow's NLL per dimension (the reconstruction loss for the AE baseline).
        let v: { metric: 'auroc' | 'loss'; value: number; beta?: number };
        if (autoBeta) {
          // β chosen on these validation scores, kept with the model (its total uses it from now on)
          const choice = chooseBeta(labels, ev.flow, ev.recon);
          model.setBeta(choice.beta);
          state.beta = choice.beta;
          v = { metric: 'auroc', value: choice.auroc, beta: choice.beta };
        } else {
          // (the knn model: the mean distance of the validation normals to their neighbours)
          const lossValue = model.flowModel ? ev.flowNll : config.model === 'knn' ? ev.total.reduce((a, b) => a + b, 0) / Math.max(1, ev.total.length) : ev.reconLoss;
          v = hasAnomalies ? { metric: 'auroc', value: auroc(labels, ev.total) } : { metric: 'loss', value: lossValue };
        }
        epochRecord.validation = v;
        improved = state.best === null || (v.metric === 'auroc' ? v.value > state.best.value : v.value < state.best.value);
        if (improved) state.best = { epoch, ...v };
      } else if (!validation) {
        improved = true;
      }
      if (improved) epochRecord.best = true;
      record(epochRecord);

      if (improved) {
        const weights = model.getWeights();
        try {
          await writeWeights(join(runDir, RUN_FILES.model), weights, {
            format: 'aeflow-model',
            epoch: String(epoch),
            model: config.model,
            config: JSON.stringify(config),
            ...(autoBeta ? { beta: String(model.beta) } : {}),
          });
        } finally {
          tf.dispose(Object.values(weights));
        }
      }
      await writeCheckpoint(state);
      await writeFileAtomic(join(runDir, RUN_FILES.history), history.map((r) => JSON.stringify(r)).join('\n') + '\n');
      takeSnapshot();
      snapshotStep = optimizer.step;
      if (options.maxSeconds !== undefined && (performance.now() - t0) / 1000 > options.maxSeconds && epoch < epochs) {
        stopped = 'time';
        break;
      }
    }
    await writeSkipped();
    return { runDir, config, history, epoch: state.epoch, best: state.best, stopped, step: state.step, partialEpoch, seconds: (performance.now() - t0) / 1000 };
  } finally {
    if (snapshot) tf.dispose(Object.values(snapshot));
    trainer.dispose();
    model.dispose(true);
    if (!options.encoder) encoder.dispose();
  }
}

export interface ScoreRunOptions {
  runDir: string;
  data: DataSplit;
  encoder?: Encoder;
  /** Decision threshold on the total score; default: the best-F1 threshold when labels allow it. */
  threshold?: number;
  batchSize?: number;
  /** Write scores.csv and metrics.json into the run folder (default true). */
  write?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface ScoreRunResult {
  rows: ScoreRow[];
  metrics: { auroc: number; averagePrecision: number; bestF1: ThresholdMetrics; normals: number; anomalies: number } | null;
}

/** Scores a dataset with a run's best model; writes scores.csv and metrics.json. */
export async function scoreRun(options: ScoreRunOptions): Promise<ScoreRunResult> {
  const model = await loadRun(options.runDir, options.encoder ? { encoder: options.encoder } : {});
  try {
    const split = withItems(options.data, false);
    const batchSize = options.batchSize ?? model.config.train.batchSize;
    const rows: ScoreRow[] = [];
    for (let i = 0; i < split.items.length; i += batchSize) {
      const { images, items: chunk } = await loadBatchItems(split.dataset, split.items.slice(i, i + batchSize), model.config.size);
      if (chunk.length === 0) {
        images.dispose();
        continue;
      }
      const s = model.scoreTensors(images);
      const [f, r, t] = await Promise.all([s.flow.data(), s.recon.data(), s.total.data()]);
      tf.dispose([images, s.flow, s.recon, s.total, s.residual]);
      chunk.forEach((it, k) => rows.push({ id: it.id, label: it.label, flow: f[k]!, recon: r[k]!, total: t[k]!, predicted: null }));
      options.onProgress?.(Math.min(i + batchSize, split.items.length), split.items.length);
      await yieldToEventLoop();
    }
    const labelled = rows.filter((r) => r.label !== null);
    let metrics: ScoreRunResult['metrics'] = null;
    let threshold = options.threshold;
    if (labelled.some((r) => r.label === 1) && labelled.some((r) => r.label === 0)) {
      const labels = labelled.map((r) => r.label!);
      const scores = labelled.map((r) => r.total);
      const f1 = bestF1(labels, scores);
      threshold ??= f1.threshold;
      metrics = {
        auroc: auroc(labels, scores),
        averagePrecision: averagePrecision(labels, scores),
        bestF1: f1,
        normals: labels.filter((l) => l === 0).length,
        anomalies: labels.filter((l) => l === 1).length,
      };
    }
    if (threshold !== undefined) for (const r of rows) r.predicted = r.total >= threshold ? 1 : 0;
    if (options.write !== false) {
      await writeFileAtomic(join(options.runDir, RUN_FILES.scores), formatScoresCsv(rows, scoreColumns(model.config)));
      if (metrics) await writeFileAtomic(join(options.runDir, RUN_FILES.metrics), JSON.stringify({ ...metrics, threshold, beta: model.beta }, null, 2) + '\n');
    }
    return { rows, metrics };
  } finally {
    model.dispose(options.encoder !== undefined);
  }
}
