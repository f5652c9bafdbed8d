import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Makes a float32 tensor on the wasm heap and fills it from JS, reading `inputs` in place.
 *
 * wasm's own data-movement kernels are slow for what im2col / col2im need (`slice` first copies
 * its whole input out of the heap; `depthToSpace` and strided slices run at ~40 M floats/s), while
 * a typed-array loop over the heap moves data at memory speed. The views are taken after the
 * allocation, since growing the heap detaches older views. The result is tracked like any tensor
 * (disposed by the surrounding tidy).
 */
export function heapTensor(
  backend: BackendWasm,
  shape: number[],
  inputs: readonly tf.Tensor[],
  fill: (out: Float32Array, inputs: Float32Array[]) => void,
): tf.Tensor {
  for (const t of inputs) {
    if (t.dtype !== 'float32') throw new Error(`heapTensor: inputs must be float32, got ${t.dtype}`);
  }
  const info = backend.makeOutput(shape, 'float32');
  const out = backend.typedArrayFromHeap(info) as Float32Array;
  const ins = inputs.map((t) => backend.typedArrayFromHeap(t) as Float32Array);
  fill(out, ins);
  return tf.engine().makeTensorFromTensorInfo(info, backend);
}

/** [from, to) of output positions o with 0 <= o·stride + offset < size. */
export function validRange(count: number, stride: number, offset: number, size: number): [number, number] {
  const from = offset >= 0 ? 0 : Math.ceil(-offset / stride);
  const to = Math.min(count, Math.floor((size - 1 - offset) / stride) + 1);
  return [Math.min(from, count), Math.max(to, Math.min(from, count))];
}
