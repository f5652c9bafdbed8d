import { buildEncoder, type Encoder } from '@aeflow/backbone';
import type { RunConfig } from '@aeflow/model';

/**
 * The run's frozen encoder from the weight files the export carries (`run/encoder/…`), built by
 * `@aeflow/backbone` as the CLI builds it; seeded random weights are made again from the seed.
 */
export async function encoderFromFiles(config: RunConfig, files: ReadonlyMap<string, Uint8Array>): Promise<Encoder> {
  const { arch, weights, tap } = config.encoder;
  const archOption = typeof arch === 'string' ? arch : { block: arch.block, layers: arch.layers, ...(arch.widthPerGroup !== undefined ? { widthPerGroup: arch.widthPerGroup } : {}) };
  if (weights === 'random') return buildEncoder({ arch: archOption, weights: 'random', taps: [tap], seed: config.train.seed });
  if (files.size === 0) throw new Error(`the export carries no encoder weights for ${JSON.stringify(arch)} (${weights}); export the run again`);
  throw new Error(`this page cannot build the pretrained ${arch === 'mobilenet_v1' ? 'MobileNet V1' : 'ResNet'} encoder yet (@aeflow/backbone builds encoders from bytes with issue 15); score this run with aeflow-score meanwhile`);
}
