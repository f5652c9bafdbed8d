import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
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

/**
 * TEMPORARY, until issue 15 lands browser-safe main entries for every package: their main entries
 * still import Node built-ins and sharp for file I/O the page never calls (reading run folders,
 * the asset cache, sharp decoding). Those imports resolve to one inert module here so the page can
 * bundle the packages' real model, decoding and resizing code. Every shimmed import is listed at
 * build time (`node-only imports shimmed: …`); the list must be empty once the packages are
 * browser-safe, and then this plugin is deleted.
 */
function nodeOnlyImports(): Plugin {
  const prefix = '\0aeflow-node-only:';
  const node = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
  const shimmed = new Set<string>();
  return {
    name: 'aeflow-node-only-imports',
    enforce: 'pre',
    resolveId(source) {
      if (node.has(source) || source === 'sharp' || source === 'cli-progress' || source.startsWith('@tensorflow/tfjs-node')) {
        shimmed.add(source);
        return { id: prefix + source, moduleSideEffects: false };
      }
      return null;
    },
    load(id) {
      if (!id.startsWith(prefix)) return null;
      // any property is the same inert callable: a call or a read of dead Node code never throws at load time
      const code = `const inert = new Proxy(function () {}, { get: (_t, k) => (k === Symbol.toPrimitive ? () => '' : k === 'then' ? undefined : inert), apply: () => inert, construct: () => inert });\nexport default inert;\n`;
      return { code, syntheticNamedExports: 'default' };
    },
    buildEnd() {
      if (shimmed.size > 0) this.warn(`node-only imports shimmed (until issue 15's browser-safe entries): ${[...shimmed].sort().join(', ')}`);
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
  plugins: [nodeOnlyImports(), wasmFiles()],
});
