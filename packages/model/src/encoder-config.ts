import type { BatchNormStatistics, Encoder } from '@aeflow/backbone';
import { createEncoder } from '@aeflow/backbone/node';
import type { RunConfig } from './config.js';

/**
 * Builds the encoder a configuration names (pretrained asset, a path, or seeded random weights),
 * with `batchNormStatistics` in place of the weights' own when given (`encoder.batchNorm:
 * 'train-normals'`); `foldBatchNorm: false` for estimating them.
 */
export async function encoderFromConfig(config: RunConfig, batchNormStatistics?: BatchNormStatistics, foldBatchNorm = true): Promise<Encoder> {
  const { arch, weights, tap } = config.encoder;
  return createEncoder({
    arch: typeof arch === 'string' ? arch : { block: arch.block, layers: arch.layers, ...(arch.widthPerGroup !== undefined ? { widthPerGroup: arch.widthPerGroup } : {}) },
    ...(weights === 'pretrained' ? {} : { weights }),
    taps: [tap],
    seed: config.train.seed,
    foldBatchNorm,
    ...(batchNormStatistics ? { batchNormStatistics } : {}),
  });
}
