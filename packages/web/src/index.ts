// @aeflow/web's browser-safe face: what the page uses and a script in a browser can reuse.
// Node parts (writing an export folder, serving one) are in '@aeflow/web/node'.
export { rasterFromRgba } from './raster-rgba.js';
export { WEB_MANIFEST_FILE, WEB_RUN_DIR, parseWebManifest, webManifestSchema } from './manifest.js';
export type { WebManifest, WebManifestFile } from './manifest.js';
