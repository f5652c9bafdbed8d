// Train images/s (with and without the feature cache) and score images/s of each preset on the
// configured backend (wasm here), batch 8, with effective GFLOP/s next to the same run's matMul
// rate and the peak RSS. Writes bench/RESULTS.md.
//   pnpm --filter @aeflow/model bench            (BENCH_STEPS=5 by default)
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { currentBackend } from '@aeflow/tensor';
import { initBackend } from '@aeflow/tensor/node';
import { measureMatMulGflops, runBenchmark, type BenchmarkOptions, type BenchmarkResult } from '../src/node.js';

await initBackend({ quiet: true });
const steps = Number(process.env.BENCH_STEPS ?? 5);
const cases: { label: string; options: BenchmarkOptions }[] = [
  { label: 'cpu preset (MobileNet V1 conv_pw_11, 128 px)', options: { preset: 'cpu', randomWeights: true } },
  { label: 'paper preset at 64 px (Wide-ResNet-50-2 layer3; the PyTorch reference setting)', options: { preset: 'paper', randomWeights: true, size: 64 } },
  { label: 'cpu preset, AE baseline', options: { preset: 'cpu', randomWeights: true, config: { model: 'ae' } } },
  { label: 'cpu preset, FastFlow baseline', options: { preset: 'cpu', randomWeights: true, config: { model: 'fastflow' } } },
];
// The paper's 256 px with batch 8 does not fit the 4 GiB wasm heap (the first step runs out of
// memory); batch 2 does. Opt-in: it takes several minutes.
if (process.env.BENCH_PAPER_256 === '1') cases.push({ label: 'paper preset (256 px), **batch 2**', options: { preset: 'paper', randomWeights: true, batch: 2 } });

// Each case runs in its own process, so its peak RSS is its own.
if (process.env.BENCH_CASE !== undefined) {
  const c = cases[Number(process.env.BENCH_CASE)]!;
  const r = await runBenchmark({ batch: 8, ...c.options, steps, onProgress: (m) => console.error(`  ${m}`) });
  console.log(JSON.stringify({ ...r, config: undefined }));
  process.exit(0);
}
const matMul = await measureMatMulGflops();
const rows: string[] = [];
for (const [i, c] of cases.entries()) {
  console.error(c.label);
  const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1]!], {
    env: { ...process.env, BENCH_CASE: String(i) },
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as BenchmarkResult;
  const ratio = (g: number): string => `${g.toFixed(2)} (${(g / matMul).toFixed(2)})`;
  rows.push(
    `| ${c.label} | ${r.train_images_per_s.toFixed(2)} | ${r.train_images_per_s_no_cache.toFixed(2)} | ${(r.train_images_per_s / r.train_images_per_s_no_cache).toFixed(2)}× | ${r.score_images_per_s.toFixed(2)} | ${r.cpu_time.train_images_per_cpu_s.toFixed(2)} / ${r.cpu_time.train_images_per_cpu_s_no_cache.toFixed(2)} / ${r.cpu_time.score_images_per_cpu_s.toFixed(2)} | ${ratio(r.train_gflops)} | ${ratio(r.train_gflops_no_cache)} | ${ratio(r.score_gflops)} | ${r.peak_rss_mb} |`,
  );
  console.error(JSON.stringify({ case: c.label, ...r }));
}
const backend = currentBackend();
const md = [
  '## @aeflow/model',
  '',
  `Command: \`pnpm --filter @aeflow/model bench\` · backend ${backend?.name}${backend?.name === 'wasm' ? ` (${backend.threads} thread)` : ''} · ${cpus().length} cores · batch 8 · median of ${steps} timed steps after a warm-up · random encoder weights (same cost as pretrained) · matMul 1024³ ${matMul.toFixed(1)} GFLOP/s in the same run · the machine was shared with other jobs, so absolute rates are noisy; ratios within a row are not.`,
  '',
  'Images per CPU-second (this process\'s user + system time; one wasm thread) is what an idle machine would give in wall-clock time; the wall-clock columns suffer from the other jobs. "train" = one optimiser step on flow + decoder; "with cache" reads the frozen encoder\'s features from memory (the feature cache), "no cache" recomputes the encoder every step as the paper\'s pipeline does. GFLOP/s count 2 × multiply-adds, a training step 3× the forward of the trained parts; in parentheses the ratio to matMul.',
  '',
  '| configuration | train img/s (cache) | train img/s (no cache) | cache speed-up | score img/s | per CPU-second: train cache / no cache / score | train GFLOP/s (cache) | train GFLOP/s (no cache) | score GFLOP/s | peak RSS MiB |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...rows,
  '',
  'PyTorch 1.13 CPU on the same machine, Wide-ResNet-50-2 at 64 px, batch 8: 0.63 train and 1.65 score images/s (the paper pipeline, encoder recomputed every step).',
  '',
].join('\n');
console.log(md);
await writeFile(new URL('./RESULTS.md', import.meta.url), md);
