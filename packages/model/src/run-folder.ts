import * as tf from '@tensorflow/tfjs-core';
import type { BatchNormStatistics } from '@aeflow/backbone';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readSafetensors, readSafetensorsHeader, writeFileAtomic, writeSafetensors } from '@aeflow/tensor/node';
import {
  calibrationFromLegacyThreshold,
  parseCheckpointMetadata,
  parseHistory,
  parseJsonText,
  parseModelMetadata,
  RUN_FILE_CODECS,
  RUN_FILE_FIXES,
  RUN_FILES,
  RunFileError,
  type CalibrationFile,
  type HistoryRecord,
  type LoopState,
  type ModelMetadata,
  type RunFileContent,
  type RunFileKind,
} from './run-files.js';
import { batchNormStatisticsFromTensors, batchNormStatisticsTensors, ENCODER_BATCHNORM_FORMAT } from './encoder-batchnorm.js';

/** The two weight files of a run. */
export type WeightsFile = 'model' | 'checkpoint';

/** Whether every value of these tensors is finite. */
export function allFinite(tensors: Record<string, tf.Tensor>): boolean {
  const list = Object.values(tensors);
  if (list.length === 0) return true;
  return tf.tidy(() => tf.all(tf.stack(list.map((t) => tf.all(tf.isFinite(t))))).dataSync()[0] === 1);
}

/** `.<name>.<pid>.<ms>.tmp`: the temp file `writeFileAtomic` renames into place. */
const TEMP_FILE = /^\.(.+)\.(\d+)\.(\d+)\.tmp$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by someone else
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Removes the temp files killed writes left in a folder (not its sub-folders):
 * `.<name>.<pid>.<time>.tmp` (what `writeFileAtomic` renames into place) of a process that no longer
 * runs, or of this process from before it started (a reused pid). A missing folder has none.
 * With `only`, just the temp files of that file name (a folder that is not aeflow's, e.g. where
 * `aeflow-score export` writes). Returns the removed paths.
 */
export async function removeStaleTempFiles(dir: string, options: { only?: string } = {}): Promise<string[]> {
  const removed: string[] = [];
  const startedAt = Date.now() - process.uptime() * 1000;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isMissing(err)) return removed;
    throw err;
  }
  for (const name of names) {
    const m = TEMP_FILE.exec(name);
    if (!m || (options.only !== undefined && m[1] !== options.only)) continue;
    const pid = Number(m[2]);
    const path = join(dir, name);
    if (pid === process.pid) {
      if ((await stat(path)).mtimeMs >= startedAt) continue; // a write of ours, maybe in flight
    } else if (processAlive(pid)) continue;
    await rm(path, { force: true });
    removed.push(path);
  }
  return removed;
}

/**
 * Every file of a run folder, typed: `read(kind)` parses and validates (an error names the file,
 * the field and the fix), `write(kind, value)` validates and writes atomically (temp file +
 * rename), `path(kind)` is where it lives. The same class serves a scoring output folder (its
 * scores.csv, metrics.json, report.html, skipped.json) and `validation()` the run's validation
 * sub-folder.
 *
 * ```ts
 * const run = new RunFolder('runs/chest');
 * const config = await run.read('config');           // RunConfig
 * const { rows, columns } = await run.read('scores'); // this release's or the previous one's header
 * const calibration = await run.readCalibration();    // calibration.json, or the old threshold.json
 * await run.write('metrics', metrics);
 * ```
 */
export class RunFolder {
  constructor(readonly dir: string) {}

  /** The path of a file (or of the validation sub-folder) of this run. */
  path(file: keyof typeof RUN_FILES): string {
    return join(this.dir, RUN_FILES[file]);
  }

  /** The validation part's output folder (`<run>/validation`). */
  validation(): RunFolder {
    return new RunFolder(this.path('validation'));
  }

