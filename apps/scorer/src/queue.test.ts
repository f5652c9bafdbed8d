import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderDataset } from '@aeflow/datasets/node';
import { trainRun } from '@aeflow/model/node';
import { redisConnection } from '@aeflow/queue/node';
import { initBackend } from '@aeflow/tensor/node';
import { redisUnavailable, startTestRedis, TINY_CONFIG, writeFolderDataset, type TestRedis } from './fixtures.test-helpers.js';
import { main } from './main.js';

const here = dirname(fileURLToPath(import.meta.url));
const cliArgs = ['--import', 'tsx', join(here, 'cli.ts')];

const skipReason = redisUnavailable();
if (skipReason) console.warn(skipReason);

/** A worker process: `aeflow-score worker --json`, its event lines collected. */
interface WorkerProcess {
  child: ChildProcess;
  name: string;
  events: Record<string, unknown>[];
  /** Resolves at the first event that matches. */
  next(match: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

function startWorker(url: string, queueName: string): WorkerProcess {
  const child = spawn(process.execPath, [...cliArgs, 'worker', '--queue', url, '--queue-name', queueName, '--concurrency', '2', '--lock-duration', '1500', '--stalled-interval', '500', '--backend', 'wasm', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Record<string, unknown>[] = [];
  const waiters: { match: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  let buffer = '';
  child.stdout.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line) as Record<string, unknown>;
      events.push(e);
      for (const w of waiters.splice(0)) {
        if (w.match(e)) w.resolve(e);
        else waiters.push(w);
      }
    }
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const next = (match: (e: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolveEvent, reject) => {
      const seen = events.find(match);
      if (seen) return resolveEvent(seen);
      const timer = setTimeout(() => reject(new Error(`worker ${child.pid}: no such event in 60 s; stderr: ${stderr}`)), 60_000);
      waiters.push({ match, resolve: (e) => (clearTimeout(timer), resolveEvent(e)) });
    });
  return { child, name: `${hostname()}:${child.pid}`, events, next };
}

const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

describe.skipIf(skipReason !== null)('aeflow-score worker / submit (real redis-server, worker processes)', () => {
  let root: string;
  let data: string;
  let runDir: string;
  let redis: TestRedis | undefined;
  let url: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
    root = await mkdtemp(join(tmpdir(), 'aeflow-score-queue-'));
    data = join(root, 'data');
    runDir = join(root, 'run');
    await writeFolderDataset(data, { train: 8, testNormal: 8, testAnomalous: 8 });
    const train = await folderDataset(data, { split: 'train', normalClasses: ['NORMAL'] });
    await trainRun({ runDir, config: { ...TINY_CONFIG, train: { ...TINY_CONFIG.train, epochs: 1 } }, train: { dataset: train }, cacheDir: null });
    redis = await startTestRedis();
    url = redis.url;
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map(exited));
    await redis?.stop();
  });

  it('two worker processes, one killed (SIGKILL) mid-run: its jobs are retried on the other, every image is scored once, scores.csv equals the local CLI', async () => {
    const queueName = 'kill-test';
    // The local reference: aeflow-score without the queue.
    const localOut = join(root, 'local');
    expect(await main(['--run', runDir, '--data', data, '--split', 'test', '--threshold', 'best-f1', '--out', localOut, '--backend', 'wasm', '--quiet'], { out: () => {}, err: () => {} })).toBe(0);

    const a = startWorker(url, queueName);
    children.push(a.child);
    await a.next((e) => e.event === 'ready');
    const out = join(root, 'queued');
    const lines: string[] = [];
    const submitted = main(['submit', '--queue', url, '--queue-name', queueName, '--run', runDir, '--data', data, '--split', 'test', '--threshold', 'best-f1', '--out', out, '--backend', 'wasm', '--json'], {
      out: (l) => lines.push(l),
      err: (l) => lines.push(l),
    });

    // Freeze A right after a batch (it then holds the next jobs, taken with the last completion),
    // make sure it holds some, and kill it.
    const peek = redisConnection(url);
    let held: string[] = [];
    for (let tries = 0; tries < 20 && held.length === 0; tries++) {
      const batches = a.events.filter((e) => e.event === 'batch').length;
      await a.next((e) => e.event === 'batch' && a.events.filter((x) => x.event === 'batch').length > batches);
      a.child.kill('SIGSTOP');
      // A completion A sent just before it stopped can still be on its way to Redis: read the jobs
      // A holds once that has settled (a stopped process sends nothing more).
      await new Promise((r) => setTimeout(r, 500));
      held = await peek.lrange(`bull:${queueName}:active`, 0, -1);
      if (held.length === 0) a.child.kill('SIGCONT');
    }
    expect(held.length).toBeGreaterThan(0);
    a.child.kill('SIGKILL');
    await exited(a.child);

    const b = startWorker(url, queueName);
    children.push(b.child);
    expect(await submitted).toBe(0);
    await peek.quit();

    const done = JSON.parse(lines.at(-1)!) as { event: string; images: number };
    expect(done).toMatchObject({ event: 'done', images: 16 });
    expect(lines.some((l) => l.includes('"event":"progress"'))).toBe(true);
    // same scores as the local CLI, same ids and labels in the same order
    const queued = (await readFile(join(out, 'scores.csv'), 'utf8')).trim().split('\n').map((l) => l.split(','));
    const local = (await readFile(join(localOut, 'scores.csv'), 'utf8')).trim().split('\n').map((l) => l.split(','));
    expect(queued.map((r) => [r[0], r[1], r[5]])).toEqual(local.map((r) => [r[0], r[1], r[5]]));
    for (let i = 1; i < local.length; i++) for (const c of [2, 3, 4]) expect(Math.abs(Number(queued[i]![c]) - Number(local[i]![c]))).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(Number(local[i]![c]))));
    // every image once in the journal; the jobs A held when it died were finished by B
    const entries = (await readFile(join(out, 'queue-journal.jsonl'), 'utf8')).trim().split('\n').slice(1).map((l) => JSON.parse(l) as { jobId: string; id: string; worker: string });
    expect(entries).toHaveLength(16);
    expect(new Set(entries.map((e) => e.id)).size).toBe(16);
    for (const id of held) expect(entries.find((e) => e.jobId === id)?.worker).toBe(b.name);
    // (A may have finished none: its completions can still be in flight when it is frozen)
    for (const e of entries) expect([a.name, b.name]).toContain(e.worker);
    b.child.kill('SIGTERM');
    await exited(b.child);
    expect(b.events.at(-1)).toMatchObject({ event: 'done' });
  });
});
