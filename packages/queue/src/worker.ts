import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { DEFAULT_MAX_PIXELS, InvalidImageError, resizeRaster, type ImageDataset, type ImageItem } from '@aeflow/datasets';
import { decodeImageBytes } from '@aeflow/datasets/node';
import { scoreItems } from '@aeflow/eval';
import type { AnomalyModel } from '@aeflow/model';
import { loadRun } from '@aeflow/model/node';
import { createImageScorer, type ImageScorer, type ScoreRuntime } from '@aeflow/onnx/node';
import { redisConnection } from './connection.js';
import { DEFAULT_QUEUE_NAME, parseScoreJob, type RunRef, type ScoreJob, type ScoreResult } from './jobs.js';
import { runIdOf, sha256Hex } from './run-id.js';

/** What a worker reports as it goes (for its log). */
export type WorkerEvent =
  | { event: 'ready'; name: string; queue: string; concurrency: number }
  | { event: 'connection'; state: 'ready' | 'reconnecting' | 'error'; detail?: string }
  | { event: 'run-loaded'; runId: string; dir: string; ms: number; runtime: ScoreRuntime; described: string }
  | { event: 'run-unloaded'; runId: string }
  | { event: 'batch'; runId: string; images: number; failed: number; ms: number }
  | { event: 'failed'; jobId: string; image: string; reason: string; final: boolean };

export interface ScoreWorkerOptions {
  /** Redis URL (redis://host:port[/db]). */
  url: string;
  /** BullMQ queue name (default `aeflow-score`). */
  queueName?: string;
  /** Jobs taken at once (default 8); concurrent jobs of one run are scored together, up to `batchSize` per model call. */
  concurrency?: number;
  /** Images per model call (default: `concurrency`). */
  batchSize?: number;
  /** Run folders this worker serves, loaded at start (others are loaded from the job's folder when this worker can read it). */
  runs?: readonly string[];
  /** Runs kept loaded at once (default 2); the least recently used is disposed when another is needed. */
  maxRuns?: number;
  /** Worker name stored on every job it takes (default host:pid). */
  name?: string;
  /** BullMQ's stalled-job handling: a job whose worker stops renewing its lock for this long goes back to the queue (default 30 000 ms). */
  lockDurationMs?: number;
  /** How often this worker looks for stalled jobs (default 30 000 ms). */
  stalledIntervalMs?: number;
  /** Times a job may stall (its worker killed) before it fails (default 2). */
  maxStalledCount?: number;
  /**
   * Where scores are computed, as for `scoreToFolder`: `tfjs` (default), `onnx` (ONNX Runtime) or
   * `auto` (ONNX Runtime where it loads); `aeflow-score worker --runtime` passes the CLI's default.
   */
  runtime?: ScoreRuntime | 'auto';
  /** Largest image in pixels (default 100 Mpx, as the folder datasets). */
  maxPixels?: number;
  onEvent?: (event: WorkerEvent) => void;
}

export interface RunningScoreWorker {
  name: string;
  /** The BullMQ worker (events, pause/resume). */
  worker: Worker;
  /** Images scored (completed jobs) and jobs failed by this worker so far. */
  counts(): { scored: number; failed: number };
  /** Stops taking jobs, lets the ones in flight finish, disconnects and disposes the loaded runs. */
  close(): Promise<void>;
}

/** One image waiting for its batch. */
interface Pending {
  jobId: string;
  run: LoadedRun;
  image: ScoreJob['image'];
  bytes: Uint8Array;
  resolve: (r: { flow: number; recon: number; total: number; ms: number }) => void;
  reject: (err: unknown) => void;
}

/**
 * Collects the images of concurrent jobs into batches and scores each batch with @aeflow/eval's
 * `scoreItems` — the path `aeflow-score` itself scores with (decode, resize, one model call, the
 * parts and total per image). A batch starts when the model is free: while one is being scored,
 * the jobs that arrive form the next.
 */
