import * as tf from '@tensorflow/tfjs-core';
import { util } from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { runHeapLoop } from './heap-loops.js';
import type { HeapLoopName } from './heap-loops.js';

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
 * Makes a float32 tensor on the wasm heap and fills it with one of the heap loops (src/kernels/
 * heap-loops.ts), split over the wasm threads where there are several. `params` gets the float
 * offsets of the output and of `inputs` in the heap, taken after the allocation. `floats` is the
 * work's size (what decides whether splitting pays), by default the output's: a loop that reads
 * far more than it writes (a depthwise filter gradient) passes what it reads.
 */
export function heapLoopTensor(
  backend: BackendWasm,
  shape: number[],
  inputs: readonly tf.Tensor[],
  loop: HeapLoopName,
  params: (out: number, inputs: number[]) => number[],
  count: number,
  floats = util.sizeFromShape(shape),
): tf.Tensor {
  for (const t of inputs) {
    if (t.dtype !== 'float32') throw new Error(`heapLoopTensor: inputs must be float32, got ${t.dtype}`);
  }
  const info = backend.makeOutput(shape, 'float32');
  runHeapLoop(loop, heapFloats(backend), params(floatOffset(backend, info), inputs.map((t) => floatOffset(backend, t))), count, floats);
  return tf.engine().makeTensorFromTensorInfo(info, backend);
}

/** The whole wasm heap as floats (the memory object itself where exposed: see heapView). */
export function heapFloats(backend: BackendWasm): Float32Array {
  const wasm = backend.wasm as unknown as { wasmMemory?: WebAssembly.Memory; HEAPU8: Uint8Array };
  const buffer = wasm.wasmMemory ? wasm.wasmMemory.buffer : wasm.HEAPU8.buffer;
  return new Float32Array(buffer, 0, buffer.byteLength >> 2);
}

/** A tensor's data offset in floats (wasm allocations are at least 8-byte aligned). */
export function floatOffset(backend: BackendWasm, t: TensorInfo): number {
  const bytes = backend.getMemoryOffset(t.dataId);
  if (bytes % 4 !== 0) throw new Error(`heap offset ${bytes} of a float32 tensor is not 4-byte aligned`);
  return bytes / 4;
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
