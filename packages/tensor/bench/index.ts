/**
 * `pnpm bench` in packages/tensor: GFLOP/s of the training kernels on the chosen backend
 * (default wasm), each with its ratio to the same run's matMul 1024³ rate, written to
 * bench/RESULTS.md. On wasm with one thread it then repeats the run with 2 threads in a child
 * process (threads must start before any tensor exists).
 *
 * GFLOP/s = 2 × multiply-adds per second; "fwd + grad" counts 3 × the forward FLOPs (forward,
 * input gradient, filter gradient). Median of AEFLOW_BENCH_REPS (default 7) round-robin runs after one warm-up.
 * AEFLOW_BENCH_ONLY=<regexp> runs only the ops whose names match (and matMul).
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// The built package (run `pnpm --filter @aeflow/tensor build` first; turbo's bench task does):
// tfjs-core's gradient modules load in Node only bundled, as the build does (src/kernels/gradients.ts).
import { type BackendName, parseBackendName } from '@aeflow/tensor';
import { initBackend } from '@aeflow/tensor/node';

interface Row {
  name: string;
  gflop: number;
  ms: number;
  /** Fastest and slowest repetition. */
  range: [number, number];
  gflops: number;
  /** Images per pass, for rows that process a batch of images. */
  images?: number;
}
interface RunResult {
  backend: string;
  threads: number;
  reps: number;
  rows: Row[];
}

