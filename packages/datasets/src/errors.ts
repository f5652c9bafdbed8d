/**
 * What kind of unusable input an `InvalidImageError` is, for callers that map it to a status
 * (the scoring server: `too-large` → 413, the rest → 400) without matching message text.
 * `too-large`: above the pixel limit; `unsupported`: a valid file in a format or variant that is
 * not decoded; `no-image`: a valid file that holds no image (e.g. a DICOM without pixel data);
 * `invalid`: anything else (corrupt, truncated, unreadable, empty).
 */
export type InvalidImageCode = 'invalid' | 'too-large' | 'unsupported' | 'no-image';

/** An input that cannot be used as an image; `path` names it, `reason` says why, `code` classifies it. */
export class InvalidImageError extends Error {
  readonly path: string;
  readonly reason: string;
  readonly code: InvalidImageCode;

  constructor(path: string, reason: string, code: InvalidImageCode = 'invalid') {
    super(`${path}: ${reason}`);
    this.name = 'InvalidImageError';
    this.path = path;
    this.reason = reason;
    this.code = code;
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
