import { defineConfig } from 'tsup';
import { aeflowTsup } from '../../tsup.shared';

export default defineConfig(
  aeflowTsup({
    // Optional native builds: never bundled, never resolved at build time.
    external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
    // tfjs-core's gradient functions and chained ops are ES-module files Node cannot load
    // directly (src/kernels/gradients.ts): bundle them; they register into tfjs-core's globals.
    noExternal: [/^@tensorflow\/tfjs-core\/dist\//],
    // src/kernels/require.ts takes its own path from __filename in CJS and import.meta.url in ESM.
    // The CJS build (split into chunks like the ESM one) must not contain `import.meta` at all: a
    // syntax error in CommonJS. Its branch is never taken there, so it becomes `undefined`.
    esbuildOptions(options, context) {
      if (context.format === 'cjs') options.define = { ...options.define, 'import.meta.url': 'undefined' };
    },
  }),
);
