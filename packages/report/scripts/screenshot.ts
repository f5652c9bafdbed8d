// Screenshots a report (or any local HTML file) with headless Chromium, offline, to look at it.
// Usage: pnpm --filter @aeflow/report screenshot <report.html> [out.png] [height]
import { resolve } from 'node:path';
import { screenshotHtml } from '../src/screenshot.js';

const [html, out, height = '2400'] = process.argv.slice(2);
if (!html) {
  console.error('usage: pnpm --filter @aeflow/report screenshot <report.html> [out.png] [height]');
  process.exit(2);
}
try {
  // pnpm runs scripts in the package folder; paths are the caller's (INIT_CWD).
  const base = process.env.INIT_CWD ?? process.cwd();
  const png = await screenshotHtml(resolve(base, html), resolve(base, out ?? html.replace(/\.html?$/i, '') + '.png'), { width: 1280, height: Number(height) });
  console.log(png);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
