import { defineConfig } from 'tsup';
import { aeflowTsup } from '../../tsup.shared';

// Optional native builds: never bundled, never resolved at build time.
export default defineConfig(aeflowTsup({ external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'] }));
