import { mkdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Queue, type Job } from 'bullmq';
import type { ImageItem, SkippedFile } from '@aeflow/datasets';
import { EvaluationError, InterruptedError, type ScoreRow } from '@aeflow/eval';
import { scoreToFolder, type ScoreToFolderOptions, type ScoreToFolderResult } from '@aeflow/eval/node';
import { redisConnection } from './connection.js';
import { DEFAULT_QUEUE_NAME, JOB_FORMAT, parseScoreResult, scoreJobId, type ScoreJob } from './jobs.js';
import { Journal, type JournalEntry } from './journal.js';
import { runIdOf, sha256Hex } from './run-id.js';

/** How far a submission is, across all workers. */
export interface SubmitProgress {
  total: number;
  /** Scored (now or by an earlier submit of the same images into the same --out). */
  done: number;
  /** Failed for good (a bad image, or out of retries), with their reasons in the journal. */
  failed: number;
  /** In Redis and not finished (waiting, being scored, or waiting for a retry). */
  queued: number;
  /** Images scored per second over the last 30 s (null until two samples). */
  rate: number | null;
  /** Seconds left at that rate (null when unknown). */
  etaSeconds: number | null;
  /** Workers connected to the queue. */
  workers: number;
  /** The submitter's Redis connection. */
  redis: 'ready' | 'reconnecting';
  /** Jobs queued again because Redis lost them (a restart without persistence). */
  requeued: number;
}

export interface SubmitScoringOptions extends Omit<ScoreToFolderOptions, 'scores' | 'onProgress' | 'items'> {
  /** Redis URL (redis://host:port[/db]). */
  url: string;
  /** BullMQ queue name (default `aeflow-score`); the workers must listen on the same. */
  queueName?: string;
  items?: readonly ImageItem[];
  /**
   * 'bytes' (default): each job carries its file, so workers need no access to these disks;
   * 'path': jobs name the file and workers read it (a volume every worker mounts at the same path).
   */
  send?: 'bytes' | 'path';
  /** Jobs added per round trip (default 100). */
  enqueueBatch?: number;
  /** Jobs in Redis at once (default 1000): bounds Redis memory when jobs carry bytes. */
  maxQueued?: number;
  /** Tries per job before it fails for good (default 3); a bad image fails at once. */
  attempts?: number;
  /** How often finished jobs are collected (default 250 ms). */
  pollMs?: number;
  onProgress?: (progress: SubmitProgress) => void;
  /** Called once everything is collected, before the output files are written. */
  onCollected?: (progress: SubmitProgress) => void;
}

export interface SubmitScoringResult extends ScoreToFolderResult {
  runId: string;
  /** Images scored by workers during this submit (the rest came from the journal of an earlier one). */
  scoredNow: number;
  journal: string;
}

interface Outstanding {
  item: ImageItem;
  path: string;
  sha256: string;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((r) => {
    const wake = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', wake);
      r();
    };
    const t = setTimeout(wake, ms);
    signal?.addEventListener('abort', wake, { once: true });
  });

/**
 * Scores a dataset through the queue: enqueues its images as jobs (ids from the run, the image id
 * and the file's hash, so nothing is queued twice), collects what the workers return into a
 * journal in `out` (flushed before the job leaves Redis), and when every image is finished writes
 * the same scores.csv / metrics.json / report.html / skipped.json as `scoreToFolder` — with the
 * same writers. Stopped (signal) and run again with the same `out`, it skips what the journal has
 * and collects what workers finished meanwhile: no image is scored twice or lost. A Redis restart
 * that loses the queue is noticed and the missing jobs are added again.
 */
