// The shared synthetic test data (tests/fixtures); ScoreRow-typed rows for this package's tests.
import { syntheticRows as rows } from '@aeflow/test-fixtures';
import type { ScoreRow } from './evaluate.js';

export { syntheticHistory, syntheticImage, TINY_CONFIG, writeFolderDataset } from '@aeflow/test-fixtures';

/** Score rows where anomalies score higher on average in both parts. */
export function syntheticRows(normal: number, anomalous: number, seed = 1): ScoreRow[] {
  return rows(normal, anomalous, seed);
}
