#!/usr/bin/env node
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // main reports its own errors; this is a last line of defence without a stack trace.
    process.stderr.write(`aeflow-train: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
