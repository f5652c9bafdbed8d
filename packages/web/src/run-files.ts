import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { MOBILENET_V1_ASSETS, mobilenetShards } from '@aeflow/backbone';
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
  /** encoder-batchnorm.safetensors (`encoder.batchNorm: 'train-normals'`: the encoder's statistics re-estimated on the training normals), or null. */
  batchNormPath: string | null;
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
  let batchNormPath: string | null = null;
  if (config.encoder.batchNorm === 'train-normals') {
    batchNormPath = run.path('encoderBatchNorm');
    if (!(await stat(batchNormPath).catch(() => null))?.isFile()) {
      throw new WebRunError(`${batchNormPath}: missing; the run's config.json has encoder.batchNorm "train-normals", whose statistics the run stores there — copy it with the run folder (or train again)`);
    }
  }
  return { config, configText, weightsPath, calibrationText: calibration === null ? null : RUN_FILE_CODECS.calibration.format(calibration), batchNormPath };
}

/** A file of the encoder's weights: its name in the export's `encoder/` folder and where it is now. */
export interface EncoderFile {
  name: string;
  path: string;
}

/**
 * A TF.js layers model's model.json and the weight shards the run's tap reads (`mobilenetShards`
 * of `@aeflow/backbone`): the shards past the tap (the network's head, most of its 13 MB) are left
 * out; a needed one that is missing is an error naming it.
 */
async function layersModelFiles(folder: string, tap: string, fix: string): Promise<EncoderFile[]> {
  const modelJsonPath = join(folder, 'model.json');
  let modelJson: string;
  try {
    modelJson = await readFile(modelJsonPath, 'utf8');
  } catch {
    throw new WebRunError(`${modelJsonPath}: missing; ${fix}`);
  }
  let shards: string[];
  try {
    shards = mobilenetShards(modelJson, [tap], modelJsonPath);
  } catch (err) {
    throw new WebRunError(`${(err as Error).message} (config.json encoder.tap "${tap}")`);
  }
  const files: EncoderFile[] = [{ name: 'model.json', path: modelJsonPath }];
  for (const shard of shards) {
    if (shard.includes('/') || shard.includes('\\')) throw new WebRunError(`${modelJsonPath}: weight shard path "${shard}" is not a file beside model.json; the page reads shards from the same folder`);
    const path = join(folder, shard);
    if (!(await stat(path).catch(() => null))?.isFile()) throw new WebRunError(`${path}: missing (a weight shard the tap ${tap} needs); ${fix}`);
    files.push({ name: shard, path });
  }
  return files;
}

/**
 * The encoder weight files the run names but does not hold (a run stores only what was trained):
 * for MobileNet (the pretrained asset or a TF.js model folder), model.json and the shards the tap
 * reads; for a ResNet weights path, its safetensors file; none for seeded random weights, which the
 * page makes again from the seed.
 */
export async function encoderFilesOf(config: RunConfig, home = aeflowHome()): Promise<EncoderFile[]> {
  const { arch, weights, tap } = config.encoder;
  if (weights === 'random') return [];
  if (weights === 'pretrained') {
    if (arch !== 'mobilenet_v1') {
      throw new WebRunError(`the run's encoder is the pretrained ${typeof arch === 'string' ? arch : 'ResNet'}: the web page carries MobileNet V1 only (a Wide-ResNet-50-2 is 270 MB to download into a page); train with the cpu preset`);
    }
    const modelJson = MOBILENET_V1_ASSETS['model.json']!;
    const folder = join(home, ...modelJson.path.split('/').slice(0, -1));
    return layersModelFiles(folder, tap, `set AEFLOW_HOME to the folder holding ${modelJson.path} and its shards (training or scoring the run once fetches them)`);
  }
  const path = isAbsolute(weights) ? weights : resolve(weights);
  const st = await stat(path).catch(() => null);
  if (!st) throw new WebRunError(`the run's encoder weights ${path} (config.json encoder.weights) do not exist; put them back or export on the machine that trained it`);
  if (arch === 'mobilenet_v1') {
    const folder = st.isDirectory() ? path : dirname(path);
    return layersModelFiles(folder, tap, `the run's encoder weights (config.json encoder.weights = ${weights}) must be a TF.js layers model folder`);
  }
  if (st.isDirectory()) {
    const tensors = (await readdir(path)).filter((f) => f.endsWith('.safetensors'));
    const name = tensors.includes('model.safetensors') ? 'model.safetensors' : tensors.length === 1 ? tensors[0]! : null;
    if (name === null) throw new WebRunError(`${path} (config.json encoder.weights): holds ${tensors.length === 0 ? 'no' : tensors.length} .safetensors files and no model.safetensors; name the file itself`);
    return [{ name, path: join(path, name) }];
  }
  return [{ name: basename(path), path }];
}
