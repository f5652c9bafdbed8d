#!/usr/bin/env node
// Reproduction harness: runs the named experiments of experiments.mjs through the real trainer CLI
// (`node apps/trainer/dist/cli.js … --json`), one run folder each under runs/repro/<name>, skips
// the ones already finished (so it resumes), then collects every run's files into docs/RESULTS.md.
//
//   AEFLOW_HOME=/work/shared node scripts/reproduce/run.mjs [--jobs 1|2] [--only a,b,…] [--report-only] [--list]
//
// Nothing in the report is typed in: every number is computed from a run's scores.csv,
// validation/scores.csv, calibration.json (threshold.json in earlier runs), metrics.json, config.json and history.jsonl.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, createWriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATASETS, EXPERIMENTS } from './experiments.mjs';
import { writeReport } from './report.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RUNS = join(ROOT, 'runs/repro');
const TRAINER = 'apps/trainer/dist/cli.js';

function parseArgs(argv) {
  const o = { jobs: 1, only: null, reportOnly: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--jobs') o.jobs = Number(argv[++i]);
    else if (a === '--only') o.only = argv[++i].split(',').map((s) => s.trim());
    else if (a === '--report-only') o.reportOnly = true;
    else if (a === '--list') o.list = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: node scripts/reproduce/run.mjs [--jobs 1|2] [--only name,prefix*,…] [--report-only] [--list]');
      process.exit(0);
    } else {
      console.error(`run.mjs: unknown argument ${a} (see --help)`);
      process.exit(2);
    }
  }
  if (!(Number.isInteger(o.jobs) && o.jobs >= 1 && o.jobs <= 2)) {
    console.error('run.mjs: --jobs must be 1 or 2 (the machine has 2 cores; each run uses both wasm threads)');
    process.exit(2);
  }
  return o;
}

const matches = (name, patterns) => !patterns || patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));

/** The trainer arguments of an experiment; `home` is how the data root is spelled ($AEFLOW_HOME in the report). */
export function trainArgs(exp, home, { resume = false } = {}) {
  const ds = DATASETS[exp.dataset];
  const common = ['--data', `${home}/${ds.data}`, '--dataset', ds.dataset, '--out', `runs/repro/${exp.name}`];
  if (!resume) return [...common, ...exp.args, '--json'];
  // --resume keeps the run's config.json (it refuses --set); only --epochs carries over.
  const epochs = exp.args.indexOf('--epochs');
  return [...common, '--resume', ...(epochs >= 0 ? ['--epochs', exp.args[epochs + 1]] : []), '--json'];
}

export const commandLine = (exp) => ['node', TRAINER, ...trainArgs(exp, '"$AEFLOW_HOME"')].join(' ');

export const isFinished = (name) => existsSync(join(RUNS, name, 'repro.json')) && existsSync(join(RUNS, name, 'scores.csv'));

function runOne(exp, home) {
  const dir = join(RUNS, exp.name);
  const resume = existsSync(join(dir, 'checkpoint.safetensors')) && existsSync(join(dir, 'config.json'));
  mkdirSync(dir, { recursive: true });
  const args = trainArgs(exp, home, { resume });
  const log = createWriteStream(join(dir, 'train.log'), { flags: 'a' });
  const started = new Date();
  console.log(`[${started.toISOString()}] start ${exp.name}${resume ? ' (resume)' : ''}: node ${TRAINER} ${args.join(' ')}`);
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [TRAINER, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let last = '';
    child.stdout.on('data', (b) => {
      log.write(b);
      last = (last + b.toString()).split('\n').slice(-3).join('\n');
    });
    child.stderr.on('data', (b) => log.write(b));
    child.on('close', (code) => {
      log.end();
      const finished = new Date();
      const seconds = (finished - started) / 1000;
      if (code === 0 && existsSync(join(dir, 'scores.csv'))) {
        writeFileSync(
          join(dir, 'repro.json'),
          JSON.stringify({ name: exp.name, command: commandLine(exp), resumed: resume, started: started.toISOString(), finished: finished.toISOString(), wallSeconds: seconds }, null, 2) + '\n',
        );
        console.log(`[${finished.toISOString()}] done ${exp.name} in ${(seconds / 60).toFixed(1)} min`);
      } else {
        console.error(`[${finished.toISOString()}] FAILED ${exp.name} (exit ${code}); see ${join(dir, 'train.log')}\n${last}`);
      }
      resolveRun(code);
    });
  });
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const todo = EXPERIMENTS.filter((e) => matches(e.name, o.only));
  if (o.list) {
    for (const e of EXPERIMENTS) console.log(`${isFinished(e.name) ? 'done' : 'todo'}  ${e.name.padEnd(24)} ${commandLine(e)}`);
    return;
  }
  if (!o.reportOnly) {
    const home = process.env.AEFLOW_HOME;
    if (!home) {
      console.error('run.mjs: set AEFLOW_HOME to the shared folder (it holds data/chest-xray and data/medmnist)');
      process.exit(2);
    }
    if (!existsSync(join(ROOT, TRAINER))) {
      console.error(`run.mjs: ${TRAINER} is missing; run \`pnpm build\` first`);
      process.exit(2);
    }
    const queue = todo.filter((e) => !isFinished(e.name));
    for (const e of todo) if (isFinished(e.name)) console.log(`skip ${e.name} (finished: runs/repro/${e.name}/repro.json)`);
    let failed = 0;
    const lane = async () => {
      for (let e = queue.shift(); e; e = queue.shift()) if ((await runOne(e, resolve(home))) !== 0) failed++;
    };
    await Promise.all(Array.from({ length: o.jobs }, lane));
    if (failed) console.error(`${failed} experiment(s) failed`);
  }
  const out = join(ROOT, 'docs/RESULTS.md');
  await writeReport({ root: ROOT, runs: RUNS, out, experiments: EXPERIMENTS, datasets: DATASETS, isFinished, commandLine });
  console.log(`wrote ${out}`);
}

await main();
