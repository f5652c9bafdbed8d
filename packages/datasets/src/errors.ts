import { writeFileAtomic } from '@aeflow/tensor';
import type { SkippedFile } from './types.js';

/** An input that cannot be used as an image; `path` names it and `reason` says why. */
export class InvalidImageError extends Error {
  readonly path: string;
  readonly reason: string;

  constructor(path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'InvalidImageError';
    this.path = path;
    this.reason = reason;
  }
}

/** The message of anything thrown (libraries throw strings too). */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

/**
 * Writes the skip report of a run as JSON (`{ count, skipped: [{ path, reason }] }`), atomically.
 * Call it with `dataset.skipped` next to the run's other files.
 */
export async function writeSkipReport(path: string, skipped: readonly SkippedFile[]): Promise<void> {
  const body = JSON.stringify({ count: skipped.length, skipped }, null, 2) + '\n';
  await writeFileAtomic(path, body);
}
