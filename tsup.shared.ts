import { existsSync } from 'node:fs';
import type { Options } from 'tsup';

/**
 * The build every package shares: ESM + CJS + .d.ts from src/index.ts (the browser-safe main
 * entry) and, where the package has one, src/node.ts (its `./node` subpath: file and process I/O),
 * plus what a package adds. Code shared by the two entries goes to one chunk (splitting, for CJS
 * too), so module state such as the chosen backend exists once, whichever entry loaded it.
 */
export function aeflowTsup(options: Options = {}): Options {
  return {
    entry: existsSync('src/node.ts') ? ['src/index.ts', 'src/node.ts'] : ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    splitting: true,
    target: 'es2022',
    ...options,
  };
}
