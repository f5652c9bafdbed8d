import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { UserConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/**
 * Shared vitest settings for every package.
 *
 * tfjs-core ships an ESM build (its "module" field) and a CommonJS build (its "main"). The backends
 * (@tensorflow/tfjs-backend-wasm / -cpu) are loaded by Node and `require` the CommonJS one; if vite
 * resolved our own imports to the ESM one there would be two tfjs-core instances and two backend
 * registries. Aliasing to the file Node resolves keeps a single instance.
 */
export function aeflowVitest(overrides: { testTimeout?: number } = {}): UserConfig {
  let tfCore: string | undefined;
  try {
    tfCore = require.resolve('@tensorflow/tfjs-core', { paths: [process.cwd()] });
  } catch {
    tfCore = undefined; // packages that do not use tensors (metrics)
  }
  return {
    // Exactly the bare name: `@tensorflow/tfjs-core/dist/…` subpaths (the gradient modules) stay files.
    resolve: tfCore ? { alias: [{ find: /^@tensorflow\/tfjs-core$/, replacement: tfCore }] } : {},
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: overrides.testTimeout ?? 120_000,
      hookTimeout: 120_000,
      pool: 'forks',
      // One wasm thread per test process: vitest already runs test files in parallel (one process
      // per core), and a threaded wasm pool in each would oversubscribe the cores. The tests of
      // threads ask for them explicitly (kernels-threads, threads.test.ts in tensor and model).
      env: { AEFLOW_THREADS: '1' },
      // tfjs-core's ES-module files (its gradients and chained ops, imported by @aeflow/tensor's
      // src) cannot be loaded by Node itself: let vite transform them, as tsup bundles them.
      server: { deps: { inline: [/@tensorflow\/tfjs-core\/dist\/(?!tf-core)/] } },
      globalSetup: [fileURLToPath(new URL('./vitest.tmpdir.shared.ts', import.meta.url))],
      reporters: ['default', 'json'],
      outputFile: { json: 'test-results.json' },
    },
  };
}
