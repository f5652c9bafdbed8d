import { defineConfig } from 'tsup';
import { aeflowTsup } from '../../tsup.shared';

// node: file and process I/O (`@aeflow/datasets/node`); dicom-codecs: its own entry, so the main
// entry never pulls in the Emscripten loaders, whose Node branch requires fs.
export default defineConfig(aeflowTsup({ entry: ['src/index.ts', 'src/node.ts', 'src/dicom-codecs.ts'] }));
