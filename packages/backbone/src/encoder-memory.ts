import { decodeSafetensors, decodeSafetensorsHeader } from '@aeflow/tensor';
import { createEncoderWith, type Encoder, type EncoderOptions, type WeightsLoader } from './encoder.js';
import { sha256ArraysWeb, sha256Bytes, sha256NamedBytes } from './hash-web.js';
import { decodeKerasWeights, mobilenetParamSpecs, parseKerasModel } from './mobilenet.js';
import { extraBlockKeys } from './resnet.js';
import { checkStateDictHeader, stateDictFromTensors } from './state-dict.js';

/** A ResNet's weights in memory: the bytes of a torchvision / timm `model.safetensors`. */
export interface SafetensorsWeights {
  safetensors: Uint8Array;
  /** Names the weights in messages and in `describe().weights` (e.g. the URL fetched; default 'model.safetensors'). */
  source?: string;
}

/** MobileNet's weights in memory: a TF.js layers model's model.json and the shards the taps need. */
export interface LayersModelWeights {
  /** The model.json file as fetched (its bytes or text: the weights hash is taken over them). */
  modelJson: Uint8Array | string;
  /** Shard bytes by their path in the weightsManifest (e.g. `group1-shard1of1`); unneeded ones may be left out. */
  shards: Readonly<Record<string, Uint8Array>>;
  /** Names the model in messages and in `describe().weights` (e.g. its folder URL; default 'mobilenet_v1'). */
  source?: string;
}

export interface BuildEncoderOptions<T extends string = string> extends EncoderOptions<T> {
  /** `'random'` (seeded stand-in weights), or the weights already loaded: safetensors bytes (ResNets), a layers model (MobileNet). */
  weights: 'random' | SafetensorsWeights | LayersModelWeights;
}

function memoryLoader(weights: BuildEncoderOptions['weights']): WeightsLoader {
  return {
    async resnet(label, arch, depth, specs) {
      if (typeof weights !== 'object' || !('safetensors' in weights) || !(weights.safetensors instanceof Uint8Array)) {
        throw new Error(`buildEncoder: ${label} needs weights: { safetensors: <bytes of a torchvision/timm model.safetensors> } (or 'random')`);
      }
      const source = weights.source ?? 'model.safetensors';
      const header = decodeSafetensorsHeader(weights.safetensors, source);
      const extra = extraBlockKeys(arch, depth, Object.keys(header.entries));
      if (extra.length > 0) {
        throw new Error(`${source}: the checkpoint has more blocks than ${label} (${extra.map((k) => `"${k}"`).join(', ')} exist); set arch.layers to the checkpoint's block counts`);
      }
      checkStateDictHeader(header.entries, specs, label, source);
      const wanted = new Set(specs.map((s) => s.key));
      const { tensors } = decodeSafetensors(weights.safetensors, source, { filter: (name) => wanted.has(name) });
      const dict = await stateDictFromTensors(tensors, specs);
      return { dict, weights: source, weightsHash: await sha256Bytes(weights.safetensors) };
    },
    async mobilenet(layers) {
      if (typeof weights !== 'object' || !('modelJson' in weights) || typeof weights.shards !== 'object' || weights.shards === null) {
        throw new Error('buildEncoder: mobilenet_v1 needs weights: { modelJson: <model.json bytes or text>, shards: { <manifest path>: <bytes> } } (or \'random\')');
      }
      const folder = weights.source ?? 'mobilenet_v1';
      const source = `${folder}/model.json`;
      const jsonBytes = typeof weights.modelJson === 'string' ? new TextEncoder().encode(weights.modelJson) : weights.modelJson;
      let raw: unknown;
      try {
        raw = JSON.parse(new TextDecoder().decode(jsonBytes));
      } catch (err) {
        throw new Error(`mobilenet_v1 weights: ${source} is not JSON (${(err as Error).message})`);
      }
      const spec = parseKerasModel(raw, source, folder);
      const specs = mobilenetParamSpecs(spec, layers);
      const shards = weights.shards;
      const read: Array<{ name: string; bytes: Uint8Array }> = [{ name: 'model.json', bytes: jsonBytes }];
      const { dict } = await decodeKerasWeights(spec, specs, {
        read: (p) => {
          const bytes = shards[p];
          if (!(bytes instanceof Uint8Array)) return Promise.reject(new Error(`not in weights.shards (pass its bytes under the key "${p}")`));
          read.push({ name: p.split('/').pop()!, bytes });
          return Promise.resolve(bytes);
        },
        name: (p) => `${folder}/${p}`,
      });
      return { spec, dict, weights: folder, weightsHash: await sha256NamedBytes(read) };
    },
    hashArrays: sha256ArraysWeb,
  };
}

/**
 * Builds a frozen encoder from weights already in memory (fetched in a browser, say), with no file
 * access: the same encoder `createEncoder` from `@aeflow/backbone/node` builds from files, with the
 * same `weightsHash` for the same bytes.
 *
 * ```ts
 * const bytes = new Uint8Array(await (await fetch(WIDE_RESNET50_2_TV_IN1K.url)).arrayBuffer());
 * const enc = await buildEncoder({ arch: 'wide_resnet50_2', taps: ['layer3'], weights: { safetensors: bytes } });
 * ```
 */
export async function buildEncoder<T extends string>(options: BuildEncoderOptions<T>): Promise<Encoder<T>> {
  if (typeof options !== 'object' || options === null) throw new Error('buildEncoder: pass an options object {arch, weights, taps}');
  if (options.weights !== 'random' && (typeof options.weights !== 'object' || options.weights === null)) {
    throw new Error(`buildEncoder: weights must be 'random', { safetensors } (ResNets) or { modelJson, shards } (MobileNet), got ${JSON.stringify(options.weights)}`);
  }
  return createEncoderWith(memoryLoader(options.weights), options);
}
