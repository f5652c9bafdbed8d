import * as tf from '@tensorflow/tfjs-core';
import { backend_util, Conv2DBackpropFilter } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { composeKernel } from './compose.js';
import { heapLoopTensor, heapTensor } from './heap.js';

/**
 * Largest im2col matrix (in floats) built at once. Bigger batches are split into chunks whose
 * filter gradients are summed, so a 3×3 conv over 64 images of 112×112×64 does not ask the
 * 32-bit wasm heap for 2 GB.
 */
export const IM2COL_MAX_FLOATS = 1 << 25;

/**
 * Output pixels per chunk when possible: the product's inner dimension. XNNPACK streams the whole
 * inner dimension per output tile, and ~2048 keeps its panel in cache (measured: 2304×K×256 runs
 * ~20% faster at K = 1024–2048 than at K = 8192).
 */
const TARGET_ROWS = 2048;

/**
 * The transposed im2col matrix of images [b0, b0 + n): row (ky, kx, c), column (image, oy, ox)
 * holds `x[image, oy·sh + ky − top, ox·sw + kx − left, c]` (0 outside the image). Read from `xT`,
 * the input transposed to [C, N, H, W], so both sides of the copy run along memory; rows split
 * over the wasm threads (heap-loops.ts).
 */
function im2colT(backend: BackendWasm, xT: tf.Tensor, info: backend_util.Conv2DInfo, b0: number, n: number): tf.Tensor2D {
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  return heapLoopTensor(
    backend,
    [kh * kw * C, n * OH * OW],
    [xT],
    'im2colT',
    (out, [x]) => [out, x!, batchSize, H, W, C, OH, OW, kh, kw, sh, sw, top, left, b0, n],
    kh * kw * C,
  ) as tf.Tensor2D;
}

/**
 * The filter gradient of a 2-D convolution (NHWC) as im2col + one matrix product:
 * `dW[ky,kx,ci,co] = Σ_{n,i,j} x_pad[n, s·i+ky, s·j+kx, ci] · dy[n,i,j,co]`, computed as
 * `colsᵀ · dy` with the transposed columns built directly (no `matMul(transposeA)`, about 15×
 * slower on wasm), so the product's small operand is `dy` and its result is already
 * [kh·kw·in, out], the filter's layout.
 */
export function conv2dBackpropFilterNHWC(
  backend: BackendWasm,
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: [number, number] | number,
  pad: Conv2DBackpropFilterAttrs['pad'],
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const info = backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { batchSize, filterHeight: kh, filterWidth: kw, outHeight, outWidth, inChannels, outChannels } = info;
  const rows = outHeight * outWidth;
  const perImage = rows * kh * kw * inChannels;
  const byMemory = Math.floor(IM2COL_MAX_FLOATS / Math.max(1, perImage));
  const chunk = Math.max(1, Math.min(batchSize, byMemory, Math.floor(TARGET_ROWS / Math.max(1, rows))));
  const xT = tf.transpose(x, [3, 0, 1, 2]);
  const dy2d = tf.reshape(dy, [batchSize * outHeight * outWidth, outChannels]);
  let dW: tf.Tensor | undefined; // [kh·kw·inChannels, outChannels]
  for (let b0 = 0; b0 < batchSize; b0 += chunk) {
    const n = Math.min(chunk, batchSize - b0);
    const part = tf.tidy(() => {
      // Contiguous rows, copied in place (wasm's slice first copies its whole input).
      const dyPart =
        n === batchSize
          ? dy2d
          : heapTensor(backend, [n * rows, outChannels], [dy2d], (out, [src]) =>
              out.set(src!.subarray(b0 * rows * outChannels, (b0 + n) * rows * outChannels)),
            );
      return tf.matMul(im2colT(backend, xT, info, b0, n), dyPart);
    });
    if (dW === undefined) {
      dW = part;
    } else {
      const sum = tf.add(dW, part);
      tf.dispose([dW, part]);
      dW = sum;
    }
  }
  const result = tf.reshape<tf.Rank.R4>(dW!, filterShape);
  tf.dispose([dW!, xT, dy2d]);
  return result;
}

function nhwcShape(shape: number[], fromNchw: boolean): [number, number, number, number] {
  const [a = 1, b = 1, c = 1, d = 1] = shape;
  return fromNchw ? [a, c, d, b] : [a, b, c, d];
}

const conv2dBackpropFilterKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
  return composeKernel(backend as KernelBackend, [x, dy], (xt, dyt) => {
    // NCHW arrives only from hand-written calls: compute in NHWC.
    const nhwc = dataFormat === 'NCHW';
    const x4 = tf.reshape<tf.Rank.R4>(nhwc ? tf.transpose(xt, [0, 2, 3, 1]) : xt, nhwcShape(xt.shape, nhwc));
    const dy4 = tf.reshape<tf.Rank.R4>(nhwc ? tf.transpose(dyt, [0, 2, 3, 1]) : dyt, nhwcShape(dyt.shape, nhwc));
    return conv2dBackpropFilterNHWC(backend as BackendWasm, x4, dy4, filterShape, strides, pad, dimRoundingMode);
  });
};

/** `Conv2DBackpropFilter` for wasm, which lacks it (the filter gradient of conv2d / conv2dTranspose). */
export const conv2dBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilterKernel,
};
