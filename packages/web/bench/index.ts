// The page's bundle size and its time to first score on a 224 px chest X-ray, in headless Chromium.
// Writes bench/RESULTS.md (collected into BENCHMARKS.md by `pnpm bench`). Needs AEFLOW_HOME (the
// shared chest X-ray data and MobileNet) and a Chromium; not a test — nothing is asserted.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { builtPageDir, exportWebFolder, serveFolder } from '../src/node.js';
import { findChromium, launchChromium } from '../test/chromium.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');
const REPS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Sizes of the built page; `js` is what loads at start (the entry chunk), `lazy` the chunks and wasm loaded on first use (the DICOM codecs). */
async function bundle(): Promise<{ rows: string[]; js: number; jsGz: number; lazy: number; lazyGz: number }> {
  const page = builtPageDir();
  const rows: string[] = [];
  let js = 0;
  let jsGz = 0;
  let lazy = 0;
  let lazyGz = 0;
  for (const entry of await readdir(page, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const bytes = await readFile(path);
    const gz = gzipSync(bytes, { level: 9 }).length;
    const rel = path.slice(page.length + 1);
    if (/^assets\/index-[\w-]+\.js$/.test(rel)) {
      js += bytes.length;
      jsGz += gz;
    } else if (rel.startsWith('codecs/') || rel.endsWith('.js')) {
      lazy += bytes.length;
      lazyGz += gz;
    }
    rows.push(`| ${rel.replace(/-[\w-]{8}\.(js|css)$/, '.$1')} | ${(bytes.length / 1024).toFixed(0)} | ${(gz / 1024).toFixed(0)} |`);
  }
  return { rows: rows.sort(), js, jsGz, lazy, lazyGz };
}

async function main(): Promise<void> {
  const home = process.env.AEFLOW_HOME;
  const chromium = await findChromium();
  if (!home || !chromium) {
    console.error('web bench: needs AEFLOW_HOME (chest X-ray data + MobileNet) and a Chromium; skipped');
    return;
  }
  const { rows: sizeRows, js, jsGz, lazy, lazyGz } = await bundle();
  // A run with the demo's model (the cpu preset: MobileNet V1 at 128 px, 4 flow blocks): one epoch on
  // 40 normals is enough — the time to score does not depend on how well it was trained.
  const dir = await mkdtemp(join(tmpdir(), 'aeflow-web-bench-'));
  const data = join(home, 'data', 'chest-xray');
  for (const [split, cls, n] of [['train', 'NORMAL', 40], ['val', 'NORMAL', 8], ['val', 'PNEUMONIA', 8]] as const) {
    await mkdir(join(dir, 'data', split, cls), { recursive: true });
    for (const f of (await readdir(join(data, split, cls))).sort().slice(0, n)) await symlink(join(data, split, cls, f), join(dir, 'data', split, cls, f));
  }
  const runDir = join(dir, 'run');
  await run(process.execPath, [join(repo, 'apps/trainer/dist/cli.js'), '--data', join(dir, 'data'), '--dataset', 'chest-xray', '--out', runDir, '--set', 'train.epochs=1', '--beta', 'auto', '--no-cache', '--quiet', '--backend', 'wasm'], { maxBuffer: 1 << 24 });
  const config = JSON.parse(await readFile(join(runDir, 'config.json'), 'utf8')) as { size: number; flow: { blocks: number }; score: { flow: string } };
  const site = join(dir, 'site');
  const exported = await exportWebFolder({ run: runDir, out: site });
  const image = join(data, 'val', 'PNEUMONIA', (await readdir(join(data, 'val', 'PNEUMONIA'))).sort()[20]!);
  const server = await serveFolder(site, { port: 0 });
  const browser = await launchChromium();
  const load0 = loadavg()[0]!;
  const samples: { ready: number; first: number; second: number; backend: string }[] = [];
  try {
    for (let r = 0; r < REPS; r++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const t0 = Date.now();
      await page.goto(server.url);
      await page.waitForFunction(() => document.body.dataset.state === 'ready', undefined, { timeout: 300_000 });
      const ready = Date.now() - t0;
      const t1 = Date.now();
      await page.setInputFiles('#files', image);
      await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length === 1 && document.body.dataset.state === 'ready', undefined, { timeout: 300_000 });
      const first = Date.now() - t1;
      const t2 = Date.now();
      await page.setInputFiles('#files', image);
      await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length === 2 && document.body.dataset.state === 'ready', undefined, { timeout: 300_000 });
      const second = Date.now() - t2;
      samples.push({ ready, first, second, backend: (await page.getAttribute('body', 'data-backend')) ?? '?' });
      await context.close();
    }
  } finally {
    await browser.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
  const version = (await run(chromium, ['--version'])).stdout.trim();
  const md = `## @aeflow/web

Command: \`pnpm --filter @aeflow/web bench\` · ${version}, headless, \`--disable-gpu\` (so the page picks
${samples[0]!.backend}: no WebGPU adapter, and WebGL is SwiftShader, which it skips as slower) · ${cpus().length} cores ·
median of ${REPS} fresh browser contexts · load average ${load0.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after
(the machine is shared: noisy) · ${new Date().toISOString().slice(0, 10)}

Run: the demo's model (cpu preset: the pretrained MobileNet V1 up to conv_pw_11 with its BatchNorm statistics re-estimated on the training normals, at ${config.size} px, ${config.flow.blocks} flow blocks, decoder, flow part scored by ${config.score.flow === 'knn' ? 'a kNN on the pooled latent z′ (40 training normals in memory)' : config.score.flow}), exported with
\`exportWebFolder\` (${exported.files} files, ${(exported.bytes / 1e6).toFixed(1)} MB, of which the page
${((js) / 1e6).toFixed(2)} MB of JavaScript). Image: one 224 × 224 chest X-ray JPEG (val/PNEUMONIA).

| step | ms (median) | min | max |
|---|---|---|---|
| page load → model ready (fetch run + encoder, backend start, build) | ${median(samples.map((s) => s.ready))} | ${Math.min(...samples.map((s) => s.ready))} | ${Math.max(...samples.map((s) => s.ready))} |
| first score (decode, resize, score, heat map, table) | ${median(samples.map((s) => s.first))} | ${Math.min(...samples.map((s) => s.first))} | ${Math.max(...samples.map((s) => s.first))} |
| second score, same page (warm) | ${median(samples.map((s) => s.second))} | ${Math.min(...samples.map((s) => s.second))} | ${Math.max(...samples.map((s) => s.second))} |

Bundle (\`dist/page\`, what an export serves besides the run): JavaScript loaded at start ${(js / 1024).toFixed(0)} KiB, ${(jsGz / 1024).toFixed(0)} KiB gzipped;
the DICOM codecs, loaded only when a compressed DICOM is dropped: ${(lazy / 1024).toFixed(0)} KiB (${(lazyGz / 1024).toFixed(0)} KiB gzipped) of JavaScript and wasm.

| file | KiB | KiB gzipped |
|---|---|---|
${sizeRows.join('\n')}
`;
  const out = join(here, 'RESULTS.md');
  await writeFile(`${out}.tmp`, md);
  await rename(`${out}.tmp`, out);
  await stat(out);
  console.log(md);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
