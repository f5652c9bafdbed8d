import { defineConfig } from 'tsup';
import { aeflowTsup } from '../../tsup.shared';

// The library faces (src/index.ts browser-safe, src/node.ts for Node); the page itself is built by
// Vite into dist/page (vite.config.ts). clean: false so the two builds do not delete each other's output.
export default defineConfig(aeflowTsup({ entry: ['src/index.ts', 'src/node.ts'], clean: false, shims: true }));
