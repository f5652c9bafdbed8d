import * as tf from '@tensorflow/tfjs-core';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Encoder } from '@aeflow/backbone';
import { loadImageBatch, type SkippedFile } from '@aeflow/datasets';
import { auroc } from '@aeflow/metrics';
import { SeededRandom } from '@aeflow/tensor';
import { writableCacheDir } from '@aeflow/tensor/node';
import { chooseBeta } from './beta.js';
import { historyUpToCheckpoint, readCheckpoint, restoreTrainingState, trainingState, writeCheckpoint } from './checkpoint.js';
import { resolveConfig, type RunConfig } from './config.js';
import { encoderFromConfig } from './encoder-config.js';
import { estimateOnTrainingImages } from './estimate-batchnorm.js';
import { evaluateSplit } from './evaluate-split.js';
import { yieldToEventLoop } from './event-loop.js';
import { featureBatches, resolveSplit, type DataSplit } from './feature-batches.js';
import { FeatureCache } from './feature-cache.js';
import type { AnomalyModel } from './model-types.js';
import { createModel } from './model.js';
import { skippedFileList, type DataSource, type HistoryRecord, type LoopState } from './run-files.js';
import { RunFolder } from './run-folder.js';
import { fitSyntheticHead, SYNTHETIC_HEAD_EPOCHS, syntheticPooling, type SyntheticHead, type SyntheticPooling } from './synthetic-head.js';
import { Trainer, type StepResult } from './train-step.js';

