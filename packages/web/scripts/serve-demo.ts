// `pnpm web`: export the newest run the demo trained (runs/chest-*) — or the run named with
// --run <dir> — to runs/web-demo/ and serve it on http://127.0.0.1:4173/ until Ctrl-C.
import { mkdir, readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportWebFolder, serveFolder } from '../src/node.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

async function newestDemoRun(): Promise<string | null> {
  const runs = join(repo, 'runs');
  let best: { dir: string; time: number } | null = null;
  for (const name of await readdir(runs).catch(() => [] as string[])) {
    if (!name.startsWith('chest-')) continue;
    const weights = await stat(join(runs, name, 'model.safetensors')).catch(() => null);
    if (weights && (!best || weights.mtimeMs > best.time)) best = { dir: join(runs, name), time: weights.mtimeMs };
  }
  return best?.dir ?? null;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--run');
  const run = at >= 0 ? args[at + 1] : await newestDemoRun();
  if (!run) {
    console.error('web: no trained demo run in runs/chest-*; train one with `pnpm demo`, or name one: pnpm web --run <run folder>');
    process.exit(1);
  }
  const out = join(repo, 'runs', 'web-demo');
  // runs/ is missing in a clone that has not trained yet (pnpm web --run <a run elsewhere>)
  await mkdir(dirname(out), { recursive: true });
  const exported = await exportWebFolder({ run: resolve(run), out, overwrite: true });
  const port = Number(process.env.PORT ?? 4173);
  const server = await serveFolder(out, { port });
  console.log(`web: ${run} exported to ${out} (${exported.files} files, ${(exported.bytes / 1e6).toFixed(1)} MB)`);
  console.log(`web: open ${server.url} — images you drop there are scored in the browser and never leave it. Ctrl-C stops.`);
  process.on('SIGINT', () => void server.close().then(() => process.exit(130)));
}

main().catch((err: unknown) => {
  console.error(`web: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
