// @aeflow/queue/node — the scoring worker (`aeflow-score worker`) and the submitter
// (`aeflow-score submit`) on BullMQ + ioredis, the run id both agree on, and the submitter's journal.
export { startScoreWorker } from './worker.js';
export type { RunningScoreWorker, ScoreWorkerOptions, WorkerEvent } from './worker.js';
export { submitScoring } from './submit.js';
export type { SubmitProgress, SubmitScoringOptions, SubmitScoringResult } from './submit.js';
export { Journal, JournalError, JOURNAL_FILE } from './journal.js';
export type { JournalEntry } from './journal.js';
export { runIdOf } from './run-id.js';
export { checkRedisUrl, redactRedisUrl, redisConnection, QueueUrlError } from './connection.js';
