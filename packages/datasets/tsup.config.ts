import { defineConfig } from 'tsup';
import { aeflowTsup } from '../../tsup.shared';

// dicom-codecs: its own entry (`@aeflow/datasets/dicom-codecs`), so the main entry never pulls in
// the Emscripten loaders, whose Node branch requires fs.
export default defineConfig(aeflowTsup({ entry: ['src/index.ts', 'src/node.ts', 'src/dicom-codecs.ts'] }));
