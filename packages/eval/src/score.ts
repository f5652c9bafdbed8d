import * as tf from '@tensorflow/tfjs-core';
import { loadImageBatch, type DecodedImage, type ImageDataset, type ImageItem, type SkippedFile } from '@aeflow/datasets';
import type { AEFlow } from '@aeflow/model';
import { tfjsImageScorer, type ImageScorer } from '@aeflow/onnx';
import type { ScoreRow } from './evaluate.js';
import type { FloatImage, PixelMap } from '@aeflow/report';

/** What an image looks like to the model and what it made of it, for maps and the report grid. */
export interface ImageMaps {
  id: string;
  original: FloatImage;
  /** x′ in [0, 1] (null for a model without a decoder, e.g. FastFlow). */
  reconstruction: FloatImage | null;
  residual: PixelMap;
}

export interface ScoreItemsOptions {
  model: AEFlow;
  /**
   * Computes each batch's scores (and x′ for the maps): ONNX Runtime or tfjs, from
   * `createImageScorer` of `@aeflow/onnx/node`. Default: the model's own tfjs path.
   */
  scorer?: ImageScorer;
  dataset: ImageDataset;
  items: readonly ImageItem[];
  batchSize?: number;
  /** Skip (and list) images that fail to decode instead of stopping at the first. */
  skipInvalid?: boolean;
  /** Keep the maps of these ids (or of every image with 'all'). */
  keepMaps?: ReadonlySet<string> | 'all';
  onProgress?: (done: number, total: number) => void;
  /** Stops between batches (Ctrl-C). */
  signal?: AbortSignal;
}

export interface ScoreItemsResult {
  rows: ScoreRow[];
  skipped: SkippedFile[];
  maps: Map<string, ImageMaps>;
}

/** Decoded images as the [N, size, size, 3] batch the model takes. */
export function batchTensor(images: readonly DecodedImage[], size: number): tf.Tensor4D {
  const per = size * size * 3;
  const data = new Float32Array(images.length * per);
  images.forEach((d, i) => data.set(d.data, i * per));
  return tf.tensor4d(data, [images.length, size, size, 3]);
}

/** The model's reconstruction x′ of a batch in [0, 1] (`AEFlow.reconstruct`), or null without a decoder. */
export function reconstruct(model: AEFlow, images: tf.Tensor4D): tf.Tensor4D | null {
  return model.decoder ? model.reconstruct(images) : null;
}

/**
 * Scores items batch by batch with a trained model: decodes each batch with `loadImageBatch` of
 * @aeflow/datasets (skipping and listing the files that fail to decode when `skipInvalid`, else
 * stopping with the path and reason), runs the scorer (tfjs or ONNX Runtime), and
 * keeps the per-image flow / recon / total scores — and the image, reconstruction and residual of
 * the images asked for.
 */
export async function scoreItems(options: ScoreItemsOptions): Promise<ScoreItemsResult> {
  const { model, dataset, items } = options;
  const size = model.config.size;
  const batchSize = options.batchSize ?? Math.max(1, Math.min(32, model.config.train.batchSize));
  const rows: ScoreRow[] = [];
  const skipped: SkippedFile[] = [];
  const maps = new Map<string, ImageMaps>();
  const scorer = options.scorer ?? tfjsImageScorer(model);
  const keep = (id: string) => options.keepMaps === 'all' || (options.keepMaps?.has(id) ?? false);
  for (let start = 0; start < items.length; start += batchSize) {
    if (options.signal?.aborted) break;
    const chunk = items.slice(start, start + batchSize);
    // The batch's files decoded together (sharp works on its own threads), in order; with
    // skipInvalid the ones that fail to decode are listed, else the first stops with its path and reason.
    const batch = await loadImageBatch(dataset, chunk, { size, channels: 3, skipInvalid: options.skipInvalid ?? false });
    skipped.push(...batch.skipped);
    const { images, items: kept } = batch;
    if (kept.length === 0) images.dispose();
    else {
      const wanted = kept.map((it, k) => [it, k] as const).filter(([it]) => keep(it.id));
      // x′ comes with the scores (one pass) when this batch has images whose maps are kept
      let out: Awaited<ReturnType<ImageScorer['score']>> | undefined;
      try {
        out = await scorer.score(images, { reconstruction: wanted.length > 0 });
        const { scores } = out;
        kept.forEach((it, k) => rows.push({ id: it.id, label: it.label, flow: scores[k]!.flow, recon: scores[k]!.recon, total: scores[k]!.total, predicted: null }));
        if (wanted.length > 0) {
          const pixels = (await images.data()) as Float32Array;
          const recData = out.reconstruction ? ((await out.reconstruction.data()) as Float32Array) : null;
          for (const [it, k] of wanted) {
            const s = scores[k]!;
            maps.set(it.id, {
              id: it.id,
              original: { width: size, height: size, channels: 3, data: pixels.slice(k * size * size * 3, (k + 1) * size * size * 3) },
              reconstruction: recData ? { width: size, height: size, channels: 3, data: recData.slice(k * size * size * 3, (k + 1) * size * size * 3) } : null,
              residual: { width: s.width, height: s.height, data: s.residual },
            });
          }
        }
      } finally {
        tf.dispose([images, ...(out?.reconstruction ? [out.reconstruction] : [])]);
      }
    }
    options.onProgress?.(Math.min(start + batchSize, items.length), items.length);
  }
  return { rows, skipped, maps };
}
