// Decode + resize throughput on the shared Chest X-ray JPEGs (224×224, stored as 3-channel JPEG).
// Run: AEFLOW_HOME=/work/shared pnpm --filter @aeflow/datasets bench
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@aeflow/tensor/node';
import { batches, resizeRaster, type ImageItem, type Raster } from '../src/index.js';
import { chestXrayDataset, decodeImageFile } from '../src/node.js';

const HOME = process.env.AEFLOW_HOME;
if (!HOME) {
  // Not an error for `pnpm bench` at the root: say why, keep the previous RESULTS.md.
  console.error('bench: skipped, needs AEFLOW_HOME (the shared folder with data/chest-xray); bench/RESULTS.md left as it was.');
  process.exit(0);
}
const REPS = 7;
const N = 160;
const SIZES = [64, 128, 256] as const;

const backend = await initBackend({ quiet: true });
const ds = await chestXrayDataset(join(HOME, 'data', 'chest-xray'), { split: 'train' });
// An even spread over both classes.
const step = Math.floor(ds.items.length / N);
const pick: ImageItem[] = Array.from({ length: N }, (_, i) => ds.items[i * step]!);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median and best of REPS timed passes after a warm-up (the best is the least disturbed by other load). */
async function timeIt(fn: () => Promise<void>): Promise<{ median: number; best: number }> {
  await fn(); // warm-up
  const times: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return { median: median(times), best: Math.min(...times) };
}

interface Row {
  what: string;
  px: number | string;
  ms: { median: number; best: number };
}
const rows: Row[] = [];

// Stages apart, at the stored size: read + decode (sharp), then resize alone.
const rasters: Raster[] = [];
rows.push({
  what: 'read + decode only (sharp, one at a time)',
  px: '224 (stored)',
  ms: await timeIt(async () => {
    rasters.length = 0;
    for (const item of pick) rasters.push(await decodeImageFile((item.source as { path: string }).path));
  }),
});
for (const size of SIZES) {
  rows.push({
    what: 'resize only (area/bilinear, gray → 3 channels)',
    px: size,
    ms: await timeIt(() => {
      for (const r of rasters) resizeRaster(r, { size });
      return Promise.resolve();
    }),
  });
}
for (const size of SIZES) {
  rows.push({
    what: '`load()` one at a time (decode + resize)',
    px: size,
    ms: await timeIt(async () => {
      for (const item of pick) await ds.load(item, { size });
    }),
  });
}
for (const size of SIZES) {
  rows.push({
    what: '`batches()` 32/batch, 4 decodes in flight, prefetch 2, + tensor4d',
    px: size,
    ms: await timeIt(async () => {
      for await (const b of batches(ds, pick, { batchSize: 32, size, concurrency: 4, prefetch: 2 })) b.images.dispose();
    }),
  });
}

const load = loadavg()[0]!.toFixed(1);
const lines = [
  '## @aeflow/datasets',
  '',
  `Command: \`AEFLOW_HOME=../shared pnpm --filter @aeflow/datasets bench\` · backend ${backend.name} (tensors only; decoding is sharp/libvips + JavaScript) · ${cpus().length} cores · Node ${process.version} · ${N} Chest X-ray train JPEGs (224×224, both classes) · median and best of ${REPS} passes after a warm-up · 1-min load average ${load} at the end (the machine is shared: absolute rates are noisy)`,
  '',
  '| what | output px | ms / image (median) | images/s (median) | images/s (best pass) |',
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.what} | ${r.px} | ${(r.ms.median / N).toFixed(2)} | ${((N * 1000) / r.ms.median).toFixed(0)} | ${((N * 1000) / r.ms.best).toFixed(0)} |`),
  '',
];
const text = lines.join('\n');
console.log(text);
const out = join(dirname(fileURLToPath(import.meta.url)), 'RESULTS.md');
await writeFile(out, text);
console.log(`wrote ${out}`);
