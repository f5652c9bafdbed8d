import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';

/**
 * Runs tensor ops inside a kernel function and hands the result back to the engine as a
 * `TensorInfo`.
 *
 * The kernel's inputs are wrapped as tensors so ops can take them. Each wrapper first takes a
 * reference on its input's data: disposing a wrapper without that would free the caller's
 * buffer. Ops run inside a kernel are not recorded on the gradient tape (the engine counts
 * kernel depth), and every intermediate is disposed by the tidy here.
 */
export function composeKernel(
  backend: KernelBackend,
  inputs: readonly TensorInfo[],
  body: (...tensors: tf.Tensor[]) => tf.Tensor,
): TensorInfo {
  const engine = tf.engine();
  const result = tf.tidy(() => {
    const wrapped = inputs.map((info) => {
      backend.incRef(info.dataId);
      return engine.makeTensorFromTensorInfo(info, backend);
    });
    return body(...wrapped);
  });
  // The engine turns the returned info into its own tensor: keep the data alive past `result`.
  backend.incRef(result.dataId);
  const out: TensorInfo = { dataId: result.dataId, shape: result.shape.slice(), dtype: result.dtype };
  result.dispose();
  return out;
}

/** Rows [start, start + length) of axis 1 and columns [colStart, colStart + width) of axis 2, zero outside `t`. */
export function cropOrPad2d(t: tf.Tensor4D, start: number, length: number, colStart: number, width: number): tf.Tensor4D {
  const [, h, w] = t.shape;
  const padTop = Math.max(0, -start);
  const padBottom = Math.max(0, start + length - h);
  const padLeft = Math.max(0, -colStart);
  const padRight = Math.max(0, colStart + width - w);
  let x = t;
  if (padTop + padBottom + padLeft + padRight > 0) {
    x = tf.pad(x, [
      [0, 0],
      [padTop, padBottom],
      [padLeft, padRight],
      [0, 0],
    ]);
  }
  const r0 = start + padTop;
  const c0 = colStart + padLeft;
  if (r0 === 0 && c0 === 0 && x.shape[1] === length && x.shape[2] === width) return x;
  return tf.slice(x, [0, r0, c0, 0], [-1, length, width, -1]);
}
