import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { MOBILENET_V1_ASSETS } from '@aeflow/backbone';
import { RUN_FILE_CODECS, type RunConfig } from '@aeflow/model';
import { RunFolder } from '@aeflow/model/node';
import { aeflowHome } from '@aeflow/tensor/node';

/** Thrown when a run cannot go to the web; names the file and the fix. */
export class WebRunError extends Error {}

export interface RunForWeb {
  config: RunConfig;
  /** config.json as written by the trainer (copied byte for byte). */
  configText: string;
  weightsPath: string;
  /** calibration.json content (β + threshold + the rule and data that chose them), or null. */
  calibrationText: string | null;
}

/**
 * The run's files the page needs, read through the run-folder owner (`RunFolder` of
 * `@aeflow/model/node`): config.json validated, model.safetensors present, and the calibration —
 * calibration.json, or a previous release's threshold.json migrated — written out in today's form.
 */
export async function readRunForWeb(runDir: string): Promise<RunForWeb> {
  let st;
  try {
    st = await stat(runDir);
  } catch {
    throw new WebRunError(`--run ${runDir}: no such folder; name a run folder written by aeflow-train`);
  }
  if (!st.isDirectory()) throw new WebRunError(`--run ${runDir}: is a file, not a run folder`);
  const run = new RunFolder(runDir);
  if (!(await run.exists('config'))) throw new WebRunError(`${run.path('config')}: missing; --run must name a run folder written by aeflow-train`);
  const config = await run.read('config');
  const configText = await readFile(run.path('config'), 'utf8');
  const weightsPath = run.path('model');
  try {
    await stat(weightsPath);
  } catch {
    throw new WebRunError(`${weightsPath}: missing; the run has no trained weights yet (train it, or resume it with aeflow-train --resume)`);
  }
  const calibration = await run.readCalibration();
  return { config, configText, weightsPath, calibrationText: calibration === null ? null : RUN_FILE_CODECS.calibration.format(calibration) };
}

/** A file of the encoder's weights: its name in the export's `encoder/` folder and where it is now. */
export interface EncoderFile {
  name: string;
  path: string;
}

/**
 * The encoder weight files the run names but does not hold (a run stores only what was trained):
 * for the pretrained MobileNet, its model.json and the weight shards found in the asset cache; for
 * a weights path, that file (or the folder's files); none for seeded random weights, which the
 * page makes again from the seed.
 */
export async function encoderFilesOf(config: RunConfig, home = aeflowHome()): Promise<EncoderFile[]> {
  const { arch, weights } = config.encoder;
  if (weights === 'random') return [];
  if (weights === 'pretrained') {
    if (arch !== 'mobilenet_v1') {
      throw new WebRunError(`the run's encoder is the pretrained ${typeof arch === 'string' ? arch : 'ResNet'}: the web page carries MobileNet V1 only (a Wide-ResNet-50-2 is 270 MB to download into a page); train with the cpu preset`);
    }
    const modelJson = MOBILENET_V1_ASSETS['model.json']!;
    const folder = join(home, ...modelJson.path.split('/').slice(0, -1));
    const known = new Set(Object.keys(MOBILENET_V1_ASSETS));
    let present: string[];
    try {
      present = (await readdir(folder)).filter((f) => known.has(f));
    } catch {
      throw new WebRunError(`${folder}: the pretrained MobileNet V1 is not in the asset cache; set AEFLOW_HOME to the folder holding ${modelJson.path} (train once to fetch it)`);
    }
    if (!present.includes('model.json')) throw new WebRunError(`${join(folder, 'model.json')}: missing from the asset cache; set AEFLOW_HOME to the folder holding ${modelJson.path}`);
    return present.sort().map((name) => ({ name, path: join(folder, name) }));
  }
  const path = isAbsolute(weights) ? weights : resolve(weights);
  const st = await stat(path).catch(() => null);
  if (!st) throw new WebRunError(`the run's encoder weights ${path} (config.json encoder.weights) do not exist; put them back or export on the machine that trained it`);
  if (st.isDirectory()) return (await readdir(path)).sort().map((name) => ({ name, path: join(path, name) }));
  return [{ name: path.split(/[\\/]/).pop()!, path }];
}
