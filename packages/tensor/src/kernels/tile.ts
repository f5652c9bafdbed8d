import { util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo, TileAttrs } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * `Tile` on wasm as row copies over the heap.
 *
 * tfjs's BatchNorm gradient tiles 1/√(variance + ε) from [1, 1, 1, C] to the whole activation
 * before one multiply: wasm's Tile computes every element's source index in general N-d form,
 * 70 ms for [32, 8, 8, 512] (a third of a MobileNet block's backward pass), where the result is
 * the same row copied 2048 times. Here each output row (the last axis, repeated `reps[last]` times)
 * is a copy of one input row: ~1 ms. Short rows and other dtypes go to wasm's kernel.
 */
/** Shortest output row copied here (shorter ones: the per-row index arithmetic outweighs the copy). */
const MIN_ROW = 32;

export function tileConfig(original: KernelConfig): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args;
    const { x } = inputs as { x: TensorInfo };
    const { reps } = attrs as unknown as TileAttrs;
    const rank = x.shape.length;
    if ((x.dtype !== 'float32' && x.dtype !== 'int32') || rank === 0 || reps.length !== rank) return original.kernelFunc(args);
    const inShape = x.shape;
    const outShape = inShape.map((d, i) => d * reps[i]!);
    const row = inShape[rank - 1]!;
    const outRow = outShape[rank - 1]!;
    if (outRow < MIN_ROW || util.sizeFromShape(outShape) === 0) return original.kernelFunc(args);
    const wasm = backend as BackendWasm;
    const out = wasm.makeOutput(outShape, x.dtype);
    // Views after the allocation: growing the heap detaches older ones. Same-typed views copy bits.
    const o = wasm.typedArrayFromHeap(out) as Float32Array | Int32Array;
    const v = wasm.typedArrayFromHeap(x) as Float32Array | Int32Array;
    const rows = util.sizeFromShape(outShape) / outRow;
    const lead = outShape.slice(0, -1);
    const idx = new Array<number>(rank - 1).fill(0); // the output row's index over the leading axes
    for (let r = 0; r < rows; r++) {
      let src = 0;
      for (let a = 0; a < rank - 1; a++) src = src * inShape[a]! + (idx[a]! % inShape[a]!);
      const source = v.subarray(src * row, (src + 1) * row);
      for (let k = 0, dst = r * outRow; k < reps[rank - 1]!; k++, dst += row) o.set(source, dst);
      for (let a = rank - 2; a >= 0; a--) {
        if (++idx[a]! < lead[a]!) break;
        idx[a] = 0;
      }
    }
    return out;
  };
  return { ...original, kernelFunc };
}
