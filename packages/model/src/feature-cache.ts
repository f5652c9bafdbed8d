import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadImageBatch, type ImageDataset, type ImageItem, type SkippedFile } from '@aeflow/datasets';
import { float16BitsToFloat32, float32ToFloat16Bits } from '@aeflow/tensor';
import { readSafetensors, writeFileAtomic, writeSafetensors } from '@aeflow/tensor/node';
import type { AnomalyModel } from './model-types.js';
import { removeStaleTempFiles } from './run-folder.js';

/** Rounds through float16, the cache's storage precision, so fresh and reloaded entries are identical. */
function roundToHalf(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float16BitsToFloat32(float32ToFloat16Bits(values[i]!));
  return out;
}

interface Entry {
  features: Float32Array;
  image: Float32Array;
}

const SHARD_IMAGES = 256;

/**
 * The frozen encoder's features (and the resized images, the decoder's targets), computed once per
 * image and reused every epoch and by later runs. Stored as float16 safetensors shards under
 * `<root>/<key>/`, where the key hashes the encoder (id + weights hash), the tap, the image size
 * and the dataset name; inside a shard, tensors are named `<image id>/features` and
 * `<image id>/image`. An `index.json` maps image ids to shards. Entries are kept in memory too
 * (rounded to float16 exactly like the shards, so a run that computes features and a run that
 * reloads them see the same numbers).
 */
export class FeatureCache {
  private readonly entries = new Map<string, Entry>();
  private index: Record<string, string> = {};
  private shardCount = 0;
  /** Images whose features were computed (not found in the cache) since this cache was opened. */
  computed = 0;

  private constructor(
    readonly dir: string | undefined,
    readonly featureShape: [number, number, number],
    readonly size: number,
  ) {}

  /** The cache key of a model and dataset: features depend on nothing else. */
  static key(model: AnomalyModel, datasetName: string): string {
    const h = createHash('sha256');
    // re-estimated BatchNorm statistics change the features; without them the key is as before
    const stats = model.encoder.batchNormStatisticsHash;
    h.update(JSON.stringify([model.encoder.id, model.encoder.weightsHash, model.tap, model.config.size, datasetName, ...(stats ? [stats] : [])]));
    return h.digest('hex').slice(0, 24);
  }

