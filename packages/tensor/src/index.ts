export { BACKEND_NAMES, initBackend, currentBackend, parseBackendName } from './backend.js';
export type { BackendName, BackendReport, InitBackendOptions } from './backend.js';
export {
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
  encodeSafetensors,
  decodeSafetensors,
  parseSafetensorsHeader,
  bytesToTensor,
} from './safetensors.js';
export type { SafetensorsDtype, SafetensorsEntry, SafetensorsHeader, ReadSafetensorsOptions, WriteSafetensorsOptions } from './safetensors.js';
export { float32ToFloat16Bits, float16BitsToFloat32, float32ToBFloat16Bits, bfloat16BitsToFloat32 } from './half.js';
export { SeededRandom } from './random.js';
export { aeflowHome, writableCacheDir, isWritableDir, resolveAsset, verifyAsset } from './assets.js';
export type { AssetFile, ResolveAssetOptions } from './assets.js';
export { writeFileAtomic, pathExists } from './files.js';
export { registerWasmTrainingKernels, ensureGradientsRegistered, WASM_TRAINING_KERNELS } from './kernels/index.js';
