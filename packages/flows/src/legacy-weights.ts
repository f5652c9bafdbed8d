import * as tf from '@tensorflow/tfjs-core';

/**
 * Weight records written before the flows switched to PyTorch layouts (late Nov 2026) used the
 * TensorFlow.js layouts (conv filters [kh, kw, in, out], 1×1 and dense [in, out]), the actnorm
 * keys `gamma` / `log_scale` and `offset` [C], and had no BatchNorm `num_batches_tracked`.
 * Those actnorm keys never occur in the current format, so they identify an old record
 * unambiguously; runs saved then (e.g. `model.safetensors`, resumable checkpoints) keep loading.
 */
const LEGACY_ACTNORM = /(^|\.)actnorm\.(gamma|log_scale|offset)$/;

/** True when the record is in the old TensorFlow.js layout (see {@link legacyToPyTorchLayout}). */
export function isLegacyFlowRecord(weights: Record<string, tf.Tensor>): boolean {
  return Object.keys(weights).some((k) => LEGACY_ACTNORM.test(k));
}

/**
 * Converts an old-layout record of AllInOne blocks with the built-in subnets to the current
 * PyTorch layout: `weights` maps keys to tensors; `created` are the new tensors made here (the
 * caller disposes them; the other values are the caller's own). Records that are not old are
 * returned unchanged.
 */
export function legacyToPyTorchLayout(weights: Record<string, tf.Tensor>): { weights: Record<string, tf.Tensor>; created: tf.Tensor[] } {
  if (!isLegacyFlowRecord(weights)) return { weights, created: [] };
  const out: Record<string, tf.Tensor> = {};
  const created: tf.Tensor[] = [];
  const make = (t: tf.Tensor): tf.Tensor => {
    created.push(t);
    return t;
  };
  for (const [key, t] of Object.entries(weights)) {
    const actnorm = LEGACY_ACTNORM.exec(key);
    if (actnorm) {
      const name = actnorm[2] === 'offset' ? 'global_offset' : 'global_scale';
      out[key.slice(0, key.length - actnorm[2]!.length) + name] = make(tf.reshape(t, [1, t.size, 1, 1]));
    } else if (/(^|\.)coupling\.subnet\./.test(key) && key.endsWith('.weight') && (t.rank === 4 || t.rank === 2)) {
      if (t.rank === 4) out[key] = make(tf.transpose(t, [3, 2, 0, 1])); // [kh, kw, in, out] → [out, in, kh, kw]
      else if (/\.fc\d+\.weight$/.test(key)) out[key] = make(tf.transpose(t)); // Linear [in, out] → [out, in]
      else {
        const [cin, cout] = t.shape as [number, number];
        out[key] = make(tf.tidy(() => tf.reshape(tf.transpose(t), [cout, cin, 1, 1]))); // 1×1 conv [in, out] → [out, in, 1, 1]
      }
    } else {
      out[key] = t;
    }
    if (key.endsWith('.running_var')) {
      const counter = key.slice(0, -'running_var'.length) + 'num_batches_tracked';
      if (!(counter in weights)) out[counter] = make(tf.scalar(0, 'int32'));
    }
  }
  return { weights: out, created };
}
