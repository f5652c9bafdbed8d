// The browser-safe face of @aeflow/backbone: encoders from weights already in memory. Building
// from weight files and the asset cache is `createEncoder` in ./node.ts (`@aeflow/backbone/node`).
export { buildEncoder } from './encoder-memory.js';
export type { BuildEncoderOptions, SafetensorsWeights, LayersModelWeights } from './encoder-memory.js';
export type { EncoderOptions, Encoder, EncoderArch, EncoderDescription, Normalization } from './encoder.js';
export { BatchNormRecorder, estimateBatchNormStatistics } from './batchnorm.js';
export type { BatchNormStatistics } from './batchnorm.js';
export { RESNET_ARCHS, RESNET_TAPS } from './resnet.js';
export type { ResNetArch, ResNetName } from './resnet.js';
export { MOBILENET_TAP_ALIASES } from './mobilenet.js';
export { mobilenetShards } from './mobilenet-shards.js';
export { WIDE_RESNET50_2_TV_IN1K, MOBILENET_V1_ASSETS } from './assets.js';
export type { EncoderGraph, EncoderGraphNode } from './graph.js';
