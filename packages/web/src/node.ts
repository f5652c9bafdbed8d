// @aeflow/web/node: write a folder any static server can host (the page + a run), serve one.
export { WebExportError, builtPageDir, checkWebExport, exportWebFolder, readWebManifest } from './export.js';
export type { ExportWebOptions, ExportWebResult } from './export.js';
export { WebRunError, encoderFilesOf, readRunForWeb } from './run-files.js';
export type { EncoderFile, RunForWeb } from './run-files.js';
export { serveFolder } from './serve.js';
export type { ServedFolder, ServeFolderOptions } from './serve.js';
