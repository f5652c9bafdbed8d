import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = dirname(fileURLToPath(import.meta.url));
const NODE_MODULES = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** The package's own modules an entry reaches (type-only imports are erased) and the Node built-ins (or other packages' ./node entries) they import. */
function reach(entry: string): { files: string[]; nodeImports: string[] } {
  const seen = new Set<string>();
  const nodeImports: string[] = [];
  const stack = [resolve(src, entry)];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm)) {
      if (m[1]) continue;
      const spec = m[2]!;
      if (NODE_MODULES.has(spec) || /^@aeflow\/[^/]+\/node$/.test(spec)) nodeImports.push(`${file.slice(src.length + 1)} imports ${spec}`);
      else if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
    }
  }
  return { files: [...seen], nodeImports };
}

describe('entries', () => {
  it('the main entry reaches no Node built-in and no ./node entry of another package; the ./node entry does (so the scan sees them)', () => {
    const main = reach('index.ts');
    expect(main.nodeImports).toEqual([]);
    expect(main.files.length).toBeGreaterThan(10);
    const node = reach('node.ts');
    expect(node.nodeImports.length).toBeGreaterThan(0);
    expect(node.nodeImports.some((s) => s.startsWith('run-folder.ts imports node:fs'))).toBe(true);
  });
});
