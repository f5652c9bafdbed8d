import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixturesDir } from '../test/helpers.js';
import * as metrics from './index.js';

const srcDir = fileURLToPath(new URL('./', import.meta.url));
const aeflowHome = process.env.AEFLOW_HOME;

describe('@aeflow/metrics package', () => {
  it('exports the API names other scripts rely on', () => {
    for (const name of [
      'auroc',
      'rocCurve',
      'prCurve',
      'averagePrecision',
      'bestF1',
      'atThreshold',
      'aurocConfidence',
      'delongTest',
      'ssim',
      'ssimMap',
      'mse',
      'psnr',
    ]) {
      expect(typeof (metrics as Record<string, unknown>)[name], name).toBe('function');
    }
  });

  it('has no Node or package imports in its source (runs in browsers, zero dependencies)', () => {
    const sources = readdirSync(srcDir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    expect(sources.length).toBeGreaterThan(5);
    for (const file of sources) {
      const text = readFileSync(`${srcDir}${file}`, 'utf8');
      const specifiers = [...text.matchAll(/(?:from|import|require)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
      for (const specifier of specifiers) expect(specifier, `${file} imports ${specifier}`).toMatch(/^\.\//);
      expect(text, file).not.toMatch(/\bprocess\.|\bBuffer\b/);
    }
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { dependencies?: object };
    expect(Object.keys(pkg.dependencies ?? {})).toEqual([]);
  });

  it.skipIf(!aeflowHome)('fixtures are unchanged copies of $AEFLOW_HOME/golden (needs AEFLOW_HOME: set it to the shared folder)', () => {
    for (const name of ['metrics.json', 'ssim.json']) {
      const shared = readFileSync(`${aeflowHome}/golden/${name}`, 'utf8');
      expect(readFileSync(`${fixturesDir}${name}`, 'utf8') === shared, name).toBe(true);
    }
  });
});
