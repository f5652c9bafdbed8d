#!/usr/bin/env node
// Runs the same AE-FLOW configuration in PyTorch (aeflow_torch.py) and in aeflow
// (`aeflow-train bench`), one after the other on this machine, and prints both and the ratio.
// Not part of CI. Usage (from the repo root, after `pnpm build`):
//   node scripts/compare-pytorch/compare.mjs [--size 64] [--batch 8] [--steps 3] [--threads 2]
import { execFileSync } from 'node:child_process';
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
    threads: { type: 'string', default: '' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const lastJson = (out) => JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1));
const common = ['--size', values.size, '--batch', values.batch, '--steps', values.steps];

const torchArgs = [join(here, 'aeflow_torch.py'), ...common, ...(values.threads ? ['--threads', values.threads] : [])];
let torch;
try {
  torch = lastJson(execFileSync(values.python, torchArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
} catch (err) {
  console.error(`PyTorch side failed (${err.message.split('\n')[0]}). Install it with: apt-get install python3-torch python3-torchvision`);
  process.exit(1);
}
const env = { ...process.env, ...(values.threads ? { AEFLOW_THREADS: values.threads } : {}) };
const ours = lastJson(
  execFileSync('node', [join(root, 'apps/trainer/dist/cli.js'), 'bench', '--encoder', 'wide_resnet50_2', '--random-weights', ...common], {
    encoding: 'utf8',
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  }),
);
const row = (name, t, a) => `${name.padEnd(34)} ${String(t).padStart(8)} ${String(a).padStart(8)} ${(a / t).toFixed(2).padStart(7)}x`;
console.log(`${'images/s'.padEnd(34)} ${'pytorch'.padStart(8)} ${'aeflow'.padStart(8)} ${'ratio'.padStart(8)}`);
console.log(row('train (aeflow with feature cache)', torch.train_images_per_s, ours.train_images_per_s));
console.log(row('train (aeflow without the cache)', torch.train_images_per_s, ours.train_images_per_s_no_cache));
console.log(row('score', torch.score_images_per_s, ours.score_images_per_s));
console.log(JSON.stringify({ pytorch: torch, aeflow: ours }));
