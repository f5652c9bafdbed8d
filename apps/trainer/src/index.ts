export { main } from './main.js';
export { buildConfig, parseSetArgs, parseSetValue, mergeOverrides } from './config.js';
export type { ConfigSources } from './config.js';
export { trainingData } from './data.js';
export type { Part, TrainingData, TrainingDataOptions } from './data.js';