  /**
   * Opens (or creates) the cache of a model and dataset under `root`, loading the shards already
   * there. `root` undefined: memory only.
   */
  static async open(model: AnomalyModel, datasetName: string, root: string | undefined): Promise<FeatureCache> {
    const shape: [number, number, number] = [model.featureSize, model.featureSize, model.featureChannels];
    const dir = root ? join(root, FeatureCache.key(model, datasetName)) : undefined;
    const cache = new FeatureCache(dir, shape, model.config.size);
    if (dir) {
      await mkdir(dir, { recursive: true });
      // temp files of shards and index.json whose writer was killed
      await removeStaleTempFiles(dir);
      await writeFileAtomic(
        join(dir, 'about.json'),
        JSON.stringify(
          { encoder: model.encoder.id, weightsHash: model.encoder.weightsHash, batchNormStatisticsHash: model.encoder.batchNormStatisticsHash, tap: model.tap, size: model.config.size, dataset: datasetName },
          null,
          2,
        ),
      );
      try {
        cache.index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Record<string, string>;
      } catch {
        cache.index = {};
      }
      const shards = [...new Set(Object.values(cache.index))].sort();
      cache.shardCount = shards.length;
      for (const shard of shards) {
        let tensors: Record<string, tf.Tensor>;
        try {
          tensors = await readSafetensors(join(dir, shard));
        } catch {
          continue; // a shard that cannot be read is recomputed
        }
        for (const [name, t] of Object.entries(tensors)) {
          const slash = name.lastIndexOf('/');
          const id = name.slice(0, slash);
          const kind = name.slice(slash + 1);
          const values = t.dataSync() as Float32Array;
          const e = cache.entries.get(id) ?? ({} as Entry);
          if (kind === 'features') e.features = values.slice();
          else if (kind === 'image') e.image = values.slice();
          cache.entries.set(id, e);
        }
        tf.dispose(Object.values(tensors));
      }
      for (const [id, e] of cache.entries) if (!e.features || !e.image) cache.entries.delete(id);
    }
    return cache;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  get cachedCount(): number {
    return this.entries.size;
  }

  /**
   * Makes sure every item is cached: loads and encodes the missing ones in batches and writes them
   * as new shards. `onBatch` reports progress (done, total). An aborted `signal` stops between two
   * batches; what was computed so far is still written (a later fill goes on from there). With
   * `dataset.skipInvalid`, files that fail to decode stay uncached (`has(id)` is false for them) and
   * are returned (the dataset is not changed).
   */
  async fill(
    model: AnomalyModel,
    dataset: ImageDataset,
    items: readonly ImageItem[],
    batchSize: number,
    onBatch?: (done: number, total: number) => void,
    signal?: AbortSignal,
  ): Promise<SkippedFile[]> {
    const missing = items.filter((it) => !this.entries.has(it.id));
    const skipped: SkippedFile[] = [];
    let pending: { id: string; entry: Entry }[] = [];
    for (let i = 0; i < missing.length; i += batchSize) {
      if (signal?.aborted) break;
      const loaded = await loadImageBatch(dataset, missing.slice(i, i + batchSize), { size: this.size });
      const { images, items: chunk } = loaded;
      skipped.push(...loaded.skipped);
      if (chunk.length === 0) {
        images.dispose();
        onBatch?.(Math.min(i + batchSize, missing.length), missing.length);
        continue;
      }
      const feats = model.encode(images);
      const [fv, iv] = await Promise.all([feats.data() as Promise<Float32Array>, images.data() as Promise<Float32Array>]);
      tf.dispose([images, feats]);
      const fPer = this.featureShape[0] * this.featureShape[1] * this.featureShape[2];
      const iPer = this.size * this.size * 3;
      chunk.forEach((item, k) => {
        const entry = { features: roundToHalf(fv.subarray(k * fPer, (k + 1) * fPer)), image: roundToHalf(iv.subarray(k * iPer, (k + 1) * iPer)) };
        this.entries.set(item.id, entry);
        pending.push({ id: item.id, entry });
      });
      this.computed += chunk.length;
      if (pending.length >= SHARD_IMAGES) {
        await this.writeShard(pending);
        pending = [];
      }
      onBatch?.(Math.min(i + batchSize, missing.length), missing.length);
      // decoding may be synchronous (in-memory data): let timers and signals run
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (pending.length > 0) await this.writeShard(pending);
    return skipped;
  }

  /** A batch of cached items: features [n, h, w, C] and images [n, size, size, 3]. */
  batch(ids: readonly string[]): { features: tf.Tensor4D; images: tf.Tensor4D } {
    const [h, w, c] = this.featureShape;
    const fPer = h * w * c;
    const iPer = this.size * this.size * 3;
    const f = new Float32Array(ids.length * fPer);
    const im = new Float32Array(ids.length * iPer);
    ids.forEach((id, k) => {
      const e = this.entries.get(id);
      if (!e) throw new Error(`FeatureCache: image ${id} is not cached (call fill first)`);
      f.set(e.features, k * fPer);
      im.set(e.image, k * iPer);
    });
    return { features: tf.tensor4d(f, [ids.length, h, w, c]), images: tf.tensor4d(im, [ids.length, this.size, this.size, 3]) };
  }

  private async writeShard(entries: { id: string; entry: Entry }[]): Promise<void> {
    if (!this.dir) return;
    const name = `shard-${String(this.shardCount).padStart(5, '0')}-${process.pid}.safetensors`;
    this.shardCount += 1;
    const [h, w, c] = this.featureShape;
    const tensors: Record<string, tf.Tensor> = {};
    for (const { id, entry } of entries) {
      tensors[`${id}/features`] = tf.tensor3d(entry.features, [h, w, c]);
      tensors[`${id}/image`] = tf.tensor3d(entry.image, [this.size, this.size, 3]);
    }
    try {
      await writeSafetensors(join(this.dir, name), tensors, { format: 'aeflow-feature-cache' }, { floatDtype: 'F16' });
    } finally {
      tf.dispose(Object.values(tensors));
    }
    for (const { id } of entries) this.index[id] = name;
    await writeFileAtomic(join(this.dir, 'index.json'), JSON.stringify(this.index));
  }
}
