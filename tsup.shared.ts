import type { Options } from 'tsup';

/** The build every package shares: ESM + CJS + .d.ts from src/index.ts (plus what a package adds). */
export function aeflowTsup(options: Options = {}): Options {
  return {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'es2022',
    ...options,
  };
}
