import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chestData, trainFixtureRun } from './fixture.js';
import { chromiumMissing } from './chromium.js';

/**
 * Trains the tiny fixture run once for all test files (they run one after another) and hands its
 * paths to them in AEFLOW_WEB_FIXTURE; or says in AEFLOW_WEB_SKIP why the browser tests cannot run.
 */
export default async function setup(): Promise<void> {
  const missing = await chromiumMissing();
  const data = chestData();
  if (missing) {
    process.env.AEFLOW_WEB_SKIP = missing;
    return;
  }
  if (!data || !existsSync(join(data, 'val', 'PNEUMONIA'))) {
    process.env.AEFLOW_WEB_SKIP = `no chest X-ray data at ${data ?? '$AEFLOW_HOME/data/chest-xray'} (set AEFLOW_HOME to the shared folder); the browser tests train a tiny run of the cpu preset on real chest X-rays and are skipped`;
    return;
  }
  const mobilenet = join(process.env.AEFLOW_HOME!, 'assets', 'mobilenet_v1_1.0_224', 'model.json');
  if (!existsSync(mobilenet)) {
    // the tests never download: the pretrained encoder must already be in the asset cache
    process.env.AEFLOW_WEB_SKIP = `no pretrained MobileNet V1 at ${mobilenet} (set AEFLOW_HOME to the shared folder, or train the cpu preset once to fetch it); the browser tests score with it and are skipped`;
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'aeflow-web-fixture-'));
  process.env.AEFLOW_WEB_FIXTURE = JSON.stringify(await trainFixtureRun(dir));
}
