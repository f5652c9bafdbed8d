import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
  // Optional native builds: never bundled, never resolved at build time.
  external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
});
