import { backend_util, util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, SumAttrs, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { floatOffset, heapFloats } from './heap.js';
import { runHeapLoop } from './heap-loops.js';

/**
 * `Sum` over leading or middle axes on wasm (bias gradients: a conv's or a 1×1 product's summed
 * over images and positions; per-image sums over positions).
 *
 * wasm's Sum first transposes the input so the summed axes are innermost: 4 ms for a [1024, 512]
 * bias gradient, 1.4 ms for [16, 8, 8, 512] over (0, 1, 2) — about 28 ms of a cpu-preset training
 * step. Summing rows into the output in place needs no transpose (1.0 ms for either). The accumulator is the float32
 * output itself and the rows are added in row-major order, which is exactly what wasm's kernel
 * computes: the results are the same to the bit (tested), so no trained number changes.
 */
/** Shortest row (elements kept per summed index) summed here; measured: at 16 wasm's kernel is 1.5× faster, at 512 ours is 3–4×. */
const MIN_ROW = 64;

export function sumConfig(original: KernelConfig): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args;
    const { x } = inputs as { x: TensorInfo };
    const { axis, keepDims } = attrs as unknown as SumAttrs;
    const rank = x.shape.length;
    if (x.dtype !== 'float32' || rank < 2) return original.kernelFunc(args);
    const axes = [...new Set(util.parseAxisParam(axis, x.shape))].sort((a, b) => a - b);
    // One contiguous block of axes [first, last] that leaves the last axis alone.
    const first = axes[0];
    const last = axes.at(-1);
    if (first === undefined || last === undefined || last - first + 1 !== axes.length || last === rank - 1) return original.kernelFunc(args);
    const outer = util.sizeFromShape(x.shape.slice(0, first));
    const summed = util.sizeFromShape(x.shape.slice(first, last + 1));
    const inner = util.sizeFromShape(x.shape.slice(last + 1));
    // Short rows (a decoder's 3–32 channels): the JS loop's per-row cost makes wasm's kernel faster.
    if (inner < MIN_ROW) return original.kernelFunc(args);
    const [kept] = backend_util.computeOutAndReduceShapes(x.shape, axes);
    const shape = keepDims ? backend_util.expandShapeToKeepDim(kept, axes) : kept;
    const wasm = backend as BackendWasm;
    const out = wasm.makeOutput(shape, 'float32');
    // Columns split over the wasm threads (heap-loops.ts); offsets after the allocation.
    runHeapLoop('sumMiddle', heapFloats(wasm), [floatOffset(wasm, out), floatOffset(wasm, x), outer, summed, inner], inner, outer * summed * inner);
    return out;
  };
  return { ...original, kernelFunc };
}
