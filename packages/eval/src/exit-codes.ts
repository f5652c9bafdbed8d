/**
 * The exit codes of the aeflow command-line tools, one table for all of them (documented in each
 * CLI's --help and README):
 *
 * | code | meaning |
 * |---|---|
 * | 0 | done |
 * | 1 | data or run error: the command was well formed but the data, a run folder or a file is not usable (message printed) |
 * | 2 | usage error: an unknown or missing option, a value out of range, options that do not go together |
 * | 130 | interrupted (Ctrl-C / SIGINT, or SIGTERM): what was finished is kept; the message says how to continue |
 */
export const EXIT_CODES = {
  ok: 0,
  failed: 1,
  usage: 2,
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** The table above as lines, for a CLI's --help. */
export const EXIT_CODES_HELP = `Exit codes:
  0    done
  1    data or run error (the message says which file or folder, and what to do)
  2    usage error (an option missing, unknown, out of range, or options that do not go together)
  130  interrupted (Ctrl-C): what was finished is kept; the message says how to continue`;

/** A command line the user must change (exit code 2): a missing option, options that do not go together. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Thrown when a run is stopped by its AbortSignal (Ctrl-C) before it wrote anything. */
export class InterruptedError extends Error {
  constructor(what: string) {
    super(`${what} was interrupted; nothing was written`);
    this.name = 'InterruptedError';
  }
}

/** The exit code for an error a command ended with: usage 2, interrupted 130, anything else 1. */
export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof UsageError) return EXIT_CODES.usage;
  if (err instanceof InterruptedError) return EXIT_CODES.interrupted;
  return EXIT_CODES.failed;
}
