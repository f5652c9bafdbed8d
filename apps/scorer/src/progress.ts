import cliProgress from 'cli-progress';

/** How a CLI talks: a progress bar for people, JSON lines for machines, or quiet. */
export type OutputMode = 'human' | 'json' | 'quiet';

export interface Console {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const processConsole: Console = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** Seconds as `1h02m`, `4m05s` or `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/**
 * A progress display: a cli-progress bar on a terminal's stderr (human mode), nothing otherwise.
 * `update` takes the done count and the fields shown after the bar.
 */
export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private readonly enabled: boolean;

  constructor(
    private readonly mode: OutputMode,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = mode === 'human' && stream.isTTY === true;
  }

  start(label: string, total: number, format = '{label} |{bar}| {value}/{total} {info}'): void {
    if (!this.enabled) return;
    this.stop();
    this.bar = new cliProgress.SingleBar(
      { format, stream: this.stream, hideCursor: true, clearOnComplete: false, etaBuffer: 50, fps: 5, barsize: 28 },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, 0, { label, info: '' });
  }

  update(done: number, payload: Record<string, string | number> = {}): void {
    this.bar?.update(done, payload);
  }

  setTotal(total: number): void {
    this.bar?.setTotal(total);
  }

  stop(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
  }

  get active(): boolean {
    return this.bar !== null;
  }
}

/** The first line of an error's message, for users (no stack trace). */
export function userMessage(err: unknown): string {
  if (err instanceof Error) {
    // Several-line messages (a config with several problems) are kept whole; stacks never are.
    return err.message.trim() || err.name;
  }
  return String(err);
}
