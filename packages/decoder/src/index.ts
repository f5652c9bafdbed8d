export { AEFlowDecoder, createDecoder, defaultDecoderWidths, resolveDecoderConfig } from './decoder.js';
export type { DecoderConfig, ResolvedDecoderConfig } from './decoder.js';
