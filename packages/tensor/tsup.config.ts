import { defineConfig } from 'tsup';
import { aeflowTsup } from '../../tsup.shared';

export default defineConfig(
  aeflowTsup({
    // Optional native builds: never bundled, never resolved at build time.
    external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
    // tfjs-core's gradient functions and chained ops are ES-module files Node cannot load
    // directly (src/kernels/gradients.ts): bundle them; they register into tfjs-core's globals.
    noExternal: [/^@tensorflow\/tfjs-core\/dist\//],
  }),
);
