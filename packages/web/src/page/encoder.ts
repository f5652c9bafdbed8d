import { buildEncoder, type BatchNormStatistics, type Encoder } from '@aeflow/backbone';
import type { RunConfig } from '@aeflow/model';

/**
 * The run's frozen encoder from the weight files the export carries (`run/encoder/…`, keyed by
 * file name), built by `@aeflow/backbone`'s `buildEncoder` — the code the CLI's `createEncoder`
 * runs, fed bytes instead of files: MobileNet from model.json and the shards its tap reads, a
 * ResNet from its safetensors; seeded random weights are made again from the seed. `batchNorm`: the
 * run's re-estimated statistics (encoder-batchnorm.safetensors), in place of the weights' own.
 */
export async function encoderFromFiles(config: RunConfig, files: ReadonlyMap<string, Uint8Array>, batchNorm?: BatchNormStatistics): Promise<Encoder> {
  const { arch, weights, tap } = config.encoder;
  const stats = batchNorm ? { batchNormStatistics: batchNorm } : {};
  const archOption = typeof arch === 'string' ? arch : { block: arch.block, layers: arch.layers, ...(arch.widthPerGroup !== undefined ? { widthPerGroup: arch.widthPerGroup } : {}) };
  if (weights === 'random') return buildEncoder({ arch: archOption, weights: 'random', taps: [tap], seed: config.train.seed, ...stats });
  if (files.size === 0) throw new Error(`run/manifest.json lists no encoder files for the ${JSON.stringify(arch)} encoder (weights: ${weights}); export the run again with aeflow-score export --web`);
  if (arch === 'mobilenet_v1') {
    const modelJson = files.get('model.json');
    if (!modelJson) throw new Error('run/encoder/model.json: not in the export; export the run again with aeflow-score export --web');
    const shards = Object.fromEntries([...files].filter(([name]) => name !== 'model.json'));
    return buildEncoder({ arch: 'mobilenet_v1', weights: { modelJson, shards, source: 'run/encoder' }, taps: [tap], ...stats });
  }
  const tensors = [...files].filter(([name]) => name.endsWith('.safetensors'));
  if (tensors.length !== 1) throw new Error(`run/encoder/: expected one .safetensors file for the ${JSON.stringify(arch)} encoder, found ${tensors.length}; export the run again with aeflow-score export --web`);
  const [name, safetensors] = tensors[0]!;
  return buildEncoder({ arch: archOption, weights: { safetensors, source: `run/encoder/${name}` }, taps: [tap], ...stats });
}
