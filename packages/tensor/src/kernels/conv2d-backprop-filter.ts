import * as tf from '@tensorflow/tfjs-core';
import { backend_util, Conv2DBackpropFilter } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, KernelBackend, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { composeKernel, cropOrPad2d } from './compose.js';

/**
 * Largest im2col matrix (in floats) built at once. Bigger batches are split into chunks whose
 * filter gradients are summed, so a 3×3 conv over 64 images of 112×112×64 does not ask the
 * 32-bit wasm heap for 2 GB.
 */
export const IM2COL_MAX_FLOATS = 1 << 25;

function numbersOf(attrs: NamedAttrMap | undefined): Conv2DBackpropFilterAttrs {
  return attrs as unknown as Conv2DBackpropFilterAttrs;
}

/**
 * The filter gradient of a 2-D convolution as im2col + one matrix product:
 * `dW[ky,kx,ci,co] = Σ_{n,i,j} x_pad[n, s·i+ky, s·j+kx, ci] · dy[n,i,j,co]`.
 * The columns are the padded input's strided slices for each kernel offset, concatenated along
 * channels (the filter's own [kh, kw, in] order); `dy` — the smaller operand — is transposed
 * before the product, because `matMul(a, b, transposeA=true)` is about 15× slower on wasm.
 */
export function conv2dBackpropFilterNHWC(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  strides: [number, number] | number,
  pad: Conv2DBackpropFilterAttrs['pad'],
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const info = backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { batchSize, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight, outWidth, inChannels, outChannels } = info;
  const { top, left } = info.padInfo;
  // Rows and columns the kernel offsets reach, from the first padded row/column.
  const spanH = sh * (outHeight - 1) + kh;
  const spanW = sw * (outWidth - 1) + kw;
  const perImage = outHeight * outWidth * kh * kw * inChannels;
  const chunk = Math.max(1, Math.min(batchSize, Math.floor(IM2COL_MAX_FLOATS / Math.max(1, perImage))));

  let dWT: tf.Tensor2D | undefined; // [outChannels, kh·kw·inChannels]
  for (let b0 = 0; b0 < batchSize; b0 += chunk) {
    const n = Math.min(chunk, batchSize - b0);
    const part = tf.tidy(() => {
      const xs = n === batchSize ? x : tf.slice(x, [b0, 0, 0, 0], [n, -1, -1, -1]);
      const dys = n === batchSize ? dy : tf.slice(dy, [b0, 0, 0, 0], [n, -1, -1, -1]);
      const xp = cropOrPad2d(xs, -top, spanH, -left, spanW);
      const taps: tf.Tensor4D[] = [];
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          if (sh === 1 && sw === 1) {
            taps.push(tf.slice(xp, [0, ky, kx, 0], [n, outHeight, outWidth, inChannels]));
          } else {
            taps.push(
              tf.stridedSlice(xp, [0, ky, kx, 0], [n, ky + sh * (outHeight - 1) + 1, kx + sw * (outWidth - 1) + 1, inChannels], [1, sh, sw, 1]) as tf.Tensor4D,
            );
          }
        }
      }
      const rows = n * outHeight * outWidth;
      const cols = tf.reshape(taps.length === 1 ? taps[0]! : tf.concat(taps, 3), [rows, kh * kw * inChannels]);
      const dyT = tf.transpose(tf.reshape(dys, [rows, outChannels]));
      return tf.matMul(dyT, cols);
    });
    if (dWT === undefined) {
      dWT = part as tf.Tensor2D;
    } else {
      const sum: tf.Tensor2D = tf.add(dWT, part);
      dWT.dispose();
      part.dispose();
      dWT = sum;
    }
  }
  const result = tf.tidy(() => tf.reshape<tf.Rank.R4>(tf.transpose(dWT!), filterShape));
  dWT!.dispose();
  return result;
}

function nhwcShape(shape: number[], fromNchw: boolean): [number, number, number, number] {
  const [a = 1, b = 1, c = 1, d = 1] = shape;
  return fromNchw ? [a, c, d, b] : [a, b, c, d];
}

const conv2dBackpropFilterKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = numbersOf(attrs);
  return composeKernel(backend as KernelBackend, [x, dy], (xt, dyt) => {
    // NCHW arrives only from hand-written calls: compute in NHWC, the layout the ops are fast in.
    const nhwc = dataFormat === 'NCHW';
    const x4 = tf.reshape<tf.Rank.R4>(nhwc ? tf.transpose(xt, [0, 2, 3, 1]) : xt, nhwcShape(xt.shape, nhwc));
    const dy4 = tf.reshape<tf.Rank.R4>(nhwc ? tf.transpose(dyt, [0, 2, 3, 1]) : dyt, nhwcShape(dyt.shape, nhwc));
    return conv2dBackpropFilterNHWC(x4, dy4, filterShape, strides, pad, dimRoundingMode);
  });
};

/** `Conv2DBackpropFilter` for wasm, which lacks it (the filter gradient of conv2d / conv2dTranspose). */
export const conv2dBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilterKernel,
};
