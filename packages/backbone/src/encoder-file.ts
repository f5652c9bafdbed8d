import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readSafetensorsHeader, resolveAsset, type ResolveAssetOptions } from '@aeflow/tensor/node';
import { MOBILENET_V1_ASSETS, WIDE_RESNET50_2_TV_IN1K } from './assets.js';
import { createEncoderWith, type Encoder, type EncoderOptions, type WeightsLoader } from './encoder.js';
import { sha256Arrays, sha256File, sha256Files } from './hash.js';
import { mobilenetParamSpecs, shardsFor } from './mobilenet.js';
import { readKerasModel, readKerasWeights } from './mobilenet-file.js';
import { extraBlockKeys } from './resnet.js';
import { readStateDict } from './state-dict-file.js';

export interface CreateEncoderOptions<T extends string = string> extends EncoderOptions<T> {
  /**
   * Where the weights are: a safetensors file (or a folder holding `model.safetensors`) for the
   * ResNets; the folder of a TF.js layers model (or its model.json) for MobileNet; or `'random'`
   * for seeded stand-in weights (benchmarks). Default: the known asset for `wide_resnet50_2` and
   * `mobilenet_v1` (fetched into the asset cache, checksum verified); other archs need a path.
   */
  weights?: string;
  /** How default assets are fetched (cache folder, offline mode, progress). */
  asset?: ResolveAssetOptions;
}

/** A ResNet weights path: the file itself, or `model.safetensors` / the only `.safetensors` in a folder. */
async function safetensorsPath(weights: string, archLabel: string): Promise<string> {
  let s;
  try {
    s = await stat(weights);
  } catch {
    throw new Error(`createEncoder: weights ${weights} does not exist; pass a ${archLabel} safetensors file (torchvision / timm state-dict names) or 'random'`);
  }
  if (s.isFile()) {
    if (/\.(pth|pt|bin|ckpt)$/i.test(weights)) {
      throw new Error(`createEncoder: weights ${weights} is a PyTorch pickle; only safetensors are read (timm publishes model.safetensors; or save one with safetensors.torch.save_file)`);
    }
    return weights;
  }
  const files = (await readdir(weights)).filter((f) => f.endsWith('.safetensors'));
  if (files.includes('model.safetensors')) return join(weights, 'model.safetensors');
  if (files.length === 1) return join(weights, files[0]!);
  throw new Error(`createEncoder: folder ${weights} holds ${files.length === 0 ? 'no' : `${files.length}`} .safetensors files and no model.safetensors; pass the file itself`);
}

/** Weights from files: a path given, or the known asset fetched into (or found in) the cache. */
function fileLoader(opts: CreateEncoderOptions): WeightsLoader {
  return {
    async resnet(label, arch, depth, specs) {
      let path: string;
      if (opts.weights === undefined) {
        if (label !== 'wide_resnet50_2') {
          throw new Error(`createEncoder: ${label} has no default weights; pass weights: '<path of a torchvision/timm model.safetensors>' (or 'random')`);
        }
        path = await resolveAsset(WIDE_RESNET50_2_TV_IN1K, opts.asset);
      } else {
        path = await safetensorsPath(opts.weights, label);
      }
      const extra = extraBlockKeys(arch, depth, Object.keys((await readSafetensorsHeader(path)).entries));
      if (extra.length > 0) {
        throw new Error(`${path}: the checkpoint has more blocks than ${label} (${extra.map((k) => `"${k}"`).join(', ')} exist); set arch.layers to the checkpoint's block counts`);
      }
      const dict = await readStateDict(path, specs, label);
      return { dict, weights: path, weightsHash: await sha256File(path) };
    },
    async mobilenet(layers) {
      const modelPath = opts.weights ?? (await resolveAsset(MOBILENET_V1_ASSETS['model.json']!, opts.asset));
      const spec = await readKerasModel(modelPath);
      const specs = mobilenetParamSpecs(spec, layers);
      if (opts.weights === undefined) {
        // Fetch (or find in the cache) just the shards the taps need.
        for (const shard of shardsFor(spec, specs)) {
          const asset = MOBILENET_V1_ASSETS[shard];
          if (!asset) throw new Error(`createEncoder: mobilenet_v1 shard ${shard} is not a known asset; pass weights: '<folder with model.json and its shards>'`);
          await resolveAsset(asset, opts.asset);
        }
      }
      const { dict, files } = await readKerasWeights(spec, specs);
      return { spec, dict, weights: spec.folder, weightsHash: await sha256Files([spec.source, ...files]) };
    },
    hashArrays: (entries) => Promise.resolve(sha256Arrays(entries)),
  };
}

/**
 * Builds a frozen encoder from weight files: reads (or draws) only the weights the taps need,
 * converts them to TensorFlow.js layout once and folds eval-mode BatchNorm into the convolutions.
 * (`buildEncoder` from `@aeflow/backbone` does the same from bytes already in memory.)
 *
 * ```ts
 * const enc = await createEncoder({ arch: 'wide_resnet50_2', taps: ['layer2', 'layer3'] });
 * const { layer3 } = enc.features(enc.normalize(images)); // [n, H/16, W/16, 1024]
 * ```
 */
export async function createEncoder<T extends string>(options: CreateEncoderOptions<T>): Promise<Encoder<T>> {
  if (typeof options !== 'object' || options === null) throw new Error('createEncoder: pass an options object {arch, weights, taps}');
  if (options.weights !== undefined && (typeof options.weights !== 'string' || options.weights === '')) {
    throw new Error(`createEncoder: weights must be a path or 'random', got ${JSON.stringify(options.weights)}`);
  }
  return createEncoderWith(fileLoader(options), options);
}
