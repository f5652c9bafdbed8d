// `@aeflow/tensor/node`: what needs Node (files, the asset cache, native backends, wasm threads).
// Everything browser-safe is in the main entry (`@aeflow/tensor`); import both where needed.
export { initBackend } from './backend-node.js';
export { startWasmThreads } from './kernels/threads.js';
export { readSafetensors, readSafetensorsHeader, writeSafetensors } from './safetensors-file.js';
export type { ReadSafetensorsOptions } from './safetensors-file.js';
export { aeflowHome, writableCacheDir, isWritableDir, resolveAsset, verifyAsset } from './assets.js';
export type { AssetFile, ResolveAssetOptions } from './assets.js';
export { writeFileAtomic, pathExists } from './files.js';
