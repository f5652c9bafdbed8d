import { open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { JOB_FORMAT } from './jobs.js';

/** The submitter's record of finished images in its output folder: what a resumed submit skips. */
export const JOURNAL_FILE = 'queue-journal.jsonl';

const headerSchema = z.object({ journal: z.literal('aeflow-queue'), format: z.literal(JOB_FORMAT), runId: z.string(), queue: z.string(), started: z.string() }).strict();
const entrySchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), jobId: z.string(), id: z.string(), flow: z.number(), recon: z.number(), total: z.number(), worker: z.string() }).strict(),
  z.object({ ok: z.literal(false), jobId: z.string(), id: z.string(), path: z.string(), reason: z.string() }).strict(),
]);
export type JournalEntry = z.infer<typeof entrySchema>;

/** A journal that cannot be used as it is: the file, the line, what is wrong and the fix. */
export class JournalError extends Error {
  constructor(path: string, why: string, fix: string) {
    super(`${path}: ${why}; ${fix}`);
    this.name = 'JournalError';
  }
}

/**
 * The results collected so far, one JSON line per finished job after a header naming the run.
 * An append-only log rather than a file rewritten with temp + rename: each line is written and
 * flushed (fsync) before the job is removed from Redis, so a crash loses at most a line that the
 * next submit finds still in Redis. A last line cut by a crash is ignored; a damaged line before
 * it is an error (never silently dropped).
 */
export class Journal {
  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
    readonly entries: Map<string, JournalEntry>,
    /** Whether a cut last line was found (and is overwritten by the next entry). */
    readonly repairedTail: boolean,
  ) {}

  static async open(outDir: string, runId: string, queue: string): Promise<Journal> {
    const path = join(outDir, JOURNAL_FILE);
    let text: string | null = null;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new JournalError(path, `cannot read it (${(err as Error).message})`, 'check the permissions of --out');
    }
    const entries = new Map<string, JournalEntry>();
    let keep = 0; // bytes of whole, valid lines
    let repaired = false;
    if (text !== null && text.length > 0) {
      const lines = text.split('\n');
      const complete = lines.length - 1; // what follows the last '\n' is empty, or a line cut by a crash
      const fix = `delete ${path} to score every image again, or use another --out`;
      for (let i = 0; i < complete; i++) {
        const line = lines[i]!;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          throw new JournalError(path, `line ${i + 1} is not JSON`, fix);
        }
        if (i === 0) {
          const h = headerSchema.safeParse(value);
          if (!h.success) throw new JournalError(path, 'line 1 is not an aeflow-queue journal header', fix);
          if (h.data.runId !== runId) throw new JournalError(path, `it holds results of run ${h.data.runId}, not of ${runId} (the run given now)`, `use another --out for this run, or ${fix}`);
        } else {
          const e = entrySchema.safeParse(value);
          if (!e.success) throw new JournalError(path, `line ${i + 1}: ${e.error.issues[0]!.path.join('.') || 'the entry'}: ${e.error.issues[0]!.message}`, fix);
          entries.set(e.data.jobId, e.data);
        }
        keep += Buffer.byteLength(line) + 1;
      }
      repaired = lines[complete] !== '';
    }
    const file = await open(path, text === null ? 'w' : 'r+');
    if (text === null || keep === 0) {
      await file.truncate(0);
      await file.write(JSON.stringify({ journal: 'aeflow-queue', format: JOB_FORMAT, runId, queue, started: new Date().toISOString() }) + '\n', 0);
      await file.sync();
    } else if (repaired) {
      await file.truncate(keep);
      await file.sync();
    }
    return new Journal(path, file, entries, repaired);
  }

  has(jobId: string): boolean {
    return this.entries.has(jobId);
  }

  /** Appends entries and flushes them to disk before returning. */
  async append(entries: readonly JournalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const text = entries.map((e) => JSON.stringify(e)).join('\n') + '\n';
    const { size } = await this.file.stat();
    await this.file.write(text, size);
    await this.file.sync();
    for (const e of entries) this.entries.set(e.jobId, e);
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
