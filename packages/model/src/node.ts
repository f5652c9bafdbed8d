/**
 * `@aeflow/model/node`: what reads and writes files (Node only). The run folder's schemas and
 * text formats are browser-safe and live in the main entry (`@aeflow/model`).
 */
export { RunFolder, allFinite } from './run-folder.js';
export type { WeightsFile } from './run-folder.js';
