import { defineConfig } from 'tsup';
import { aeflowTsup } from '../../tsup.shared';

export default defineConfig(aeflowTsup({ entry: ['src/index.ts', 'src/node.ts'] }));
