// @aeflow/queue — scoring as BullMQ jobs on Redis. This entry is browser-safe: the job and result
// formats (zod schemas), their job ids and the queue's default name, for anything that reads or
// writes the queue's jobs. The worker and the submitter (Redis, files, the model) are in
// `@aeflow/queue/node`.
export { DEFAULT_QUEUE_NAME, JOB_FORMAT, JobFormatError, parseScoreJob, parseScoreResult, runRefSchema, scoreJobId, scoreJobSchema, scoreResultSchema } from './jobs.js';
export type { RunRef, ScoreJob, ScoreResult } from './jobs.js';
