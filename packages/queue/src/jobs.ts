import { z } from 'zod';

/** The queue both `aeflow-score worker` and `aeflow-score submit` use unless told otherwise. */
export const DEFAULT_QUEUE_NAME = 'aeflow-score';

/** Version of the job and result formats below; a worker refuses jobs of another version. */
export const JOB_FORMAT = 1;

const hex = (length: number) => z.string().regex(new RegExp(`^[0-9a-f]{${length}}$`), `${length} lower-case hex digits`);

/**
 * The run a job is scored with: its id (a content hash of config.json and the weights, so a
 * worker never scores with a run that changed under the same folder name) and the folder the
 * submitter read it from (used by a worker that was not given the run, when it can read it).
 */
export const runRefSchema = z.object({ id: hex(16), dir: z.string().min(1) }).strict();
export type RunRef = z.infer<typeof runRefSchema>;

/**
 * One image to score. `bytes` (base64) carries the file itself, so a worker needs no access to
 * the submitter's disks; `path` names a file every worker can read (a shared volume) and keeps
 * Redis small. `sha256` is of the file's bytes either way: a worker reading `path` checks it, so a
 * file changed after submission fails instead of being scored as something else.
 */
export const scoreJobSchema = z
  .object({
    format: z.literal(JOB_FORMAT),
    run: runRefSchema,
    image: z
      .object({
        /** The dataset's id of the image (scores.csv's `id`). */
        id: z.string().min(1),
        /** The path the submitter read it from: named in errors; its extension tells raw DICOM apart. */
        path: z.string().min(1),
        sha256: hex(64),
        bytes: z.string().optional(),
        /** Read the file at `path` on the worker instead of sending the bytes. */
        shared: z.boolean().optional(),
      })
      .strict()
      .refine((im) => (im.bytes !== undefined) !== (im.shared === true), { message: 'an image carries either its bytes or shared: true (read path on the worker), not both or neither' }),
  })
  .strict();
export type ScoreJob = z.infer<typeof scoreJobSchema>;

/** What a worker returns for a scored image: the parts and the total, as scores.csv stores them. */
export const scoreResultSchema = z
  .object({
    id: z.string().min(1),
    flow: z.number(),
    recon: z.number(),
    total: z.number(),
    /** The worker that scored it (its name) and how long the batch holding it took. */
    worker: z.string(),
    ms: z.number().nonnegative(),
  })
  .strict();
export type ScoreResult = z.infer<typeof scoreResultSchema>;

/** A job or result that does not have the expected form: the field and what was wrong. */
export class JobFormatError extends Error {
  constructor(what: string, error: z.ZodError) {
    const issue = error.issues[0]!;
    const field = issue.path.length > 0 ? issue.path.join('.') : '(the whole value)';
    super(`${what}: ${field}: ${issue.message}; submitter and workers must run the same @aeflow/queue format (${JOB_FORMAT})`);
    this.name = 'JobFormatError';
  }
}

/** A job's data, checked (throws `JobFormatError` naming the field). */
export function parseScoreJob(value: unknown, what = 'score job'): ScoreJob {
  const r = scoreJobSchema.safeParse(value);
  if (!r.success) throw new JobFormatError(what, r.error);
  return r.data;
}

/** A worker's return value, checked (throws `JobFormatError` naming the field). */
export function parseScoreResult(value: unknown, what = 'score result'): ScoreResult {
  const r = scoreResultSchema.safeParse(value);
  if (!r.success) throw new JobFormatError(what, r.error);
  return r.data;
}

/**
 * The job id of an image: the run, the image id and the file's content, each as a hash prefix.
 * Adding a job whose id exists is a no-op in BullMQ, so submitting the same images again (a
 * resumed submit) never queues an image twice; a changed file or run gets a new id.
 * BullMQ ids may not contain ':' (nor be integers): hex parts joined by '.'.
 */
export function scoreJobId(runId: string, imageIdHash: string, contentSha256: string): string {
  return `${runId}.${imageIdHash.slice(0, 16)}.${contentSha256.slice(0, 16)}`;
}