/** Progress events of {@link trainRun} (for a CLI's progress display). */
export type TrainEvent =
  | { type: 'cache'; done: number; total: number }
  | { type: 'synthetic'; epoch: number; epochs: number; loss: number; images: number }
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
  /**
   * Fault injection for tests: `afterCheckpoint` runs after checkpoint.safetensors is renamed into
   * place and before history.jsonl is written (throw to stop the run there, as a kill would).
   */
  faultInjection?: { afterCheckpoint?: (at: { epoch: number; step: number }) => void | Promise<void> };
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
  /**
   * Every file left out (`skipInvalid`): those the datasets skipped while listing and those that
   * failed to decode during the run (also in skipped.json); the datasets are not changed.
   */
  skipped: SkippedFile[];
  /** Temp files of killed writes the run removed from its folder before it started. */
  removedTempFiles: string[];
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
  const folder = new RunFolder(runDir);
  const resuming = options.resume === true && (await folder.exists('checkpoint'));
  let config: RunConfig;
  if (options.resume && (await folder.exists('config'))) {
    config = await folder.read('config');
  } else {
    config = resolveConfig(options.config ?? {});
  }
  let train = resolveSplit(options.train, 'train');
  let validation = options.validation ? resolveSplit(options.validation, 'validation') : undefined;
  // what killed writes of an earlier process left in this folder
  const removedTempFiles = await folder.removeStaleTempFiles();
  const autoBeta = config.score.beta === 'auto';
  const autoBetaError = () =>
    new Error(
      `score.beta "auto" chooses β on the validation images by AUROC, which needs normal and anomalous ones (${validation ? `${validation.dataset.name}: ${validation.items.filter((i) => i.label === 1).length} anomalous of ${validation.items.length}` : 'no validation split given'}); set score.beta to a number (the paper: 0.9)`,
    );
  // checked before any work (the feature cache may take minutes)
  if (autoBeta && !(validation?.items.some((i) => i.label === 1) && validation.items.some((i) => i.label === 0))) throw autoBetaError();
  let encoder: Encoder;
  if (config.encoder.batchNorm === 'train-normals') {
    if (options.encoder) throw new Error(`trainRun: encoder.batchNorm "train-normals" builds its own encoder (with statistics re-estimated on the training images); leave out options.encoder`);
    await mkdir(runDir, { recursive: true });
    // a resumed run keeps the statistics it trained with
    const stats = (await folder.exists('encoderBatchNorm')) ? await folder.readBatchNormStatistics() : await estimateOnTrainingImages(config, train, folder);
    encoder = await encoderFromConfig(config, stats);
  } else {
    encoder = options.encoder ?? (await encoderFromConfig(config));
  }
  const model = createModel(config, encoder);
  const trainer = new Trainer(model, { lr: config.train.lr, weightDecay: config.train.weightDecay });
  const optimizer = trainer.optimizer;
  const emit = options.onEvent ?? (() => undefined);
  // a memory model's one pass fills its memory (knn); a second would add every image twice
  const epochs = model.fitting === 'memory' ? 1 : (options.epochs ?? config.train.epochs);
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
    snapshot = trainingState(model, optimizer);
  };
  /** Files that failed to decode while the run loaded them (`dataset.skipInvalid`); the datasets are not changed. */
  const decodeSkipped: SkippedFile[] = [];
  /** Every file left out: by the datasets while listing, and while decoding here; once per path. */
  const allSkipped = (): SkippedFile[] => {
    const sets = [train.dataset, ...(validation && validation.dataset !== train.dataset ? [validation.dataset] : [])];
    const all = [...sets.flatMap((d) => d.skipped), ...decodeSkipped];
    return all.filter((s, i) => all.findIndex((o) => o.path === s.path) === i);
  };
  /** skipped.json, when a dataset skips invalid files (`skipInvalid`) and any were left out. */
  const writeSkipped = async (): Promise<void> => {
    const sets = [train.dataset, ...(validation ? [validation.dataset] : [])];
    if (!sets.some((d) => d.skipInvalid)) return;
    const unique = allSkipped();
    if (unique.length > 0) await folder.write('skipped', skippedFileList(unique));
  };
  /** The checkpoint (weights, optimizer, loop state and history in one atomic file), then history.jsonl. */
  const checkpointAndHistory = async (loop: LoopState): Promise<void> => {
    await writeCheckpoint(folder, model, optimizer, loop, history);
    await options.faultInjection?.afterCheckpoint?.({ epoch: loop.epoch, step: loop.step });
    await folder.write('history', history);
  };
  const result = (stopped: TrainResult['stopped'], partialEpoch: TrainResult['partialEpoch']): TrainResult => ({
    runDir,
    config,
    history,
    epoch: state.epoch,
    best: state.best,
    stopped,
    step: state.step,
    partialEpoch,
    seconds: (performance.now() - t0) / 1000,
    skipped: allSkipped(),
    removedTempFiles,
  });

  try {
    if (resuming) {
      const saved = await readCheckpoint(folder, model, optimizer);
      state = saved.state;
      optimizer.lr = state.lr;
      if (state.beta !== undefined) model.setBeta(state.beta);
      // The history as of the checkpoint: the one it carries, or (a checkpoint of the previous
      // release) history.jsonl's records up to its step. Written back at once, so the file agrees
      // with the checkpoint even when a kill came between the two writes.
      history = saved.history ?? historyUpToCheckpoint((await folder.readHistory({ tolerateTruncatedEnd: true })).records, state);
      await folder.write('history', history);
    } else {
      await folder.write('config', config);
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
      decodeSkipped.push(...(await trainCache.fill(model, train.dataset, train.items, config.train.batchSize, onCache, options.signal)));
      if (validation && !options.signal?.aborted) {
        valCache = validation.dataset.name === train.dataset.name ? trainCache : await FeatureCache.open(model, validation.dataset.name, root);
        decodeSkipped.push(...(await valCache.fill(model, validation.dataset, validation.items, config.train.batchSize, onCache, options.signal)));
      }
      // Stopped while computing features: what was computed is in the cache's shards already.
      if (options.signal?.aborted) {
        await writeSkipped();
        return result('aborted', null);
      }
      const computed = trainCache.computed + (valCache && valCache !== trainCache ? valCache.computed : 0);
      if (!resuming || computed > 0) record({ kind: 'cache', computed, cached: trainCache.cachedCount, seconds: (performance.now() - tc) / 1000 });
      // Files that failed to decode (skipped with dataset.skipInvalid) are not cached: use the rest.
      const tc2 = trainCache;
      train = resolveSplit({ dataset: train.dataset, items: train.items.filter((it) => tc2.has(it.id)) }, 'train');
      const vc = valCache;
      if (validation && vc) validation = resolveSplit({ dataset: validation.dataset, items: validation.items.filter((it) => vc.has(it.id)) }, 'validation');
    }
    if (!resuming) {
      await folder.write('data', {
        encoder: encoder.id,
        encoderWeightsHash: encoder.weightsHash,
        train: { dataset: train.dataset.name, images: train.items.length },
        validation: validation
          ? { dataset: validation.dataset.name, images: validation.items.length, anomalies: validation.items.filter((i) => i.label === 1).length }
          : null,
        ...(options.dataSource ? { source: options.dataSource } : {}),
      });
    }

    // score.synthetic 'nsa' / 'nsa-patch': the head is fitted once, on the frozen encoder's features, before the
    // flow (a resumed run has it in its checkpoint)
    if (config.score.synthetic !== 'none' && !model.synthetic) {
      model.setSyntheticHead(await fitHeadOnTrainingImages(model, train, syntheticPooling(config.score.synthetic), (epoch, loss, images) => emit({ type: 'synthetic', epoch, epochs: SYNTHETIC_HEAD_EPOCHS, loss, images })));
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
        decodeSkipped.push(...batch.skipped);
        if (batch.items.length === 0) {
          // every file of this batch failed to decode and was skipped (dataset.skipInvalid)
          tf.dispose([batch.features, batch.images]);
          continue;
        }
        const stepNumber = state.step + 1;
        let r: StepResult;
        if (model.fitting === 'memory') {
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
          restoreTrainingState(model, optimizer, snapshot!, snapshotStep);
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
          await checkpointAndHistory(saved);
          partialEpoch = { epoch, batch: b, batches };
        }
        break;
      }
      if (model.hasMemory && model.fitting === 'gradient') {
        // score.flow 'knn': the flow moved this epoch, so its memory of the training images' pooled z′ is rebuilt
        model.clearMemory();
        for await (const batch of featureBatches(model, train, trainCache, train.items.map((_, i) => i), config.train.batchSize)) {
          decodeSkipped.push(...batch.skipped);
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
        decodeSkipped.push(...ev.skipped);
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
          // without anomalies: the kind's validation loss (flow NLL, reconstruction loss, or the knn model's mean distance)
          const lossValue = model.validationLoss({ total: ev.total, loss: ev.loss, flowNll: ev.flowNll, reconLoss: ev.reconLoss });
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
          await folder.writeWeights('model', weights, {
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
      await checkpointAndHistory(state);
      takeSnapshot();
      snapshotStep = optimizer.step;
      if (options.maxSeconds !== undefined && (performance.now() - t0) / 1000 > options.maxSeconds && epoch < epochs) {
        stopped = 'time';
        break;
      }
    }
    await writeSkipped();
    return result(stopped, partialEpoch);
  } finally {
    if (snapshot) tf.dispose(Object.values(snapshot));
    trainer.dispose();
    model.dispose(true);
    if (!options.encoder) encoder.dispose();
  }
}


/** Decoded training images up to this many bytes stay in memory across the head's passes (else each pass decodes again). */
const HEAD_IMAGE_MEMORY_BYTES = 512 * 1024 * 1024;

/** `score.synthetic: 'nsa'` / `'nsa-patch'`: the head fitted on the training normals (shuffled per pass, seeded by train.seed). */
async function fitHeadOnTrainingImages(model: AnomalyModel, train: Required<DataSplit>, pooling: SyntheticPooling, onEpoch: (epoch: number, loss: number, images: number) => void): Promise<SyntheticHead> {
  const { config } = model;
  const order = new SeededRandom(config.train.seed + 2);
  const bs = Math.max(2, config.train.batchSize);
  const n = train.items.length;
  // decoding dominates a pass when the images are files: keep them when they fit (3 channels at most)
  let kept: tf.Tensor4D | undefined;
  if (n * config.size * config.size * 3 * 4 <= HEAD_IMAGE_MEMORY_BYTES) {
    const parts: tf.Tensor4D[] = [];
    try {
      for (let i = 0; i < n; i += bs) {
        parts.push((await loadImageBatch(train.dataset, train.items.slice(i, i + bs), { size: config.size })).images);
        await yieldToEventLoop();
      }
      // one channel count for all (a folder may mix gray and colour files)
      const rgb = parts.some((p) => p.shape[3] === 3);
      kept = tf.tidy(() => tf.concat(parts.map((p) => (rgb && p.shape[3] === 1 ? tf.tile(p, [1, 1, 1, 3]) : p)), 0));
    } finally {
      tf.dispose(parts);
    }
  }
  try {
    return await fitSyntheticHead((images) => model.encode(images), model.featureChannels, async function* () {
      const perm = order.permutation(n);
      for (let i = 0; i < n; i += bs) {
        // a last batch of one image has no other image to blend from: it joins the batch before it
        const end = n - (i + bs) === 1 ? n : Math.min(n, i + bs);
        const batch = perm.slice(i, end);
        if (kept) {
          const at = kept;
          yield tf.tidy(() => tf.gather(at, tf.tensor1d(batch, 'int32')));
        } else yield (await loadImageBatch(train.dataset, batch.map((j) => train.items[j]!), { size: config.size })).images;
        await yieldToEventLoop();
        if (end === n) break;
      }
    }, { seed: config.train.seed + 3, pooling, onEpoch });
  } finally {
    kept?.dispose();
  }
}
