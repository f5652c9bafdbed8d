import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderDataset } from '@aeflow/datasets/node';
import { scoreToFolder } from '@aeflow/eval/node';
import { initBackend } from '@aeflow/tensor/node';
import { trainTinyRun, writeTinyDataset } from './fixtures.test-helpers.js';
import { JOURNAL_FILE, runIdOf, startScoreWorker, submitScoring, type RunningScoreWorker, type SubmitProgress, type WorkerEvent } from './node.js';
import { redisUnavailable, startTestRedis, type TestRedis } from './redis.test-helpers.js';

const skipReason = redisUnavailable();
if (skipReason) console.warn(skipReason);

/** scores.csv as rows of fields (header first). */
async function csv(path: string): Promise<string[][]> {
  return (await readFile(path, 'utf8')).trim().split('\n').map((l) => l.split(','));
}

/** Same ids, labels and predictions as `local`, and scores equal to 1e-6 (relative). */
function expectSameScores(queued: string[][], local: string[][]): void {
  expect(queued[0]).toEqual(local[0]);
  expect(queued.map((r) => [r[0], r[1]])).toEqual(local.map((r) => [r[0], r[1]]));
  for (let i = 1; i < local.length; i++) {
    for (let c = 2; c < local[i]!.length - 1; c++) {
      const a = Number(queued[i]![c]);
      const b = Number(local[i]![c]);
      expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(b)));
    }
  }
}

