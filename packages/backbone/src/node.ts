// `@aeflow/backbone/node`: encoders from weight files and the asset cache (Node). Everything
// browser-safe (buildEncoder from bytes, the Encoder type, arch tables) is in `@aeflow/backbone`.
export { createEncoder } from './encoder-file.js';
export type { CreateEncoderOptions } from './encoder-file.js';
