// @aeflow/scorer is the aeflow-score command (bin). The library logic it uses is in @aeflow/eval
// (scoring, metrics, the workflow), @aeflow/report (the report) and @aeflow/datasets/node (dataset kinds).
export { main } from './main.js';
export { startScoreServer, ACCEPTED_TYPES } from './server.js';
export type { ScoreServerOptions, RunningScoreServer } from './server.js';
