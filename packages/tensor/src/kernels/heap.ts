import * as tf from '@tensorflow/tfjs-core';
import { util } from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
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
  const out = heapView(backend, info);
  const ins = inputs.map((t) => heapView(backend, t));
  fill(out, ins);
  return tf.engine().makeTensorFromTensorInfo(info, backend);
}

/**
 * A float32 view of a tensor's data. Built on the memory object itself when the module exposes it
 * (the threaded build): after a heap growth the cached `HEAPU8` can lag behind the shared memory.
 */
function heapView(backend: BackendWasm, t: TensorInfo): Float32Array {
  const wasm = backend.wasm as unknown as { wasmMemory?: WebAssembly.Memory; HEAPU8: Uint8Array };
  const buffer = wasm.wasmMemory ? wasm.wasmMemory.buffer : wasm.HEAPU8.buffer;
  return new Float32Array(buffer, backend.getMemoryOffset(t.dataId), util.sizeFromShape(t.shape));
}

/** [from, to) of output positions o with 0 <= o·stride + offset < size. */
export function validRange(count: number, stride: number, offset: number, size: number): [number, number] {
  const from = offset >= 0 ? 0 : Math.ceil(-offset / stride);
  const to = Math.min(count, Math.floor((size - 1 - offset) / stride) + 1);
  return [Math.min(from, count), Math.max(to, Math.min(from, count))];
}