describe.skipIf(skipReason !== null)('scoring through the queue (real redis-server, in-process workers)', () => {
  let redis: TestRedis;
  let root: string;
  let data: string;
  let runDir: string;
  let local: string[][];
  let localSkipped: unknown;
  const workers: RunningScoreWorker[] = [];
  let queueNo = 0;

  const startWorkers = async (n: number, queueName: string) => {
    const started = [];
    for (let i = 0; i < n; i++) started.push(await startScoreWorker({ url: redis.url, queueName, concurrency: 3, name: `w${i}`, lockDurationMs: 2000, stalledIntervalMs: 1000 }));
    workers.push(...started);
    return started;
  };

  beforeAll(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
    redis = await startTestRedis();
    root = await mkdtemp(join(tmpdir(), 'aeflow-queue-test-'));
    data = join(root, 'data');
    runDir = join(root, 'run');
    await writeTinyDataset(data, { train: 8, testNormal: 5, testAnomalous: 5, corrupt: true });
    await trainTinyRun(data, runDir);
    // the local reference: what aeflow-score writes (scoreToFolder, the CLI's one call)
    const dataset = await folderDataset(data, { split: 'test', normalClasses: ['NORMAL'], skipInvalid: true });
    await scoreToFolder({ runDir, dataset, out: join(root, 'local'), skipInvalid: true, threshold: 'best-f1' });
    local = await csv(join(root, 'local', 'scores.csv'));
    localSkipped = JSON.parse(await readFile(join(root, 'local', 'skipped.json'), 'utf8'));
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
    await redis?.stop();
  });

  it('scores a split with two workers into the same scores.csv, metrics and skipped.json as a local run; a bad image is a failed job with its reason', async () => {
    const queueName = `q${queueNo++}`;
    const [a, b] = await startWorkers(2, queueName);
    const dataset = await folderDataset(data, { split: 'test', normalClasses: ['NORMAL'], skipInvalid: true });
    const seen: SubmitProgress[] = [];
    const out = join(root, 'queued');
    const result = await submitScoring({ url: redis.url, queueName, runDir, dataset, out, skipInvalid: true, threshold: 'best-f1', pollMs: 50, onProgress: (p) => seen.push(p) });
    expect(result.rows).toHaveLength(10);
    expect(result.scoredNow).toBe(10);
    expectSameScores(await csv(join(out, 'scores.csv')), local);
    expect(JSON.parse(await readFile(join(out, 'skipped.json'), 'utf8'))).toEqual(localSkipped);
    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as { auroc: number; counts: { images: number } };
    const localMetrics = JSON.parse(await readFile(join(root, 'local', 'metrics.json'), 'utf8')) as { auroc: number };
    expect(metrics.auroc).toBeCloseTo(localMetrics.auroc, 9);
    expect(metrics.counts.images).toBe(10);
    expect(await readFile(join(out, 'report.html'), 'utf8')).toContain('<html');
    // both workers took jobs; 10 completed + 1 failed (the bad image, not retried) in all
    expect(a!.counts().scored + b!.counts().scored).toBe(10);
    expect(a!.counts().failed + b!.counts().failed).toBe(1);
    expect(seen.at(-1)).toMatchObject({ total: 11, done: 10, failed: 1, queued: 0 });
    expect(seen.some((p) => p.workers >= 2)).toBe(true);
  });

  it('without --skip-invalid stops after collecting everything, names the bad file, and a rerun with it writes the results without scoring again', async () => {
    const queueName = `q${queueNo++}`;
    const [w] = await startWorkers(1, queueName);
    const out = join(root, 'strict');
    const open = () => folderDataset(data, { split: 'test', normalClasses: ['NORMAL'] });
    await expect(submitScoring({ url: redis.url, queueName, runDir, dataset: await open(), out, pollMs: 50 })).rejects.toThrow(
      /1 of 11 images could not be scored \(first: .*broken\.png: .*\).*--skip-invalid to write the results without them/,
    );
    const again = await submitScoring({ url: redis.url, queueName, runDir, dataset: await open(), out, pollMs: 50, skipInvalid: true, threshold: 'best-f1' });
    expect(again.scoredNow).toBe(0);
    expect(w!.counts()).toEqual({ scored: 10, failed: 1 });
    expectSameScores(await csv(join(out, 'scores.csv')), local);
  });

  it('stopped part-way and run again: every image is scored exactly once', async () => {
    const queueName = `q${queueNo++}`;
    const [w] = await startWorkers(1, queueName);
    const out = join(root, 'resumed');
    const dataset = await folderDataset(data, { split: 'test', normalClasses: ['NORMAL'], skipInvalid: true });
    const stop = new AbortController();
    await expect(
      submitScoring({ url: redis.url, queueName, runDir, dataset, out, skipInvalid: true, maxQueued: 2, enqueueBatch: 1, pollMs: 20, signal: stop.signal, onProgress: (p) => p.done >= 3 && stop.abort() }),
    ).rejects.toThrow(/stopped with \d+ of 11 images finished.*same --out resumes/);
    const journalLines = (await readFile(join(out, JOURNAL_FILE), 'utf8')).trim().split('\n').length - 1;
    expect(journalLines).toBeGreaterThanOrEqual(3);
    expect(journalLines).toBeLessThan(11);
    const again = await submitScoring({ url: redis.url, queueName, runDir, dataset, out, skipInvalid: true, threshold: 'best-f1', pollMs: 20 });
    expect(again.scoredNow).toBeLessThanOrEqual(10 - 3);
    expect(w!.counts()).toEqual({ scored: 10, failed: 1 });
    expectSameScores(await csv(join(out, 'scores.csv')), local);
    const ids = (await readFile(join(out, JOURNAL_FILE), 'utf8')).trim().split('\n').slice(1).map((l) => (JSON.parse(l) as { id: string }).id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('rides out a Redis restart that loses the queue: submit and workers reconnect, the lost jobs are queued again', async () => {
    const queueName = `q${queueNo++}`;
    const [w] = await startWorkers(1, queueName);
    const out = join(root, 'restart');
    const dataset = await folderDataset(data, { split: 'test', normalClasses: ['NORMAL'], skipInvalid: true });
    let restarted: Promise<void> | undefined;
    let requeued = 0;
    const result = await submitScoring({
      url: redis.url,
      queueName,
      runDir,
      dataset,
      out,
      skipInvalid: true,
      threshold: 'best-f1',
      maxQueued: 3,
      enqueueBatch: 1,
      pollMs: 20,
      onProgress: (p) => {
        requeued = p.requeued;
        // the worker holds off while Redis restarts, so jobs are still queued when the queue is lost
        // (on a busy machine it could otherwise finish them all first, and there would be nothing to requeue)
        if (p.done >= 2 && !restarted) restarted = w!.worker.pause(true).then(() => redis.restart()).then(() => w!.worker.resume());
      },
    });
    await restarted;
    expect(result.rows).toHaveLength(10);
    expect(requeued).toBeGreaterThan(0);
    expectSameScores(await csv(join(out, 'scores.csv')), local);
    // the worker reconnected and went on (some jobs may have been scored again after the loss: never recorded twice)
    expect(w!.counts().scored).toBeGreaterThanOrEqual(10 - 2);
    const ids = (await readFile(join(out, JOURNAL_FILE), 'utf8')).trim().split('\n').slice(1).map((l) => (JSON.parse(l) as { id: string }).id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(11);
  });
  it('--send path: workers read the files themselves (a shared volume) from a copy of the run given at start; a file changed after submission fails', async () => {
    const queueName = `q${queueNo++}`;
    const copy = join(root, 'run-copy');
    await cp(runDir, copy, { recursive: true });
    expect(await runIdOf(copy)).toBe(await runIdOf(runDir));
    const events: WorkerEvent[] = [];
    const w = await startScoreWorker({ url: redis.url, queueName, concurrency: 3, runs: [copy], onEvent: (e) => events.push(e) });
    workers.push(w);
    const out = join(root, 'shared');
    const dataset = await folderDataset(data, { split: 'test', normalClasses: ['NORMAL'], skipInvalid: true });
    const result = await submitScoring({ url: redis.url, queueName, runDir, dataset, out, send: 'path', skipInvalid: true, threshold: 'best-f1', pollMs: 50 });
    expect(result.rows).toHaveLength(10);
    expectSameScores(await csv(join(out, 'scores.csv')), local);
    // the run was loaded once, from the copy it was started with
    expect(events.filter((e) => e.event === 'run-loaded')).toEqual([expect.objectContaining({ dir: copy })]);
    // no bytes in the jobs: the journal names the absolute path of the bad file
    expect(JSON.parse(await readFile(join(out, 'skipped.json'), 'utf8'))).toMatchObject({ skipped: [{ path: join(data, 'test', 'PNEUMONIA', 'broken.png') }] });

    // a file rewritten between submission and scoring is refused, not scored as something else
    const paused = `q${queueNo++}`;
    const changed = join(root, 'changed');
    const one = await folderDataset(join(data, 'test'), { normalClasses: ['NORMAL'] });
    const target = one.items.find((it) => it.id === 'NORMAL/img_0.png')!;
    const path = (target.source as { path: string }).path;
    const original = await readFile(path);
    let late: Promise<RunningScoreWorker> | undefined;
    try {
      await expect(
        submitScoring({
          url: redis.url,
          queueName: paused,
          runDir,
          dataset: one,
          items: [target],
          out: changed,
          send: 'path',
          pollMs: 20,
          // queued with no worker listening: change the file, then start one
          onProgress: () => {
            if (late) return;
            late = writeFile(path, Buffer.concat([original, Buffer.from([0])])).then(() => startScoreWorker({ url: redis.url, queueName: paused, concurrency: 1 }));
          },
        }),
      ).rejects.toThrow(/1 of 1 images could not be scored .*the file changed after it was submitted \(its sha256 differs\); submit again/);
      workers.push(await late!);
    } finally {
      await writeFile(path, original);
    }
  });
  it('collected jobs leave Redis: the same images submitted again into another --out are scored again, each time by the workers', async () => {
    const queueName = `q${queueNo++}`;
    const [w] = await startWorkers(1, queueName);
    const dataset = await folderDataset(data, { split: 'test', normalClasses: ['NORMAL'], skipInvalid: true });
    for (let round = 1; round <= 3; round++) {
      const r = await submitScoring({ url: redis.url, queueName, runDir, dataset, out: join(root, `again-${round}`), skipInvalid: true, threshold: 'best-f1', pollMs: 20 });
      expect(r.scoredNow).toBe(10);
      expect(w!.counts().scored).toBe(10 * round);
    }
  });
});
