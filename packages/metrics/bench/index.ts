// Benchmark of @aeflow/metrics: AUROC + AP + best F1 on 10⁶ scores, and SSIM on 256×256×3.
// Run with `pnpm bench` in packages/metrics (or `pnpm --filter @aeflow/metrics bench`); writes
// bench/RESULTS.md, which the root `pnpm bench` collects into BENCHMARKS.md.
import { writeFileSync, renameSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { aurocConfidence, auroc, averagePrecision, bestF1, rocCurve, ssim, ssimMap } from '../src/index.js';

const REPETITIONS = 7;

/** mulberry32: seeded, so every run times the same inputs. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Timing {
  /** Median wall time per call, ms. */
  ms: number;
  /** Mean CPU time (user + system) per call, ms: less sensitive than wall time to other processes. */
  cpuMs: number;
}

/** Times `repetitions` calls after one untimed warm-up call. */
function time(repetitions: number, fn: () => unknown): Timing {
  fn();
  const times: number[] = [];
  const cpuStart = process.cpuUsage();
  for (let r = 0; r < repetitions; r++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  const cpu = process.cpuUsage(cpuStart);
  return { ms: median(times), cpuMs: (cpu.user + cpu.system) / 1000 / repetitions };
}

const random = seeded(42);
const n = 1_000_000;
const labels = new Uint8Array(n);
const scores = new Float64Array(n);
for (let i = 0; i < n; i++) {
  const positive = random() < 0.3;
  labels[i] = positive ? 1 : 0;
  // Box–Muller normal, anomalous samples shifted by 1 (AUROC ≈ 0.76).
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  scores[i] = z + (positive ? 1 : 0);
}

const width = 256;
const height = 256;
const channels = 3;
const imageA = new Float32Array(width * height * channels);
const imageB = new Float32Array(width * height * channels);
for (let i = 0; i < imageA.length; i++) {
  imageA[i] = random();
  imageB[i] = Math.min(1, Math.max(0, imageA[i]! + 0.1 * (random() - 0.5)));
}
const shape = { width, height, channels, dataRange: 1 };

interface Row extends Timing {
  what: string;
  goal?: number;
}
const rows: Row[] = [
  { what: 'auroc, 10⁶ scores', ...time(REPETITIONS, () => auroc(labels, scores)), goal: 500 },
  { what: 'averagePrecision, 10⁶ scores', ...time(REPETITIONS, () => averagePrecision(labels, scores)) },
  { what: 'bestF1, 10⁶ scores', ...time(REPETITIONS, () => bestF1(labels, scores)) },
  {
    what: 'auroc + averagePrecision + bestF1, 10⁶ scores',
    ...time(REPETITIONS, () => [auroc(labels, scores), averagePrecision(labels, scores), bestF1(labels, scores)]),
  },
  { what: 'rocCurve, 10⁶ scores', ...time(REPETITIONS, () => rocCurve(labels, scores)) },
  { what: 'aurocConfidence (DeLong), 10⁶ scores', ...time(REPETITIONS, () => aurocConfidence(labels, scores)) },
  { what: 'ssim, 256×256×3', ...time(4 * REPETITIONS, () => ssim(imageA, imageB, shape)), goal: 20 },
  { what: 'ssimMap, 256×256×3', ...time(4 * REPETITIONS, () => ssimMap(imageA, imageB, shape)) },
];

const command = 'pnpm --filter @aeflow/metrics bench';
const load = loadavg()
  .map((l) => l.toFixed(1))
  .join(', ');
const lines = [
  '## @aeflow/metrics',
  '',
  `Command: \`${command}\` (= \`pnpm bench\` in packages/metrics). Backend: none — plain JavaScript on`,
  `Float64 arrays, no tensors. ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version},`,
  `${new Date().toISOString().slice(0, 10)}. Median of ${REPETITIONS} calls (SSIM: ${4 * REPETITIONS}) after one warm-up call;`,
  'scores are 10⁶ normal samples, 30% anomalous shifted by 1; images are random Float32 HWC.',
  `Load average at the end of the run: ${load} (on ${cpus().length} cores: wall times include waiting for the CPU;`,
  'the CPU-time column is this process alone). Goals are shown against both.',
  '',
  '| what | wall ms per call (median) | CPU ms per call (mean) | goal |',
  '| --- | ---: | ---: | --- |',
  ...rows.map(
    (row) =>
      `| ${row.what} | ${row.ms.toFixed(1)} | ${row.cpuMs.toFixed(1)} | ${row.goal === undefined ? '' : `< ${row.goal} ms: wall ${row.ms < row.goal ? 'met' : 'NOT met'}, CPU ${row.cpuMs < row.goal ? 'met' : 'NOT met'}`} |`,
  ),
  '',
];
const text = lines.join('\n');
console.log(text);
const out = fileURLToPath(new URL('./RESULTS.md', import.meta.url));
writeFileSync(`${out}.tmp`, text);
renameSync(`${out}.tmp`, out);