  /** Whether the file exists. */
  async exists(file: keyof typeof RUN_FILES): Promise<boolean> {
    try {
      await stat(this.path(file));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  /** Reads and validates a file; a missing file is a {@link RunFileError} too. */
  async read<K extends RunFileKind>(kind: K): Promise<RunFileContent[K]> {
    const value = await this.readIfExists(kind);
    if (value === null) throw new RunFileError(this.path(kind), null, 'does not exist', this.missingFix(kind));
    return value;
  }

  /** Reads and validates a file, or null when it does not exist. */
  async readIfExists<K extends RunFileKind>(kind: K): Promise<RunFileContent[K] | null> {
    const text = await this.readText(this.path(kind));
    if (text === null) return null;
    return RUN_FILE_CODECS[kind].parse(text, this.path(kind));
  }

  /** Validates a value (what a read of it would return) and writes it atomically; returns its path. */
  async write<K extends RunFileKind>(kind: K, value: RunFileContent[K]): Promise<string> {
    const codec = RUN_FILE_CODECS[kind];
    const path = this.path(kind);
    const text = codec.format(value);
    // what cannot be read back is not written
    if (kind !== 'report') codec.parse(text, `${path} (about to be written)`);
    await writeFileAtomic(path, text);
    return path;
  }

  /**
   * history.jsonl; with `tolerateTruncatedEnd` a last line cut by a crash (files of releases before
   * atomic writes) is returned in `truncated` rather than thrown. Missing: no records.
   */
  async readHistory(options: { tolerateTruncatedEnd?: boolean } = {}): Promise<{ records: HistoryRecord[]; truncated: string | null }> {
    const text = await this.readText(this.path('history'));
    if (text === null) return { records: [], truncated: null };
    return parseHistory(text, this.path('history'), options);
  }

  /**
   * β and the threshold: calibration.json, else the previous release's threshold.json (migrated,
   * dated by its modification time), else null.
   */
  async readCalibration(): Promise<CalibrationFile | null> {
    const current = await this.readIfExists('calibration');
    if (current) return current;
    const legacyPath = this.path('legacyThreshold');
    const text = await this.readText(legacyPath);
    if (text === null) return null;
    const date = (await stat(legacyPath)).mtime.toISOString();
    return calibrationFromLegacyThreshold(parseJsonText(text, legacyPath, 'calibration'), legacyPath, date);
  }

  /** The metadata of a weights file, validated (model: format, epoch, model kind, config, β; checkpoint: the loop state). */
  async readWeightsMetadata(file: 'model'): Promise<ModelMetadata>;
  async readWeightsMetadata(file: 'checkpoint'): Promise<{ state: LoopState; history: HistoryRecord[] | null }>;
  async readWeightsMetadata(file: WeightsFile): Promise<ModelMetadata | { state: LoopState; history: HistoryRecord[] | null }> {
    const path = this.path(file);
    const header = await this.readHeader(path, file);
    return file === 'model' ? parseModelMetadata(header.metadata, path) : parseCheckpointMetadata(header.metadata, path);
  }

  /** The tensors of a weights file (the caller disposes them); `filter` picks keys. */
  async readWeights(file: WeightsFile, options: { filter?: (key: string) => boolean } = {}): Promise<Record<string, tf.Tensor>> {
    const path = this.path(file);
    await this.readHeader(path, file);
    return readSafetensors(path, options.filter ? { filter: options.filter } : {});
  }

  /** Writes weights atomically, refusing non-finite values: a NaN checkpoint is never written. */
  async writeWeights(file: WeightsFile, tensors: Record<string, tf.Tensor>, metadata: Record<string, string>): Promise<string> {
    const path = this.path(file);
    if (file === 'model') parseModelMetadata(metadata, `${path} (about to be written)`);
    else parseCheckpointMetadata(metadata, `${path} (about to be written)`);
    if (!allFinite(tensors)) throw new Error(`refusing to write ${path}: the weights contain NaN or Inf`);
    await writeSafetensors(path, tensors, metadata);
    return path;
  }

  /**
   * The encoder's BatchNorm statistics the run re-estimated (`encoder.batchNorm: 'train-normals'`):
   * encoder-batchnorm.safetensors. Missing or damaged: a {@link RunFileError} saying what to do.
   */
  async readBatchNormStatistics(): Promise<BatchNormStatistics> {
    const path = this.path('encoderBatchNorm');
    let tensors: Record<string, tf.Tensor>;
    try {
      tensors = await readSafetensors(path);
    } catch (err) {
      if (isMissing(err)) {
        throw new RunFileError(path, null, 'does not exist', 'the run\'s config has encoder.batchNorm "train-normals", whose statistics the run stores there: copy it with the run folder (or train again)');
      }
      throw new RunFileError(path, null, (err as Error).message, 'copy the file with the run folder unchanged, or train the run again to rewrite it');
    }
    try {
      return batchNormStatisticsFromTensors(tensors, path);
    } finally {
      tf.dispose(Object.values(tensors));
    }
  }

  /** Writes encoder-batchnorm.safetensors atomically (`metadata`: where the statistics come from); refuses non-finite values. */
  async writeBatchNormStatistics(stats: BatchNormStatistics, metadata: Record<string, string>): Promise<string> {
    const path = this.path('encoderBatchNorm');
    const tensors = batchNormStatisticsTensors(stats);
    try {
      if (!allFinite(tensors)) throw new Error(`refusing to write ${path}: the re-estimated BatchNorm statistics contain NaN or Inf (are the training images valid?)`);
      await writeSafetensors(path, tensors, { ...metadata, format: ENCODER_BATCHNORM_FORMAT });
    } finally {
      tf.dispose(Object.values(tensors));
    }
    return path;
  }

  /**
   * Removes temp files that killed writes left in this folder and its validation sub-folder
   * (`.<name>.<pid>.<time>.tmp` of a process that no longer runs, or of this process from before
   * it started). A resume or a new run in the folder calls it first. Returns the removed paths.
   */
  async removeStaleTempFiles(): Promise<string[]> {
    return [...(await removeStaleTempFiles(this.dir)), ...(await removeStaleTempFiles(this.path('validation')))];
  }

  private async readText(path: string): Promise<string | null> {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  private async readHeader(path: string, file: WeightsFile) {
    try {
      return await readSafetensorsHeader(path);
    } catch (err) {
      if (isMissing(err)) throw new RunFileError(path, null, 'does not exist', this.missingFix(file));
      throw new RunFileError(path, null, (err as Error).message, RUN_FILE_FIXES[file]);
    }
  }

  private missingFix(kind: RunFileKind | WeightsFile): string {
    switch (kind) {
      case 'config':
      case 'model':
        return `${this.dir} is not a trained run: train one there (aeflow-train --out ${this.dir}) or pass the right folder`;
      case 'checkpoint':
        return 'start the run without resume';
      case 'scores':
      case 'metrics':
      case 'report':
        return `score the run first (aeflow-score --run ${this.dir})`;
      case 'calibration':
        return 'score the validation part with a threshold rule, or pass --threshold <number>';
      default:
        return `the run in ${this.dir} was written without it; ${RUN_FILE_FIXES[kind]}`;
    }
  }
}
