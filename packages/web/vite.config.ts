import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Copies tfjs-backend-wasm's .wasm files into the page's own `wasm/` folder: served by the page's origin, never a CDN. */
function wasmFiles(): Plugin {
  return {
    name: 'aeflow-wasm-files',
    apply: 'build',
    writeBundle(options) {
      const from = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
      const to = join(options.dir!, 'wasm');
      mkdirSync(to, { recursive: true });
      for (const f of readdirSync(from)) if (f.endsWith('.wasm')) cpSync(join(from, f), join(to, f));
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
