#!/usr/bin/env node
// Runs the same AE-FLOW configuration in PyTorch (aeflow_torch.py) and in aeflow (`aeflow-train
// bench`: training, and scoring on aeflow's default runtime — ONNX Runtime wherever it loads — and
// on tfjs), each side in its own process, ROUNDS times interleaved, and prints the
// median and range over the rounds of every rate and of the per-round ratio aeflow / PyTorch.
// Every side uses all cores unless --threads says otherwise (torch.set_num_threads, aeflow's
// default AEFLOW_THREADS, ONNX Runtime's intra-op threads). Not part of CI.
// Usage (from the repo root, after `pnpm build`):
//   node scripts/compare-pytorch/compare.mjs [--size 64] [--batch 8] [--steps 3] [--rounds 3] [--threads N] [--out file.md]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, renameSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '64' },
    batch: { type: 'string', default: '8' },
    steps: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(availableParallelism()) },
    python: { type: 'string', default: '/usr/bin/python3' },
    out: { type: 'string' },
  },
});
const count = (name, min) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < min) {
    console.error(`compare.mjs: --${name} "${values[name]}" must be a whole number ≥ ${min}`);
    process.exit(2);
  }
  return n;
};
const size = count('size', 16);
const batch = count('batch', 1);
const steps = count('steps', 1);
const rounds = count('rounds', 3);
const threads = count('threads', 1);

const lastJson = (out) => JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1));
const common = ['--size', String(size), '--batch', String(batch), '--steps', String(steps)];
const uptime = () => {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average ${loadavg().map((l) => l.toFixed(2)).join(', ')}`;
  }
};

/** PyTorch: train (encoder recomputed every step, as its reference code does) and score. */
function pytorchSide() {
  try {
    const r = lastJson(
      execFileSync(values.python, [join(here, 'aeflow_torch.py'), ...common, '--threads', String(threads)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    return { as_run: `${r.framework}, ${r.threads} threads`, train: r.train_images_per_s, score: r.score_images_per_s };
  } catch (err) {
    console.error(`PyTorch side failed (${String(err.message).split('\n')[0]}). Install it with: apt-get install -y python3-torch python3-torchvision (for ${values.python})`);
    process.exit(1);
  }
}

/** aeflow on its default backend with `threads` wasm threads: train with / without the feature cache, score on tfjs. */
function aeflowSide() {
  // Score on aeflow's default runtime (ONNX Runtime wherever it loads, as aeflow-score) and on tfjs.
  const p = spawnSync(process.execPath, [join(root, 'apps/trainer/dist/cli.js'), 'bench', '--encoder', 'wide_resnet50_2', '--random-weights', '--score-threads', String(threads), ...common], {
    encoding: 'utf8',
    env: { ...process.env, AEFLOW_THREADS: String(threads) },
    maxBuffer: 64 << 20,
  });
  if (p.status !== 0) {
    console.error(`aeflow side failed (exit ${p.status}):\n${p.stderr}`);
    process.exit(1);
  }
  const r = lastJson(p.stdout);
  // The start-up line says which backend and how many threads ran.
  const startup = p.stderr.split('\n').find((l) => l.startsWith('aeflow: backend')) ?? `aeflow: backend ${r.backend}`;
  return {
    as_run: `${startup.replace(/^aeflow: /, 'aeflow ').replace(/ — not used: .*$/, '')}; scoring ${r.score_runtime_described ?? r.score_runtime ?? 'tfjs'}`,
    runtime: r.score_runtime ?? 'tfjs',
    train: r.train_images_per_s,
    trainNoCache: r.train_images_per_s_no_cache,
    score: r.score_images_per_s,
    scoreTfjs: r.score_images_per_s_tfjs ?? r.score_images_per_s,
  };
}

if (!existsSync(join(root, 'apps/trainer/dist/cli.js'))) {
  console.error('compare.mjs: apps/trainer/dist/cli.js is missing; run `pnpm build` first');
  process.exit(1);
}

const before = uptime();
const runs = { pytorch: [], aeflow: [] };
for (let r = 1; r <= rounds; r++) {
  runs.pytorch.push(pytorchSide());
  console.error(`round ${r}/${rounds}: pytorch ${JSON.stringify(runs.pytorch.at(-1))}; ${loadavg()[0].toFixed(2)} load`);
  runs.aeflow.push(aeflowSide());
  console.error(`round ${r}/${rounds}: aeflow ${JSON.stringify(runs.aeflow.at(-1))}; ${loadavg()[0].toFixed(2)} load`);
}
const after = uptime();

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (v) => (v >= 10 ? v.toFixed(1) : v.toFixed(2));
const stat = (v) => (v.length ? `${fmt(median(v))} (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})` : '–');
const ratio = (ours, theirs) => {
  // Per-round ratios: each aeflow run against the PyTorch run of the same round.
  const per = ours.map((o, i) => o / theirs[i]);
  return per.length ? `${median(per).toFixed(2)}× (${Math.min(...per).toFixed(2)}–${Math.max(...per).toFixed(2)})` : '–';
};
const col = (side, key) => runs[side].map((x) => x[key]);
const rows = [
  ['train, aeflow with its feature cache', col('pytorch', 'train'), col('aeflow', 'train')],
  ['train, aeflow recomputing the encoder (as PyTorch)', col('pytorch', 'train'), col('aeflow', 'trainNoCache')],
  [`score, aeflow's default runtime (${runs.aeflow[0].runtime})`, col('pytorch', 'score'), col('aeflow', 'score')],
  ...(runs.aeflow[0].runtime !== 'tfjs' ? [['score, aeflow on tfjs-wasm', col('pytorch', 'score'), col('aeflow', 'scoreTfjs')]] : []),
];
const command = `node scripts/compare-pytorch/compare.mjs ${process.argv.slice(2).join(' ')}`.trim();
const md = [
  `Command: \`${command}\` (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${availableParallelism()} cores).`,
  `Wide-ResNet-50-2 to layer3 (random weights), 8 AllInOne blocks (resnet subnet, hidden 1024), the 4-block decoder, Adam; ${size} px, batch ${batch};`,
  `${threads} threads on every side; ${rounds} rounds interleaved (PyTorch, then aeflow, then again), each side in its own process timing ${steps} step${steps > 1 ? 's' : ''} per measurement after a warm-up.`,
  `As run: ${runs.pytorch[0].as_run}; ${runs.aeflow[0].as_run}.`,
  `\`uptime\` before: ${before}`,
  `\`uptime\` after: ${after}`,
  '',
  '| images/s: median (range) | PyTorch | aeflow | aeflow / PyTorch, per round: median (range) |',
  '|---|---|---|---|',
  ...rows.map(([name, t, a]) => `| ${name} | ${stat(t)} | ${stat(a)} | ${ratio(a, t)} |`),
].join('\n');
console.log(md);
console.log(JSON.stringify({ command, threads, rounds, size, batch, steps, uptime_before: before, uptime_after: after, runs }));
if (values.out) {
  const tmp = `${values.out}.tmp-${process.pid}`;
  writeFileSync(tmp, md + '\n');
  renameSync(tmp, values.out);
}
