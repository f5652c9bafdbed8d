import { createRequire } from 'node:module';

/** `require` from this package's location, in the ESM and the CommonJS build alike. */
export const localRequire: NodeJS.Require =
  typeof __filename === 'string' ? createRequire(__filename) : createRequire(import.meta.url);
