import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropInputAttrs, KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { composeKernel, cropOrPad2d } from './compose.js';
import { heapLoopTensor } from './heap.js';

type Pad = Conv2DBackpropInputAttrs['pad'];

/**
 * The filter rotated 180° with in/out channels swapped, `R[ky, kx, co, ci] = W[kh−1−ky, kw−1−kx, ci, co]`,
 * in one pass over the heap (wasm's reverse + transpose take ~10× longer), taps split over the wasm
 * threads. Each tap's [ci, co] matrix is transposed in 32 × 32 blocks: element by element, the
 * strided side missed the cache on every write (70 ms of a 104 ms input gradient for a 3×3
 * 512 → 1024 filter).
 */
function rotateFilter(backend: BackendWasm, filter: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, ci, co] = filter.shape;
  return heapLoopTensor(backend, [kh, kw, co, ci], [filter], 'rotateFilter', (out, [w]) => [out, w!, kh, kw, ci, co], kh * kw) as tf.Tensor4D;
}

/**
 * Stride 1: the input gradient is a forward convolution of `dy` with the filter rotated 180° and
 * its in/out channels swapped, padded so that every input position sees the kernel offsets that
 * touched it: `dx[y] = Σ_ky dy[y + top − ky] · W[ky]`.
 */
function strideOne(backend: BackendWasm, dy: tf.Tensor4D, filter: tf.Tensor4D, info: backend_util.Conv2DInfo): tf.Tensor4D {
  const { filterHeight: kh, filterWidth: kw, inHeight, inWidth } = info;
  const padTop = kh - 1 - info.padInfo.top;
  const padLeft = kw - 1 - info.padInfo.left;
  // Rows [−padTop, −padTop + inHeight + kh − 1) of dy, zeros outside: a negative pad crops.
  const dyp = cropOrPad2d(dy, -padTop, inHeight + kh - 1, -padLeft, inWidth + kw - 1);
  return tf.conv2d(dyp, rotateFilter(backend, filter), 1, 'valid');
}

/**
 * Strided (sh × sw): one matrix product and a col2im. `dcols = dy · Wᵀ` holds, for every dy pixel
 * and kernel offset, its contribution to one input pixel: `dx[n, i·sh + ky − top, j·sw + kx − left]
 * += dcols[n, i, j, (ky, kx, ·)]`. The col2im runs as a loop over the wasm heap; when the kernel is
 * no larger than the stride (the decoder's 2×2/2) offsets never overlap, and it is a copy of
 * contiguous channel runs (what `depthToSpace` does, much faster than wasm's).
 */
function strided(backend: BackendWasm, dy: tf.Tensor4D, filter: tf.Tensor4D, info: backend_util.Conv2DInfo): tf.Tensor4D {
  const { batchSize: N, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels } = info;
  const { top, left } = info.padInfo;
  const rows = N * OH * OW;
  // Transposing the small filter first: matMul(…, transposeB) is ~15× slower on wasm.
  const wT = tf.transpose(tf.reshape(filter, [kh * kw * C, outChannels]));
  const dcols = tf.matMul(tf.reshape(dy, [rows, outChannels]), wT);
  // Images split over the wasm threads (heap-loops.ts).
  return heapLoopTensor(backend, [N, H, W, C], [dcols], 'col2imByImage', (out, [cols]) => [out, cols!, N, H, W, C, OH, OW, kh, kw, sh, sw, top, left], N) as tf.Tensor4D;
}

/**
 * Few positions, a large filter (a flow's 3×3 convolutions over 4×4 or 8×8 maps with hundreds of
 * channels): `dcolsᵀ = W · dyᵀ`, [kh·kw·C, N·OH·OW], then a col2im. XNNPACK packs the right-hand
 * operand of every product and every new filter of a convolution; a trained filter is new at every
 * step, and packing a 3×3 512 → 1024 filter costs more than the product itself (conv2d 69 ms with a
 * fresh filter, 29 ms with a cached one). Here the packed operand is `dyᵀ`, smaller than the filter
 * whenever there are fewer positions than filter rows, and the filter is used in its own layout.
 */
function fewPositions(dy: tf.Tensor4D, filter: tf.Tensor4D, info: backend_util.Conv2DInfo, backend: BackendWasm): tf.Tensor4D {
  const { batchSize: N, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels } = info;
  const { top, left } = info.padInfo;
  const positions = N * OH * OW;
  const dcolsT = tf.matMul(tf.reshape(filter, [kh * kw * C, outChannels]), tf.transpose(tf.reshape(dy, [positions, outChannels])));
  // Channels split over the wasm threads (heap-loops.ts).
  return heapLoopTensor(backend, [N, H, W, C], [dcolsT], 'col2imByChannel', (out, [cols]) => [out, cols!, N, H, W, C, OH, OW, kh, kw, sh, sw, top, left], C) as tf.Tensor4D;
}

/** The input gradient of conv2d (also conv2dTranspose's forward pass), NHWC. */
export function conv2dBackpropInputNHWC(
  backend: BackendWasm,
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: [number, number] | number,
  pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const info = backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const positions = info.batchSize * info.outHeight * info.outWidth;
  const rows = info.filterHeight * info.filterWidth * info.inChannels;
  // No output position (a kernel larger than a 'valid' input): nothing flows back.
  if (positions === 0 || info.outChannels === 0) return tf.zeros(inputShape);
  if (info.strideHeight === 1 && info.strideWidth === 1) {
    // The convolution packs the filter (rows × out); fewPositions adds a col2im over rows × positions.
    return info.outChannels >= positions ? fewPositions(dy, filter, info, backend) : strideOne(backend, dy, filter, info);
  }
  // Both strided routes run a col2im; `strided` packs the filter, fewPositions packs dyᵀ.
  if (positions <= rows) return fewPositions(dy, filter, info, backend);
  return strided(backend, dy, filter, info);
}

/** Replaces wasm's `Conv2DBackpropInput` (a naive loop, ~1.4 GFLOP/s); `original` still runs NCHW. */
export function conv2dBackpropInputConfig(original: KernelConfig): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
    if (dataFormat !== 'NHWC') return original.kernelFunc(args);
    return composeKernel(backend as KernelBackend, [dy, filter], (dyt, ft) =>
      conv2dBackpropInputNHWC(backend as BackendWasm, inputShape, dyt as tf.Tensor4D, ft as tf.Tensor4D, strides, pad, dimRoundingMode),
    );
  };
  return { ...original, kernelFunc };
}
