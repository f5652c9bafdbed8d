import { writeFileAtomic } from '@aeflow/tensor/node';
import type { SkippedFile } from './types.js';

/**
 * Writes the skip report of a run as JSON (`{ count, skipped: [{ path, reason }] }`), atomically.
 * Call it with `dataset.skipped` next to the run's other files.
 */
export async function writeSkipReport(path: string, skipped: readonly SkippedFile[]): Promise<void> {
  const body = JSON.stringify({ count: skipped.length, skipped }, null, 2) + '\n';
  await writeFileAtomic(path, body);
}
