import cliProgress from 'cli-progress';
import type { OutputMode } from '@aeflow/eval/node';

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
