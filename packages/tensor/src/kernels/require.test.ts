import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

describe('the built package', () => {
  // `node -e` and the REPL define a global __filename of '[eval]': the ESM build once took it for
  // its own path and failed on import ("The argument 'filename' must be a file URL object…").
  it.skipIf(!existsSync(dist))('imports and initialises from `node -e` (a global __filename that is not a path)', () => {
    const code = `import(${JSON.stringify(pathToFileURL(dist).href)}).then((m) => m.initBackend({ backend: 'cpu', quiet: true })).then((b) => console.log(b.name))`;
    const out = execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' });
    expect(out.trim()).toBe('cpu');
  });
});
