import { backend_util, util } from '@tensorflow/tfjs-core';
import type { GatherV2Attrs, KernelConfig, KernelFunc, SplitVAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Channel shuffles on wasm: `gather` and `split` along the last (channel) axis of NHWC data.
 *
 * A flow mixes channels between blocks (a permutation is a gather on the last axis) and splits
 * them into halves in every coupling. wasm's GatherV2 works out every element's index in general
 * N-d form — 12 ms for a [16, 8, 8, 512] permutation, ~170× a plain copy of the same data, and a
 * fifth of a training step of the cpu preset — and its SplitV runs one strided slice per output.
 * Along the last axis both are row-by-row copies: done here as typed-array loops over the wasm
 * heap. Every other case goes to wasm's own kernel.
 */

/** Whether `axis` (negative counts from the end) is the last axis of an input of `rank`. */
function lastAxis(axis: number, rank: number): boolean {
  return rank >= 1 && (axis < 0 ? axis + rank : axis) === rank - 1;
}

const isNumeric = (t: TensorInfo) => t.dtype === 'float32' || t.dtype === 'int32';

/**
 * Replaces wasm's `GatherV2` for a gather along the last axis; `original` does the rest. With
 * `batchDims` B each of the first B index rows picks from its own rows of x (wasm's own kernel
 * gets that case wrong: cpu and TensorFlow agree with this one).
 */
export function gatherV2Config(original: KernelConfig): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args;
    const { x, indices } = inputs as { x: TensorInfo; indices: TensorInfo };
    const { axis, batchDims = 0 } = attrs as unknown as GatherV2Attrs;
    const rank = x.shape.length;
    if (!lastAxis(axis, rank) || batchDims < 0 || batchDims >= rank || !isNumeric(x) || indices.dtype !== 'int32') {
      return original.kernelFunc(args);
    }
    const wasm = backend as BackendWasm;
    const channels = x.shape[rank - 1]!;
    const batches = util.sizeFromShape(x.shape.slice(0, batchDims));
    const rowsPerBatch = util.sizeFromShape(x.shape.slice(batchDims, -1));
    const picked = util.sizeFromShape(indices.shape.slice(batchDims));
    const ids = (wasm.typedArrayFromHeap(indices) as Int32Array).slice();
    for (let j = 0; j < ids.length; j++) {
      const i = ids[j]!;
      if (i < 0 || i >= channels) throw new Error(`GatherV2: index ${i} (at ${j}) is not in [0, ${channels - 1}], the size of the gathered axis`);
    }
    const out = wasm.makeOutput([...x.shape.slice(0, -1), ...indices.shape.slice(batchDims)], x.dtype);
    // Views after the allocation: growing the heap detaches older ones.
    const o = wasm.typedArrayFromHeap(out);
    const v = wasm.typedArrayFromHeap(x);
    let src = 0;
    let dst = 0;
    for (let b = 0; b < batches; b++) {
      const from = b * picked;
      for (let r = 0; r < rowsPerBatch; r++, src += channels, dst += picked) {
        for (let j = 0; j < picked; j++) o[dst + j] = v[src + ids[from + j]!]!;
      }
    }
    return out;
  };
  return { ...original, kernelFunc };
}

/** Replaces wasm's `SplitV` for a split along the last axis; `original` does the rest. */
export function splitVConfig(original: KernelConfig): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args;
    const { x } = inputs as { x: TensorInfo };
    const { numOrSizeSplits, axis } = attrs as unknown as SplitVAttrs;
    const rank = x.shape.length;
    if (!lastAxis(axis, rank) || !isNumeric(x)) return original.kernelFunc(args);
    const wasm = backend as BackendWasm;
    const sizes = backend_util.prepareSplitSize(x, numOrSizeSplits, rank - 1);
    const channels = x.shape[rank - 1]!;
    const rows = channels === 0 ? 0 : util.sizeFromShape(x.shape) / channels;
    const outs = sizes.map((s) => wasm.makeOutput([...x.shape.slice(0, -1), s], x.dtype));
    const v = wasm.typedArrayFromHeap(x);
    let offset = 0;
    sizes.forEach((size, k) => {
      const o = wasm.typedArrayFromHeap(outs[k]!);
      for (let r = 0, src = offset, dst = 0; r < rows; r++, src += channels, dst += size) {
        // Short runs: an element loop beats creating a subarray view per row.
        if (size < 64) for (let c = 0; c < size; c++) o[dst + c] = v[src + c]!;
        else o.set(v.subarray(src, src + size), dst);
      }
      offset += size;
    });
    return outs;
  };
  return { ...original, kernelFunc };
}
