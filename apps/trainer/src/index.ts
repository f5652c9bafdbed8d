// @aeflow/trainer is the aeflow-train command (bin). What it does is one call of @aeflow/eval/node:
// trainAndEvaluate(); the dataset kinds and the split policy are in @aeflow/datasets/node.
export { main } from './main.js';
