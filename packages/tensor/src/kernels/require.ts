import { createRequire } from 'node:module';
import { isAbsolute } from 'node:path';

/**
 * `require` from this package's location, in the ESM and the CommonJS build alike. The CommonJS
 * build has a module-level `__filename`; in the ESM build a *global* one may exist too (`node -e`
 * and the REPL define `__filename = '[eval]'`), which is not a path: only an absolute one is used.
 */
export const localRequire: NodeJS.Require =
  typeof __filename === 'string' && isAbsolute(__filename) ? createRequire(__filename) : createRequire(import.meta.url);
