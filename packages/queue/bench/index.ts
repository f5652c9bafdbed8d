// The queue's benchmark: images/s scoring the chest X-ray val/ images (125, 224 px JPEG, scored at
// the cpu preset's 128 px with MobileNet V1) with one local process (scoreToFolder: what
// `aeflow-score` does) against submitScoring with 1 and 2 warm worker processes on a local
// redis-server. Wall clock of the whole call (model load, scoring, metrics, report) for each;
// repeated and interleaved, medians and ranges. Needs AEFLOW_HOME (data + MobileNet) and redis-server.
//   AEFLOW_HOME=/work/shared pnpm --filter @aeflow/queue bench
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chestXrayDataset, folderDataset } from '@aeflow/datasets/node';
import { scoreToFolder } from '@aeflow/eval/node';
import { trainRun } from '@aeflow/model/node';
import { currentBackend } from '@aeflow/tensor';
import { aeflowHome, initBackend } from '@aeflow/tensor/node';
import { freePort } from '@aeflow/test-fixtures';
import { Queue } from 'bullmq';
import { redisConnection, submitScoring } from '../src/node.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const REPEATS = Number(process.env.AEFLOW_BENCH_REPEATS ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const backend = await initBackend({ quiet: true });
const threads = currentBackend()?.threads ?? 1;
const home = aeflowHome();
const root = await mkdtemp(join(tmpdir(), 'aeflow-queue-bench-'));
const children: ChildProcess[] = [];

/** Starts a process and resolves when it prints `ready` (redis-server: "Ready to accept connections"). */
function startChild(cmd: string, args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
    children.push(c);
    let out = '';
    c.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) resolve(c);
    });
    c.once('exit', (code) => reject(new Error(`${cmd} exited (${code}) before it was ready: ${out}`)));
  });
}

try {
  // A cpu-preset run (MobileNet V1 at 128 px; the preset's flow, decoder and score): one epoch on 32 training normals.
  const runDir = join(root, 'run');
  const trainAll = await chestXrayDataset(join(home, 'data', 'chest-xray'), { split: 'train' });
  const train = { ...trainAll, items: trainAll.items.filter((it) => it.label === 0).slice(0, 32) };
  await trainRun({ runDir, config: { preset: 'cpu', train: { epochs: 1, featureCache: false } }, train: { dataset: train }, cacheDir: null });
  const open = () => folderDataset(join(home, 'data', 'chest-xray'), { split: 'val', normalClasses: ['NORMAL'] });
  const images = (await open()).items.length;

  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  await startChild('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', root], /ready to accept connections/i);
  const worker = (queue: string, env: NodeJS.ProcessEnv = process.env) => startChild(process.execPath, ['--import', 'tsx', join(here, 'worker.ts'), url, queue, '8'], /^ready$/m, env);
  const oneThread = { ...process.env, AEFLOW_THREADS: '1' };
  await Promise.all([worker('one'), worker('two'), worker('two'), worker('two-single', oneThread), worker('two-single', oneThread)]);

  let n = 0;
  const local = async () => {
    const t0 = performance.now();
    await scoreToFolder({ runDir, dataset: await open(), out: join(root, `local-${n++}`), threshold: 'best-f1' });
    return performance.now() - t0;
  };
  const connection = redisConnection(url);
  const queued = (queueName: string) => async () => {
    const t0 = performance.now();
    const r = await submitScoring({ url, queueName, runDir, dataset: await open(), out: join(root, `${queueName}-${n++}`), threshold: 'best-f1', pollMs: 50 });
    const ms = performance.now() - t0;
    // every image scored by the workers in this call, and nothing left in Redis for the next one
    const left = Object.values(await new Queue(queueName, { connection }).getJobCounts()).reduce((a, b) => a + b, 0);
    if (r.scoredNow !== images || left !== 0) throw new Error(`${queueName}: ${r.scoredNow} of ${images} scored now, ${left} jobs left in Redis`);
    return ms;
  };
  const configs = { local: local, 'queue, 1 worker': queued('one'), 'queue, 2 workers': queued('two'), 'queue, 2 workers × 1 thread': queued('two-single') };
  // warm-up (workers load the run; caches), not timed
  for (const run of Object.values(configs)) await run();
  const ms: Record<string, number[]> = Object.fromEntries(Object.keys(configs).map((k) => [k, []]));
  const load: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    for (const [name, run] of Object.entries(configs)) {
      load.push(loadavg()[0]!);
      ms[name]!.push(await run());
    }
  }
  const rate = (name: string) => ms[name]!.map((t) => (images * 1000) / t);
  const base = median(rate('local'));
  const rows = Object.keys(configs).map((name) => {
    const r = rate(name);
    return `| ${name} | ${median(r).toFixed(1)} (${Math.min(...r).toFixed(1)}–${Math.max(...r).toFixed(1)}) | ${(median(r) / base).toFixed(2)}× | ${r.map((x) => x.toFixed(1)).join(', ')} |`;
  });
  connection.disconnect();
  const result = { backend: backend.name, images, repeats: REPEATS, rates: Object.fromEntries(Object.keys(configs).map((k) => [k, rate(k)])), load1: load };
  console.log(JSON.stringify(result));
  const md = `## @aeflow/queue

\`AEFLOW_HOME=… pnpm --filter @aeflow/queue bench\` (${cpus().length} cores, backend ${backend.name}, ${new Date().toISOString().slice(0, 10)};
1-min load average during the runs ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)})

Scoring the ${images} chest X-ray \`val/\` images (224 px JPEG) with a cpu-preset run (MobileNet V1 at
128 px; the preset's flow, decoder and score; one epoch on 32 training normals): wall clock of the whole call — model load, scoring, metrics,
report — for \`scoreToFolder\` in one process (what \`aeflow-score\` does) and for \`submitScoring\`
with 1 and 2 warm worker processes (concurrency 8; the last row's workers with \`AEFLOW_THREADS=1\`) on a local redis-server. ${REPEATS} repeats,
interleaved; median (range).

| how | images/s, median (range) | vs one process | each repeat, in order |
|---|---|---|---|
${rows.join('\n')}

Every process runs wasm on ${threads} thread${threads === 1 ? '' : 's'} (\`AEFLOW_THREADS\`, default: all cores), so one process
already uses all ${cpus().length} cores: on one machine the queue adds Redis round trips, JSON and a second
model load (the submitter scores the report's example images itself) and cannot add cores: this
benchmark measures the queue's overhead on one machine. The gain comes from worker machines,
each adding its cores (not measured here: one machine). A load average above the core count means
other work shared the machine: the rates are noisy, the ratios are the result.
`;
  await writeFile(join(here, 'RESULTS.md'), md);
} finally {
  for (const c of children) c.kill('SIGTERM');
  await rm(root, { recursive: true, force: true });
}
