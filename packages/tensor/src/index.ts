// The browser-safe face of @aeflow/tensor: nothing here (or below it) imports a Node built-in.
// File and process I/O (safetensors files, the asset cache, atomic writes, native backends, wasm
// threads in Node) is in ./node.ts, published as `@aeflow/tensor/node`.
export { BACKEND_NAMES, initBackend, currentBackend, parseBackendName } from './backend.js';
export type { BackendName, BackendReport, InitBackendOptions } from './backend.js';
export {
  encodeSafetensors,
  decodeSafetensors,
  decodeSafetensorsHeader,
  parseSafetensorsHeader,
  bytesToTensor,
} from './safetensors.js';
export type { SafetensorsDtype, SafetensorsEntry, SafetensorsHeader, WriteSafetensorsOptions, DecodeSafetensorsOptions } from './safetensors.js';
export { float32ToFloat16Bits, float16BitsToFloat32, float32ToBFloat16Bits, bfloat16BitsToFloat32 } from './half.js';
export { SeededRandom } from './random.js';
export type { AssetFile } from './asset-file.js';
export { registerWasmTrainingKernels, ensureGradientsRegistered, WASM_TRAINING_KERNELS } from './kernels/index.js';