const REPS = Number(process.env.AEFLOW_BENCH_REPS ?? 7);
if (!Number.isInteger(REPS) || REPS < 1) throw new Error(`AEFLOW_BENCH_REPS: "${process.env.AEFLOW_BENCH_REPS}" is not a whole number >= 1`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs `f` (which returns the tensors it made) once and returns its time in ms. */
async function timeOnce(f: () => tf.Tensor[]): Promise<number> {
  const t0 = performance.now();
  const outs = tf.tidy(f);
  await outs[0]!.data(); // wait for the work on backends that run asynchronously
  const dt = performance.now() - t0;
  tf.dispose(outs);
  return dt;
}

interface Op {
  name: string;
  gflop: number;
  f: () => tf.Tensor[];
  images?: number;
}

/** MobileNet V1 at 128 px: blocks conv_dw_10 … conv_pw_11 see 8×8×512 maps. */
const MOBILENET = { batch: 32, size: 8, channels: 512 } as const;

/**
 * MobileNet V1's blocks conv_dw_10, conv_pw_10, conv_dw_11, conv_pw_11 (depthwise 3×3 → BatchNorm
 * with fixed statistics → relu6 → 1×1 conv → BatchNorm → relu6, twice) with random weights: what
 * adapting the encoder's last blocks trains. Returns the trainable tensors and the forward pass.
 */
function mobileNetBlocks(): { params: tf.Tensor[]; constants: tf.Tensor[]; forward: (x: tf.Tensor, ...p: tf.Tensor[]) => tf.Tensor; gflop: number } {
  const { batch, size, channels: C } = MOBILENET;
  const params: tf.Tensor[] = [];
  const constants: tf.Tensor[] = [];
  for (let block = 0; block < 2; block++) {
    params.push(tf.tidy(() => tf.mul(tf.randomNormal([3, 3, C, 1]), 0.3)), tf.ones([C]), tf.zeros([C]));
    params.push(tf.tidy(() => tf.mul(tf.randomNormal([1, 1, C, C]), Math.sqrt(2 / C))), tf.ones([C]), tf.zeros([C]));
    constants.push(tf.zeros([C]), tf.ones([C]), tf.zeros([C]), tf.ones([C]));
  }
  const bnRelu6 = (h: tf.Tensor4D, i: number, gamma: tf.Tensor, beta: tf.Tensor) =>
    tf.relu6(tf.batchNorm(h, constants[2 * i] as tf.Tensor1D, constants[2 * i + 1] as tf.Tensor1D, beta as tf.Tensor1D, gamma as tf.Tensor1D, 1e-3));
  const forward = (x: tf.Tensor, ...p: tf.Tensor[]) => {
    let h = x as tf.Tensor4D;
    for (let block = 0; block < 2; block++) {
      const [dw, g1, b1, pw, g2, b2] = p.slice(6 * block, 6 * block + 6);
      h = bnRelu6(tf.depthwiseConv2d(h, dw as tf.Tensor4D, 1, 'same'), 2 * block, g1!, b1!);
      h = bnRelu6(tf.conv2d(h, pw as tf.Tensor4D, 1, 'same'), 2 * block + 1, g2!, b2!);
    }
    return h;
  };
  const positions = batch * size * size;
  const gflop = (2 * (2 * positions * C * 9 + 2 * positions * C * C)) / 1e9;
  return { params, constants, forward, gflop };
}

async function run(backend: BackendName): Promise<RunResult> {
  // One thread unless AEFLOW_THREADS says otherwise (the Node entry would start one per core):
  // the run on wasm is then repeated with 2 threads in a child process.
  const report = await initBackend({ backend, quiet: true, ...(process.env.AEFLOW_THREADS ? {} : { threads: 1 }) });
  const before = tf.memory().numTensors;

  const a = tf.randomNormal([1024, 1024]);
  const b = tf.randomNormal([1024, 1024]);
  // conv2d 3×3, same, [8,32,32,256] → 256
  const x = tf.randomNormal<tf.Rank.R4>([8, 32, 32, 256]);
  const w = tf.tidy(() => tf.mul<tf.Tensor4D>(tf.randomNormal([3, 3, 256, 256]), 0.05));
  const dy = tf.randomNormal<tf.Rank.R4>([8, 32, 32, 256]);
  const convFlop = (2 * 8 * 32 * 32 * 256 * 256 * 9) / 1e9;
  const conv = (p: tf.Tensor, q: tf.Tensor) => tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, 1, 'same');
  // conv2dTranspose 2×2 / 2, valid, [8,16,16,512] → [8,32,32,256] (the decoder's up-sampling)
  const u = tf.randomNormal<tf.Rank.R4>([8, 16, 16, 512]);
  const k = tf.tidy(() => tf.mul<tf.Tensor4D>(tf.randomNormal([2, 2, 256, 512]), 0.05));
  const du = tf.randomNormal<tf.Rank.R4>([8, 32, 32, 256]);
  const upFlop = (2 * 8 * 16 * 16 * 512 * 256 * 4) / 1e9;
  const up = (p: tf.Tensor, q: tf.Tensor) => tf.conv2dTranspose(p as tf.Tensor4D, q as tf.Tensor4D, [8, 32, 32, 256], 2, 'valid');

  // Depthwise 3×3, stride 1, same, on MobileNet's 8×8×512 maps at 128 px, batch 32.
  const { batch: mb, size: ms, channels: mc } = MOBILENET;
  const dwX = tf.randomNormal<tf.Rank.R4>([mb, ms, ms, mc]);
  const dwW = tf.tidy(() => tf.mul<tf.Tensor4D>(tf.randomNormal([3, 3, mc, 1]), 0.3));
  const dwDy = tf.randomNormal<tf.Rank.R4>([mb, ms, ms, mc]);
  const dwFlop = (2 * mb * ms * ms * mc * 9) / 1e9;
  const blocks = mobileNetBlocks();
  const blocksDy = tf.randomNormal<tf.Rank.R4>([mb, ms, ms, mc]);

  const ops: Op[] = [
    { name: 'matMul 1024³', gflop: (2 * 1024 ** 3) / 1e9, f: () => [tf.matMul(a, b)] },
    { name: 'conv2d 3×3 fwd [8,32,32,256]→256', gflop: convFlop, f: () => [conv(x, w)] },
    { name: 'conv2d 3×3 fwd + grad (input and filter)', gflop: 3 * convFlop, f: () => tf.grads(conv)([x, w], dy) },
    {
      name: '  Conv2DBackpropInput alone',
      gflop: convFlop,
      f: () => [
        tf.engine().runKernel<tf.Tensor>('Conv2DBackpropInput', { dy, filter: w }, { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: x.shape }),
      ],
    },
    {
      name: '  Conv2DBackpropFilter alone',
      gflop: convFlop,
      f: () => [
        tf.engine().runKernel<tf.Tensor>('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: w.shape }),
      ],
    },
    { name: 'conv2dTranspose 2×2/2 fwd [8,16,16,512]→256', gflop: upFlop, f: () => [up(u, k)] },
    { name: 'conv2dTranspose 2×2/2 fwd + grad (input and filter)', gflop: 3 * upFlop, f: () => tf.grads(up)([u, k], du) },
    { name: 'depthwiseConv2d 3×3 fwd [32,8,8,512]', gflop: dwFlop, f: () => [tf.depthwiseConv2d(dwX, dwW, 1, 'same')] },
    {
      name: '  DepthwiseConv2dNativeBackpropInput alone',
      gflop: dwFlop,
      f: () => [
        tf.engine().runKernel<tf.Tensor>('DepthwiseConv2dNativeBackpropInput', { dy: dwDy, filter: dwW }, { strides: 1, pad: 'same', dilations: 1, inputShape: dwX.shape }),
      ],
    },
    {
      name: '  DepthwiseConv2dNativeBackpropFilter alone',
      gflop: dwFlop,
      f: () => [tf.engine().runKernel<tf.Tensor>('DepthwiseConv2dNativeBackpropFilter', { x: dwX, dy: dwDy }, { strides: 1, pad: 'same', dilations: 1, filterShape: dwW.shape })],
    },
    {
      name: 'MobileNet conv_dw_10 … conv_pw_11 fwd + grad (input and every weight), batch 32 at 128 px',
      gflop: 3 * blocks.gflop,
      images: mb,
      f: () => tf.grads((x: tf.Tensor, ...p: tf.Tensor[]) => blocks.forward(x, ...p))([dwX, ...blocks.params], blocksDy),
    },
  ];
  // AEFLOW_BENCH_ONLY (a regular expression) keeps matMul (the reference rate) and the ops it matches.
  const only = process.env.AEFLOW_BENCH_ONLY ? new RegExp(process.env.AEFLOW_BENCH_ONLY, 'i') : undefined;
  if (only) ops.splice(0, ops.length, ...ops.filter((op, i) => i === 0 || only.test(op.name)));
  // Round-robin repetitions: on a shared, noisy machine a slow spell then hits every op alike,
  // so the ratios to matMul stay meaningful.
  const times: number[][] = ops.map(() => []);
  for (const op of ops) await timeOnce(op.f); // warm-up
  for (let r = 0; r < REPS; r++) {
    for (let i = 0; i < ops.length; i++) times[i]!.push(await timeOnce(ops[i]!.f));
  }
  const rows: Row[] = ops.map((op, i) => {
    const ms = median(times[i]!);
    const range: [number, number] = [Math.min(...times[i]!), Math.max(...times[i]!)];
    const row: Row = { name: op.name, gflop: op.gflop, ms, range, gflops: op.gflop / (ms / 1000), ...(op.images ? { images: op.images } : {}) };
    process.stderr.write(`  ${op.name}: ${ms.toFixed(1)} ms (${range[0].toFixed(1)}–${range[1].toFixed(1)}), ${row.gflops.toFixed(2)} GFLOP/s\n`);
    return row;
  });
  tf.dispose([a, b, x, w, dy, u, k, du, dwX, dwW, dwDy, blocksDy, ...blocks.params, ...blocks.constants]);
  if (tf.memory().numTensors !== before) throw new Error(`bench leaked ${tf.memory().numTensors - before} tensors`);
  return { backend: report.name, threads: report.threads, reps: REPS, rows };
}

function table(r: RunResult): string {
  const mm = r.rows[0]!.gflops;
  const ms = (v: number) => (v < 10 ? v.toFixed(1) : v.toFixed(0));
  const lines = [
    `| op | GFLOP | ms (median) | ms (range) | GFLOP/s | × matMul |`,
    `|---|---|---|---|---|---|`,
    ...r.rows.map(
      (row) =>
        `| ${row.name.trim()}${row.name.startsWith('  ') ? ' (part of the row above)' : ''} | ${row.gflop.toFixed(3)} | ${ms(row.ms)} | ${ms(row.range[0])}–${ms(row.range[1])} | ${row.gflops.toFixed(2)} | ${(row.gflops / mm).toFixed(2)} |`,
    ),
  ];
  const dwForward = r.rows.find((row) => row.name.startsWith('depthwiseConv2d 3×3 fwd'));
  const notes = r.rows
    .filter((row) => row.name.trim().startsWith('DepthwiseConv2dNativeBackprop') && dwForward)
    .map((row) => `${row.name.trim().replace(' alone', '')} ${(row.ms / dwForward!.ms).toFixed(1)}×`);
  if (notes.length > 0) lines.push('', `Depthwise backprop kernels vs wasm's forward depthwise kernel (time): ${notes.join(', ')}.`);
  for (const row of r.rows.filter((x) => x.images)) lines.push('', `${row.name}: ${(row.images! / (row.ms / 1000)).toFixed(0)} images/s.`);
  return lines.join('\n');
}

const backend = parseBackendName(process.env.AEFLOW_BACKEND ?? 'wasm', 'AEFLOW_BACKEND');

if (process.env.AEFLOW_BENCH_CHILD === '1') {
  // Child run (2 threads): hand the results to the parent as the last line of stdout.
  const result = await run(backend);
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = 0;
} else {
  process.stderr.write(`@aeflow/tensor bench: backend ${backend}, median of ${REPS}\n`);
  const loadBefore = loadavg()[0]!;
  const main = await run(backend);
  const runs = [main];
  if (main.backend === 'wasm' && main.threads === 1 && process.env.AEFLOW_BENCH_THREADS !== '0') {
    process.stderr.write('@aeflow/tensor bench: again with AEFLOW_THREADS=2 (child process)\n');
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
      env: { ...process.env, AEFLOW_THREADS: '2', AEFLOW_BENCH_CHILD: '1' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const last = child.stdout.trim().split('\n').pop() ?? '';
    if (child.status === 0 && last.startsWith('{')) runs.push(JSON.parse(last) as RunResult);
    else process.stderr.write(`@aeflow/tensor bench: the 2-thread run failed (exit ${child.status})\n`);
  }
  const loadAfter = loadavg()[0]!;
  const sections = runs.map(
    (r) =>
      `### ${r.backend}, ${r.threads} thread${r.threads > 1 ? 's' : ''}\n\nmatMul 1024³ in this run: ${r.rows[0]!.gflops.toFixed(2)} GFLOP/s.\n\n${table(r)}`,
  );
  const md = `## @aeflow/tensor

Command: \`pnpm --filter @aeflow/tensor build && pnpm --filter @aeflow/tensor bench\` (the bench loads the built package; \`AEFLOW_BACKEND\` picks the backend, default wasm; on wasm the run is repeated with \`AEFLOW_THREADS=2\`) · ${cpus().length} cores · median of ${REPS} round-robin repetitions after a warm-up · load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after (other processes share the cores: single rows can still catch a slow spell) · ${new Date().toISOString().slice(0, 10)}

GFLOP/s = 2 × multiply-adds per second; "fwd + grad" counts 3 × the forward FLOPs (forward, input gradient, filter gradient; BatchNorm and relu6 not counted). Range: fastest and slowest repetition. Rows marked "part of the row above" time one kernel of that gradient alone, counted as 1 × the forward FLOPs. Goals on wasm: conv2d fwd + grad ≥ 0.8 × matMul, conv2dTranspose fwd + grad ≥ 0.5 × matMul.

${sections.join('\n\n')}
`;
  const out = join(dirname(fileURLToPath(import.meta.url)), 'RESULTS.md');
  writeFileSync(out, md);
  process.stdout.write(md);
}
