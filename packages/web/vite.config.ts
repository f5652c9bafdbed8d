import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/**
 * Copies the wasm files the page loads into its own folders, so the page's origin serves them,
 * never a CDN: tfjs-backend-wasm's into `wasm/`, the DICOM codecs' decoders (Cornerstone's builds of
 * libjpeg-turbo, CharLS and OpenJPEG, resolved from @aeflow/datasets, which depends on them) into
 * `codecs/`.
 */
function wasmFiles(): Plugin {
  return {
    name: 'aeflow-wasm-files',
    apply: 'build',
    writeBundle(options) {
      const from = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
      const to = join(options.dir!, 'wasm');
      mkdirSync(to, { recursive: true });
      for (const f of readdirSync(from)) if (f.endsWith('.wasm')) cpSync(join(from, f), join(to, f));
      const datasets = createRequire(require.resolve('@aeflow/datasets/package.json'));
      const codecs = join(options.dir!, 'codecs');
      mkdirSync(codecs, { recursive: true });
      for (const pkg of ['@cornerstonejs/codec-libjpeg-turbo-8bit', '@cornerstonejs/codec-charls', '@cornerstonejs/codec-openjpeg']) {
        const wasm = datasets.resolve(`${pkg}/decodewasm`);
        cpSync(wasm, join(codecs, basename(wasm)));
      }
    },
  };
}

export default defineConfig({
  root: join(here, 'src/page'),
  // relative URLs: the exported folder works at any path of any static server
  base: './',
  publicDir: false,
  build: {
    outDir: join(here, 'dist/page'),
    emptyOutDir: true,
    target: 'es2022',
    // one file per chunk is fine; the size is reported by the benchmark, not warned about here
    chunkSizeWarningLimit: 8192,
    sourcemap: false,
  },
  plugins: [wasmFiles()],
});
