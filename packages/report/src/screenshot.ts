import { execFile } from 'node:child_process';
import { access, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** The path of a headless-capable Chromium (`AEFLOW_CHROMIUM`, else the first on PATH), or null. */
export async function findChromium(): Promise<string | null> {
  const fromEnv = process.env.AEFLOW_CHROMIUM;
  if (fromEnv) return fromEnv;
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const name of CANDIDATES) {
    for (const dir of dirs) {
      const p = join(dir, name);
      try {
        await access(p);
        return p;
      } catch {
        // not here
      }
    }
  }
  return null;
}

export interface ScreenshotOptions {
  width?: number;
  height?: number;
  /** Chromium binary (default: `findChromium()`). */
  chromium?: string;
  timeoutMs?: number;
}

/**
 * Screenshots a local HTML file with headless Chromium, offline: no GPU, no background network,
 * no sync or component updates, a throw-away profile. Resolves to the PNG's path.
 */
export async function screenshotHtml(htmlPath: string, pngPath: string, options: ScreenshotOptions = {}): Promise<string> {
  const chromium = options.chromium ?? (await findChromium());
  if (!chromium) throw new Error('screenshotHtml: no Chromium found; install it (Debian: apt-get install chromium) or set AEFLOW_CHROMIUM');
  const profile = await mkdtemp(join(tmpdir(), 'aeflow-chromium-'));
  const out = resolve(pngPath);
  try {
    await run(
      chromium,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--hide-scrollbars',
        `--user-data-dir=${profile}`,
        `--screenshot=${out}`,
        `--window-size=${options.width ?? 1280},${options.height ?? 2400}`,
        pathToFileURL(resolve(htmlPath)).href,
      ],
      { timeout: options.timeoutMs ?? 60_000 },
    );
    await stat(out);
    return out;
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}
