import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { imageToPng, mapToPng } from './images.js';
import { renderReport, selectExamples, type ReportGroup } from './report.js';
import { findChromium, screenshotHtml } from './screenshot.js';
import { syntheticHistory, syntheticImage, syntheticMetrics, syntheticRows } from './test-helpers.js';

async function buildReport(model?: string): Promise<string> {
  const rows = syntheticRows(60, 40);
  const metrics = syntheticMetrics(rows);
  const picked = selectExamples(rows, 3);
  const groups: ReportGroup[] = [];
  let seed = 1;
  for (const g of picked) {
    const examples = [];
    for (const id of g.ids) {
      const row = rows.find((r) => r.id === id)!;
      const img = syntheticImage(48, row.label === 1, seed++);
      examples.push({
        id,
        label: row.label,
        total: row.total,
        original: await imageToPng(img.original),
        reconstruction: await imageToPng(img.reconstruction),
        residual: await mapToPng(img.residual),
      });
    }
    groups.push({ title: g.title, note: g.note, examples });
  }
  return renderReport({
    title: 'runs/test <synthetic>',
    subtitle: 'synthetic scores, for the report test',
    settings: { preset: 'cpu', data: { root: '/data/x', dataset: 'folder' }, optimizer: { lr: 2e-4, weightDecay: 1e-5 }, size: 64 },
    ...(model ? { model } : {}),
    rows,
    metrics,
    history: syntheticHistory(4, 5),
    groups,
    skipped: [{ path: 'train/NORMAL/broken.png', reason: 'not a PNG: truncated' }],
    generatedAt: '2026-01-01T00:00:00.000Z',
  });
}

describe('renderReport', () => {
  it('is one self-contained page with every section', async () => {
    const html = await buildReport();
    // No network: nothing is loaded from elsewhere (the only URLs are SVG namespaces).
    expect(html).not.toMatch(/<script|<link|src="http|href="http|@import|url\(http/);
    for (const section of ['Summary', 'ROC and precision–recall', 'Score distributions per class', 'β sweep', 'Training curves', 'Images: original | reconstruction | residual', 'Settings', 'Skipped files (1)']) {
      expect(html).toContain(`<h2>${section}</h2>`);
    }
    // ROC, PR, 3 distributions, β sweep, and 4 training charts (losses, validation, throughput, lr).
    expect((html.match(/<svg /g) ?? []).length).toBe(10);
    // 4 groups × 3 examples × 3 images.
    expect((html.match(/src="data:image\/png;base64,/g) ?? []).length).toBe(36);
    expect(html).toContain('runs/test &lt;synthetic&gt;');
    expect(html).toContain('optimizer.lr');
    expect(html).toMatch(/AUROC 0\.\d+ \(95% CI 0\.\d+–/);
  });

  it('shows only the parts a model has: one score, no β sweep and its own map legend for the kNN and FastFlow', async () => {
    for (const [model, legend] of [['knn', 'share of the squared distance to the nearest normal images'], ['fastflow', 'The flow map']] as const) {
      const html = await buildReport(model);
      expect(html).not.toContain('<h2>β sweep</h2>');
      expect(html).not.toContain('Reconstruction part');
      expect(html).toContain('<h2>Images: original | reconstruction | map</h2>');
      expect(html).toContain(legend);
      // ROC, PR, one distribution and 4 training charts
      expect((html.match(/<svg /g) ?? []).length).toBe(7);
    }
    const full = await buildReport('aeflow');
    expect(full).toContain('<h2>β sweep</h2>');
    expect(full).toContain('Residual |x − x′|');
  });

  it('says what is missing when there are no labels or no history', () => {
    const rows = syntheticRows(5, 0).map((r) => ({ ...r, label: null }));
    const metrics = { ...syntheticMetrics(rows), threshold: -0.5, thresholdRule: 'value' };
    const html = renderReport({ title: 't', settings: null, rows, metrics, history: [], groups: [], skipped: [] });
    expect(html).toContain('Not available: these need labelled normal and anomalous images');
    expect(html).toContain('No training history');
    expect(html).not.toContain('<h2>β sweep</h2>');
  });

  it('says when the headline numbers were chosen on these images, and points to the cross-validation', () => {
    const rows = syntheticRows(20, 20);
    const plain = renderReport({ title: 't', settings: null, rows, metrics: syntheticMetrics(rows), history: [], groups: [], skipped: [] });
    expect(plain).not.toContain('Optimistic');
    const chosen = renderReport({ title: 't', settings: null, rows, metrics: { ...syntheticMetrics(rows), chosenOnTheseImages: ['epoch', 'beta', 'threshold'] }, history: [], groups: [], skipped: [] });
    expect(chosen).toContain('<b>Optimistic:</b> epoch, β, threshold chosen on these very images. Score a part held out');
  });

  it('renders in headless Chromium (skipped when no Chromium is installed)', async (ctx) => {
    const chromium = await findChromium();
    if (!chromium) {
      ctx.skip();
      return;
    }
    const dir = process.env.AEFLOW_REPORT_SCREENSHOT ?? (await mkdtemp(join(tmpdir(), 'aeflow-report-')));
    const htmlPath = join(dir, 'report.html');
    await writeFile(htmlPath, await buildReport());
    const png = await screenshotHtml(htmlPath, join(dir, 'report.png'), { chromium, width: 1280, height: 2400 });
    const { data, info } = await sharp(await readFile(png)).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect(info.width).toBe(1280);
    // Drawn content: a blank page would be one colour; count pixels that differ from the background.
    let dark = 0;
    for (const v of data) if (v < 200) dark++;
    expect(dark / data.length).toBeGreaterThan(0.02);
  });
});