export async function submitScoring(options: SubmitScoringOptions): Promise<SubmitScoringResult> {
  const queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
  const items = options.items ?? options.dataset.items;
  if (items.length === 0) throw new EvaluationError(`${options.dataset.name}: no images to score`);
  const notFiles = items.filter((it) => it.source.kind !== 'file');
  if (notFiles.length > 0) {
    throw new EvaluationError(
      `${options.dataset.name}: ${notFiles.length} images are not files (first: ${notFiles[0]!.id}, a ${notFiles[0]!.source.kind} item); the queue sends image files to its workers: score .npz / NIfTI data without --queue`,
    );
  }
  const send = options.send ?? 'bytes';
  const maxQueued = Math.max(1, options.maxQueued ?? 1000);
  const enqueueBatch = Math.max(1, Math.min(options.enqueueBatch ?? 100, maxQueued));
  const attempts = Math.max(1, options.attempts ?? 3);
  const pollMs = options.pollMs ?? 250;
  const runDir = resolve(options.runDir);
  const runId = await runIdOf(runDir);
  await mkdir(options.out, { recursive: true });
  const journal = await Journal.open(options.out, runId, queueName);

  let redisState: SubmitProgress['redis'] = 'ready';
  let reconnected = false;
  const connection = redisConnection(options.url, (state) => {
    if (state === 'reconnecting') redisState = 'reconnecting';
    if (state === 'ready') {
      if (redisState === 'reconnecting') reconnected = true;
      redisState = 'ready';
    }
  });
  const queue = new Queue(queueName, { connection });
  queue.on('error', () => {}); // reported through the connection state

  const signal = options.signal;
  const jobIdOf = new Map<string, string>(); // item id → job id (once hashed)
  const outstanding = new Map<string, Outstanding>(); // job id → image, while in Redis
  const localFailures: SkippedFile[] = []; // files the submitter itself could not read
  let scoredNow = 0;
  let requeued = 0;
  const samples: { t: number; done: number }[] = [];

  const countFinished = () => {
    let done = 0;
    let failed = 0;
    for (const id of jobIdOf.values()) {
      const e = journal.entries.get(id);
      if (e?.ok) done++;
      else if (e) failed++;
    }
    return { done, failed: failed + localFailures.length };
  };
  let lastWorkers = 0;
  const progress = async (): Promise<SubmitProgress> => {
    const { done, failed } = countFinished();
    const now = performance.now();
    samples.push({ t: now, done });
    while (samples.length > 2 && now - samples[0]!.t > 30_000) samples.shift();
    const first = samples[0]!;
    const rate = samples.length >= 2 && now > first.t ? ((done - first.done) * 1000) / (now - first.t) : null;
    const left = items.length - done - failed;
    if (redisState === 'ready') lastWorkers = await queue.getWorkersCount().catch(() => lastWorkers);
    return { total: items.length, done, failed, queued: outstanding.size, rate, etaSeconds: rate && rate > 0 ? left / rate : null, workers: lastWorkers, redis: redisState, requeued };
  };

  const jobFor = async (item: ImageItem, bytes?: Buffer): Promise<{ name: string; data: ScoreJob; opts: { jobId: string; attempts: number; backoff: { type: 'exponential'; delay: number } } } | null> => {
    const path = (item.source as { path: string }).path;
    if (!bytes) {
      try {
        bytes = await readFile(path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        localFailures.push({ path, reason: code === 'ENOENT' ? 'file not found' : `cannot be read (${(err as Error).message})` });
        return null;
      }
    }
    const sha256 = sha256Hex(bytes);
    const jobId = scoreJobId(runId, sha256Hex(item.id), sha256);
    jobIdOf.set(item.id, jobId);
    const image: ScoreJob['image'] = { id: item.id, path: send === 'path' ? resolve(path) : path, sha256, ...(send === 'bytes' ? { bytes: bytes.toString('base64') } : { shared: true }) };
    return { name: 'score', data: { format: JOB_FORMAT, run: { id: runId, dir: runDir }, image }, opts: { jobId, attempts, backoff: { type: 'exponential', delay: 1000 } } };
  };

  /** Records finished jobs (journal first, then out of Redis). */
  const collect = async (): Promise<void> => {
    for (const state of ['completed', 'failed'] as const) {
      for (let start = 0; ; ) {
        const page = 500;
        const jobs = (await queue.getJobs([state], start, start + page - 1, true)) as Job[];
        const ours = jobs.filter((j) => j.id !== undefined && outstanding.has(j.id));
        const entries: JournalEntry[] = [];
        for (const job of ours) {
          const o = outstanding.get(job.id!)!;
          if (state === 'completed') {
            const r = parseScoreResult(job.returnvalue, `job ${job.id} (${o.path})`);
            entries.push({ ok: true, jobId: job.id!, id: o.item.id, flow: r.flow, recon: r.recon, total: r.total, worker: r.worker });
          } else {
            entries.push({ ok: false, jobId: job.id!, id: o.item.id, path: o.path, reason: job.failedReason || 'failed without a reason' });
          }
        }
        await journal.append(entries);
        for (const e of entries) {
          outstanding.delete(e.jobId);
          if (e.ok) scoredNow++;
        }
        await Promise.all(ours.map((j) => j.remove().catch(() => undefined)));
        // removed jobs shift the list: the next page starts after the jobs that are not ours
        start += jobs.length - ours.length;
        if (jobs.length < page) break;
      }
    }
  };

  /** After Redis lost its data (a restart without persistence), add the jobs it no longer has. */
  const readdMissing = async (): Promise<void> => {
    const ids = [...outstanding.keys()];
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200);
      const states = await Promise.all(chunk.map((id) => queue.getJobState(id)));
      const missing = chunk.filter((_, k) => states[k] === 'unknown');
      const jobs = [];
      for (const id of missing) {
        const o = outstanding.get(id)!;
        const job = await jobFor(o.item);
        if (job) jobs.push(job);
        else outstanding.delete(id);
      }
      if (jobs.length > 0) await queue.addBulk(jobs);
      requeued += jobs.length;
    }
  };

  let sweeps = 0;
  const sweep = async () => {
    await collect();
    sweeps++;
    if (reconnected || sweeps % 20 === 0) {
      reconnected = false;
      await readdMissing();
    }
    options.onProgress?.(await progress());
  };

  try {
    await queue.waitUntilReady();
    let pending: Awaited<ReturnType<typeof jobFor>>[] = [];
    const flush = async () => {
      const jobs = pending.filter((j): j is NonNullable<typeof j> => j !== null);
      pending = [];
      if (jobs.length === 0) return;
      await queue.addBulk(jobs);
    };
    for (const item of items) {
      if (signal?.aborted) break;
      const job = await jobFor(item);
      if (!job || journal.has(job.opts.jobId)) continue;
      outstanding.set(job.opts.jobId, { item, path: job.data.image.path, sha256: job.data.image.sha256 });
      pending.push(job);
      if (pending.length >= enqueueBatch) await flush();
      while (outstanding.size >= maxQueued && !signal?.aborted) {
        await sweep();
        if (outstanding.size >= maxQueued) await sleep(pollMs, signal);
      }
    }
    await flush();
    while (outstanding.size > 0 && !signal?.aborted) {
      await sweep();
      if (outstanding.size > 0) await sleep(pollMs, signal);
    }
    if (signal?.aborted) {
      const { done, failed } = countFinished();
      throw new InterruptedError(
        `submit: stopped with ${done + failed} of ${items.length} images finished (${outstanding.size} still queued; workers go on with them); the same command with the same --out resumes without scoring any image twice`,
      );
    }
    options.onCollected?.(await progress());
  } finally {
    await journal.close();
    await queue.close().catch(() => undefined);
    await connection.quit().catch(() => connection.disconnect());
  }

  // Everything is in the journal: the rows in item order, the failures as skipped files.
  const rows: ScoreRow[] = [];
  const skipped: SkippedFile[] = [...localFailures];
  for (const item of items) {
    const jobId = jobIdOf.get(item.id);
    const e = jobId ? journal.entries.get(jobId) : undefined;
    if (!e) continue;
    if (e.ok) rows.push({ id: item.id, label: item.label, flow: e.flow, recon: e.recon, total: e.total, predicted: null });
    else skipped.push({ path: e.path, reason: e.reason });
  }
  if (skipped.length > 0 && !options.skipInvalid) {
    throw new EvaluationError(
      `${skipped.length} of ${items.length} images could not be scored (first: ${skipped[0]!.path}: ${skipped[0]!.reason}); they are listed in ${journal.path}. ` +
        `Run the same command with --skip-invalid to write the results without them (nothing is scored again)`,
    );
  }
  // the options that are the queue's, not the writer's
  const { url: _url, queueName: _queueName, send: _send, enqueueBatch: _enqueueBatch, maxQueued: _maxQueued, attempts: _attempts, pollMs: _pollMs, onProgress: _onProgress, onCollected: _onCollected, ...folder } = options;
  const result = await scoreToFolder({ ...folder, items, scores: { rows, skipped } });
  return { ...result, runId, scoredNow, journal: journal.path };
}
