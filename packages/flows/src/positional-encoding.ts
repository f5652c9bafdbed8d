import * as tf from '@tensorflow/tfjs-core';

/**
 * A fixed 2-D sinusoidal encoding of position, `[1, height, width, channels]`, to condition a flow
 * on where a feature sits (CFLOW-AD's idea): a coupling built with `conditionChannels: channels`
 * and given this as `options.condition` models p(feature | position) instead of one density shared
 * by every position — which matters for aligned images such as chest X-rays, where the same
 * texture is normal over the heart and abnormal over a lung.
 *
 * Positions are normalised to the map (u = (i + ½)/height, v = (j + ½)/width), so the encoding
 * does not depend on the input resolution. For k = 0 … channels/4 − 1 the channels are
 * sin(2ᵏπu), cos(2ᵏπu), sin(2ᵏπv), cos(2ᵏπv): k = 0 alone already tells every row and column apart.
 */
export function positionalEncoding2d(height: number, width: number, channels: number): tf.Tensor4D {
  for (const [name, v] of [['height', height], ['width', width]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`positionalEncoding2d: ${name} must be a whole number >= 1, got ${v}`);
  }
  if (!Number.isInteger(channels) || channels < 4 || channels % 4 !== 0) {
    throw new Error(`positionalEncoding2d: channels must be a positive multiple of 4 (sin and cos per axis and frequency), got ${channels}`);
  }
  const frequencies = channels / 4;
  const data = new Float32Array(height * width * channels);
  for (let i = 0; i < height; i++) {
    const u = (i + 0.5) / height;
    for (let j = 0; j < width; j++) {
      const v = (j + 0.5) / width;
      const at = (i * width + j) * channels;
      for (let k = 0; k < frequencies; k++) {
        const w = Math.PI * 2 ** k;
        data[at + 4 * k] = Math.sin(w * u);
        data[at + 4 * k + 1] = Math.cos(w * u);
        data[at + 4 * k + 2] = Math.sin(w * v);
        data[at + 4 * k + 3] = Math.cos(w * v);
      }
    }
  }
  return tf.tensor4d(data, [1, height, width, channels]);
}
