import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** A Chromium to drive: `AEFLOW_CHROMIUM`, else the first of the usual names on PATH; null when none. */
export async function findChromium(): Promise<string | null> {
  const fromEnv = process.env.AEFLOW_CHROMIUM;
  if (fromEnv) return fromEnv;
  for (const name of CANDIDATES) {
    for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
      try {
        await access(join(dir, name));
        return join(dir, name);
      } catch {
        // not here
      }
    }
  }
  return null;
}

/** Why the browser tests skip, or null when they run. */
export async function chromiumMissing(): Promise<string | null> {
  return (await findChromium()) === null ? 'no Chromium found (Debian: apt-get install chromium, or set AEFLOW_CHROMIUM); the browser tests are skipped' : null;
}

/**
 * Headless Chromium for the tests: no sandbox (tests may run as root), no GPU, and none of
 * Chromium's own background traffic (updates, sync, safe browsing), so every request the page
 * makes is the page's. Playwright gives it a fresh, throw-away profile.
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = await findChromium();
  if (!executablePath) throw new Error('launchChromium: no Chromium (see chromiumMissing)');
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps'],
  });
}
