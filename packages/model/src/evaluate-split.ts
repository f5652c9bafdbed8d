import * as tf from '@tensorflow/tfjs-core';
import type { ImageItem, SkippedFile } from '@aeflow/datasets';
import { yieldToEventLoop } from './event-loop.js';
import type { FeatureCache } from './feature-cache.js';
import { featureBatches, type DataSplit } from './feature-batches.js';
import type { AnomalyModel } from './model-types.js';

/**
 * Scores of a split (eval mode): total/flow/recon per item of `items` — the split's items, less any
 * skipped because they failed to decode (`dataset.skipInvalid`, listed in `skipped`) — and the mean losses.
 */
export async function evaluateSplit(
  model: AnomalyModel,
  split: Required<DataSplit>,
  cache: FeatureCache | null,
  batchSize: number,
): Promise<{ items: ImageItem[]; skipped: SkippedFile[]; flow: Float32Array; recon: Float32Array; total: Float32Array; loss: number; flowNll: number; reconLoss: number }> {
  const n = split.items.length;
  const items: ImageItem[] = [];
  const skipped: SkippedFile[] = [];
  const flow = new Float32Array(n);
  const recon = new Float32Array(n);
  const total = new Float32Array(n);
  let lossSum = 0;
  let nllSum = 0;
  let reconSum = 0;
  let offset = 0;
  for await (const b of featureBatches(model, split, cache, split.items.map((_, i) => i), batchSize)) {
    skipped.push(...b.skipped);
    if (b.items.length === 0) {
      tf.dispose([b.features, b.images]);
      continue;
    }
    items.push(...b.items);
    const out = tf.tidy(() => {
      const s = model.scoreFromFeatures(b.features, b.images);
      const l = model.lossFromFeatures(b.features, b.images, false);
      const k = b.images.shape[0];
      return [s.flow, s.recon, s.total, tf.stack([tf.mul(l.total, k), tf.mul(l.flowNll, k), tf.mul(l.recon, k)])];
    });
    const [f, r, t, l] = await Promise.all(out.map((x) => x.data()));
    flow.set(f!, offset);
    recon.set(r!, offset);
    total.set(t!, offset);
    lossSum += l![0]!;
    nllSum += l![1]!;
    reconSum += l![2]!;
    offset += b.images.shape[0];
    tf.dispose([...out, b.features, b.images]);
    await yieldToEventLoop();
  }
  const d = Math.max(1, offset);
  const used = <T extends Float32Array>(a: T) => (offset === n ? a : a.slice(0, offset));
  return { items, skipped, flow: used(flow), recon: used(recon), total: used(total), loss: lossSum / d, flowNll: nllSum / d, reconLoss: reconSum / d };
}

