import { execFile } from 'node:child_process';
import { mkdir, readdir, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The shared chest X-ray folder, or null (the tests that need it skip, saying so). */
export function chestData(): string | null {
  const home = process.env.AEFLOW_HOME;
  return home ? join(home, 'data', 'chest-xray') : null;
}

export interface FixtureRun {
  run: string;
  /** Images never trained on, for scoring: val/NORMAL and val/PNEUMONIA files after the ones used for calibration. */
  normal: string[];
  pneumonia: string[];
}

async function linkFirst(from: string, to: string, skip: number, count: number): Promise<string[]> {
  await mkdir(to, { recursive: true });
  const files = (await readdir(from)).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort().slice(skip, skip + count);
  for (const f of files) await symlink(join(from, f), join(to, f));
  return files.map((f) => join(from, f));
}

/**
 * A tiny real run, trained by the trainer CLI as a user would: the `cpu` preset's pretrained MobileNet V1 (from AEFLOW_HOME's asset cache) at 128 px, a
 * 2-block flow and a small decoder, 40 training normals, 3 epochs; β and the threshold calibrated on
 * 8 + 8 validation images. About 15 s on two cores. The scoring images are other validation files.
 */
export async function trainFixtureRun(dir: string, settings: readonly string[] = []): Promise<FixtureRun> {
  const data = chestData();
  if (!data) throw new Error('trainFixtureRun: AEFLOW_HOME is not set');
  const root = join(dir, 'data');
  await linkFirst(join(data, 'train', 'NORMAL'), join(root, 'train', 'NORMAL'), 0, 40);
  await linkFirst(join(data, 'val', 'NORMAL'), join(root, 'val', 'NORMAL'), 0, 8);
  await linkFirst(join(data, 'val', 'PNEUMONIA'), join(root, 'val', 'PNEUMONIA'), 0, 8);
  const runDir = join(dir, 'run');
  const cli = join(REPO, 'apps', 'trainer', 'dist', 'cli.js');
  // prettier-ignore
  await run(process.execPath, [cli, '--data', root, '--dataset', 'chest-xray', '--out', runDir,
    '--set', 'size=128', '--set', 'flow.blocks=2', '--set', 'flow.hiddenChannels=32', '--set', 'decoder.widths=[32,16,8]',
    '--set', 'train.epochs=3', '--set', 'train.batchSize=8', '--set', 'score.flow=nll', '--beta', '0.5', '--no-cache', '--quiet', '--backend', 'wasm', ...settings.flatMap((s) => ['--set', s])], { env: { ...process.env }, maxBuffer: 1 << 24 });
  const all = async (cls: string) => (await readdir(join(data, 'val', cls))).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort().slice(8, 11).map((f) => join(data, 'val', cls, f));
  return { run: runDir, normal: await all('NORMAL'), pneumonia: await all('PNEUMONIA') };
}