class BatchScorer {
  private readonly pending = new Map<string, Pending[]>();
  private running = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly batchSize: number,
    private readonly maxPixels: number,
    private readonly onBatch: (runId: string, images: number, failed: number, ms: number) => void,
  ) {}

  score(runId: string, p: Omit<Pending, 'resolve' | 'reject'>): Promise<{ flow: number; recon: number; total: number; ms: number }> {
    return new Promise((resolveScore, reject) => {
      const list = this.pending.get(runId) ?? [];
      list.push({ ...p, resolve: resolveScore, reject });
      this.pending.set(runId, list);
      // a few ms for the other jobs BullMQ is fetching to join the first batch
      if (!this.running && !this.timer) this.timer = setTimeout(() => void this.drain(), 3);
    });
  }

  private async drain(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    try {
      for (;;) {
        const next = [...this.pending.entries()].find(([, l]) => l.length > 0);
        if (!next) break;
        const [runId, list] = next;
        const batch = list.splice(0, this.batchSize);
        if (list.length === 0) this.pending.delete(runId);
        await this.scoreBatch(runId, batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async scoreBatch(runId: string, batch: Pending[]): Promise<void> {
    const start = performance.now();
    const byJob = new Map(batch.map((p) => [p.jobId, p]));
    const failures = new Map<string, InvalidImageError>();
    // Items keyed by job id (unique even when two jobs carry the same image id); the source path
    // is the submitter's, so errors name the file the user knows.
    const items: ImageItem[] = batch.map((p) => ({ id: p.jobId, label: null, source: { kind: 'file', path: p.image.path } }));
    const dataset: ImageDataset = {
      name: 'queue batch',
      items,
      skipped: [],
      skipInvalid: true,
      load: async (item, options) => {
        const p = byJob.get(item.id)!;
        try {
          const raster = await decodeImageBytes(p.bytes, p.image.path, options.maxPixels ?? this.maxPixels, options.tolerateWarnings ?? false);
          return { id: item.id, label: null, data: resizeRaster(raster, options), width: options.size, height: options.size, channels: options.channels ?? 3 };
        } catch (err) {
          const invalid = err instanceof InvalidImageError ? err : new InvalidImageError(p.image.path, err instanceof Error ? err.message.split('\n')[0]! : String(err));
          failures.set(item.id, invalid);
          throw invalid;
        }
      },
    };
    try {
      const scored = await scoreItems({ model: batch[0]!.run.model, scorer: batch[0]!.run.scorer, dataset, items, batchSize: batch.length, skipInvalid: true });
      const ms = performance.now() - start;
      const rows = new Map(scored.rows.map((r) => [r.id, r]));
      for (const p of batch) {
        const row = rows.get(p.jobId);
        if (row) p.resolve({ flow: row.flow, recon: row.recon, total: row.total, ms });
        else p.reject(failures.get(p.jobId) ?? new Error(`${p.image.path}: the batch returned no score for it`));
      }
      this.onBatch(runId, scored.rows.length, batch.length - scored.rows.length, ms);
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}

/** A run ready to score: its model and the scorer of the chosen runtime. */
interface LoadedRun {
  model: AnomalyModel;
  scorer: ImageScorer;
}

async function disposeRun(run: LoadedRun): Promise<void> {
  await run.scorer.dispose();
  run.model.dispose();
}

/** Loaded runs by id, at most `max`, least recently used disposed first. */
class RunCache {
  private readonly loaded = new Map<string, Promise<LoadedRun>>();
  private readonly ready = new Map<string, LoadedRun>();
  private readonly idByDir = new Map<string, string>();

  constructor(
    private readonly max: number,
    private readonly runtime: ScoreRuntime | 'auto',
    private readonly onEvent: (e: WorkerEvent) => void,
  ) {}

  /** Registers and loads a run folder this worker serves. */
  async serve(dir: string): Promise<string> {
    const abs = resolve(dir);
    const id = await runIdOf(abs);
    this.idByDir.set(abs, id);
    await this.get({ id, dir: abs });
    return id;
  }

  /** The model for a job's run (throws, in words, when this worker cannot have it). */
  async get(run: RunRef): Promise<LoadedRun> {
    let pending = this.loaded.get(run.id);
    if (pending) {
      // most recently used goes last
      this.loaded.delete(run.id);
      this.loaded.set(run.id, pending);
      return pending;
    }
    const dir = this.dirOf(run.id) ?? resolve(run.dir);
    pending = (async () => {
      let id = this.idByDir.get(dir);
      if (id !== run.id) {
        try {
          id = await runIdOf(dir);
        } catch (err) {
          throw new Error(`run ${run.id} is not available on this worker: ${(err as Error).message}; start workers with --run <a copy of the run folder>`);
        }
        this.idByDir.set(dir, id);
      }
      if (id !== run.id) {
        throw new Error(`run ${run.id} is not available on this worker: ${dir} holds run ${id} (retrained or another run); start workers with --run <the folder the job was submitted with>`);
      }
      const start = performance.now();
      const model = await loadRun(dir);
      let scorer: ImageScorer;
      try {
        scorer = await createImageScorer(model, { runtime: this.runtime });
      } catch (err) {
        model.dispose();
        throw err;
      }
      const loaded = { model, scorer };
      this.ready.set(run.id, loaded);
      this.onEvent({ event: 'run-loaded', runId: run.id, dir, ms: Math.round(performance.now() - start), runtime: scorer.runtime, described: scorer.describe() });
      return loaded;
    })();
    this.loaded.set(run.id, pending);
    pending.catch(() => this.loaded.delete(run.id));
    await this.evict();
    return pending;
  }

  private dirOf(id: string): string | undefined {
    for (const [dir, known] of this.idByDir) if (known === id) return dir;
    return undefined;
  }

  private async evict(): Promise<void> {
    while (this.loaded.size > this.max) {
      const [oldest, pending] = this.loaded.entries().next().value as [string, Promise<LoadedRun>];
      this.loaded.delete(oldest);
      this.ready.delete(oldest);
      try {
        await disposeRun(await pending);
        this.onEvent({ event: 'run-unloaded', runId: oldest });
      } catch {
        // it failed to load: nothing to dispose
      }
    }
  }

  async dispose(): Promise<void> {
    for (const r of this.ready.values()) await disposeRun(r);
    this.ready.clear();
    this.loaded.clear();
  }
}

/** The bytes of a job's image: carried in the job, or read from the shared path and checked against the submitted hash. */
async function jobImageBytes(image: ScoreJob['image']): Promise<Uint8Array> {
  if (image.bytes !== undefined) {
    const bytes = Buffer.from(image.bytes, 'base64');
    if (sha256Hex(bytes) !== image.sha256) throw new UnrecoverableError(`${image.path}: the bytes in the job do not match its sha256 (damaged in transit)`);
    return bytes;
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(image.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // another worker may see the shared volume: let BullMQ retry it elsewhere
    throw new Error(`${image.path}: this worker cannot read it (${code === 'ENOENT' ? 'file not found' : String((err as Error).message)}); with --send path every worker must see the submitter's files at the same path`);
  }
  if (sha256Hex(bytes) !== image.sha256) throw new UnrecoverableError(`${image.path}: the file changed after it was submitted (its sha256 differs); submit again`);
  return bytes;
}

/**
 * Starts a scoring worker: takes jobs from the BullMQ queue, keeps the runs it needs loaded, and
 * scores concurrent jobs together in batches with @aeflow/eval's `scoreItems`. An image that
 * cannot be decoded fails its job at once (no retry) with the reason; a worker killed mid-job
 * leaves its jobs to BullMQ's stalled-job check, which hands them to another worker.
 * Needs a tensor backend (`initBackend`) first.
 */
export async function startScoreWorker(options: ScoreWorkerOptions): Promise<RunningScoreWorker> {
  const onEvent = options.onEvent ?? (() => {});
  const concurrency = options.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`startScoreWorker: concurrency must be a whole number ≥ 1, got ${concurrency}`);
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
  const runs = new RunCache(Math.max(1, options.maxRuns ?? 2), options.runtime ?? 'tfjs', onEvent);
  for (const dir of options.runs ?? []) await runs.serve(dir);
  const scorer = new BatchScorer(options.batchSize ?? concurrency, options.maxPixels ?? DEFAULT_MAX_PIXELS, (runId, images, failed, ms) =>
    onEvent({ event: 'batch', runId, images, failed, ms: Math.round(ms) }),
  );
  let scored = 0;
  let failed = 0;

  const connection = redisConnection(options.url, (state, detail) => onEvent({ event: 'connection', state, ...(detail ? { detail } : {}) }));
  const worker = new Worker(
    queueName,
    async (job: Job): Promise<ScoreResult> => {
      let data: ScoreJob;
      try {
        data = parseScoreJob(job.data, `job ${job.id}`);
      } catch (err) {
        throw new UnrecoverableError((err as Error).message);
      }
      const run = await runs.get(data.run);
      const bytes = await jobImageBytes(data.image);
      try {
        const r = await scorer.score(data.run.id, { jobId: job.id!, run, image: data.image, bytes });
        return { id: data.image.id, flow: r.flow, recon: r.recon, total: r.total, worker: name, ms: Math.round(r.ms) };
      } catch (err) {
        // a file that cannot be decoded stays so: fail now, with the reason (as --skip-invalid lists it)
        if (err instanceof InvalidImageError) throw new UnrecoverableError(err.reason);
        throw err;
      }
    },
    {
      connection,
      concurrency,
      name,
      autorun: false,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
      maxStalledCount: options.maxStalledCount ?? 2,
    },
  );
  worker.on('completed', () => scored++);
  worker.on('failed', (job, err) => {
    failed++;
    if (job) {
      const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
      const image = (job.data as Partial<ScoreJob>).image?.path ?? '?';
      onEvent({ event: 'failed', jobId: job.id ?? '?', image, reason: err.message, final });
    }
  });
  // Without a listener BullMQ's connection errors (Redis restarting) would be unhandled; the
  // connection's own events already report them.
  worker.on('error', () => {});
  void worker.run();
  await worker.waitUntilReady();
  onEvent({ event: 'ready', name, queue: queueName, concurrency });

  let closing: Promise<void> | undefined;
  return {
    name,
    worker,
    counts: () => ({ scored, failed }),
    close() {
      closing ??= (async () => {
        await worker.close();
        await connection.quit().catch(() => connection.disconnect());
        await runs.dispose();
      })();
      return closing;
    },
  };
}
