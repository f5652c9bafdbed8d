import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropInputAttrs, KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { composeKernel, cropOrPad2d } from './compose.js';

type Pad = Conv2DBackpropInputAttrs['pad'];

/**
 * Stride 1: the input gradient is a forward convolution of `dy` with the filter rotated 180° and
 * its in/out channels swapped, padded so that every input position sees the kernel offsets that
 * touched it: `dx[y] = Σ_ky dy[y + top − ky] · W[ky]`.
 */
function strideOne(dy: tf.Tensor4D, filter: tf.Tensor4D, info: backend_util.Conv2DInfo): tf.Tensor4D {
  const { filterHeight: kh, filterWidth: kw, inHeight, inWidth } = info;
  const padTop = kh - 1 - info.padInfo.top;
  const padLeft = kw - 1 - info.padInfo.left;
  // Rows [−padTop, −padTop + inHeight + kh − 1) of dy, zeros outside: a negative pad crops.
  const dyp = cropOrPad2d(dy, -padTop, inHeight + kh - 1, -padLeft, inWidth + kw - 1);
  const rotated = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
  return tf.conv2d(dyp, rotated, 1, 'valid');
}

/**
 * Stride s in both directions, as one matrix product and a col2im built from pads and
 * `depthToSpace`: `dcols = dy · Wᵀ` holds, for every dy pixel, its contribution to each kernel
 * offset. Offset ky lands on padded row `s·i + ky = s·(i + ⌊ky/s⌋) + ky mod s`, so offsets with the
 * same (ky mod s, kx mod s) phase add up on a coarse grid (shifted by ⌊ky/s⌋), and the s² phase
 * grids interleave into the fine grid with `depthToSpace`. When the kernel equals the stride (the
 * decoder's 2×2/2) every phase has one offset and no shift: just the product and `depthToSpace`.
 */
function strided(dy: tf.Tensor4D, filter: tf.Tensor4D, info: backend_util.Conv2DInfo): tf.Tensor4D {
  const { batchSize, filterHeight: kh, filterWidth: kw, strideHeight: s, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { top, left } = info.padInfo;
  const rows = batchSize * outHeight * outWidth;
  const wT = tf.transpose(tf.reshape(filter, [kh * kw * inChannels, outChannels]));
  const dcols = tf.reshape<tf.Rank.R4>(tf.matMul(tf.reshape(dy, [rows, outChannels]), wT), [batchSize, outHeight, outWidth, kh * kw * inChannels]);
  let phases: tf.Tensor4D;
  if (kh === s && kw === s) {
    phases = dcols;
  } else {
    const maxQy = Math.floor((kh - 1) / s);
    const maxQx = Math.floor((kw - 1) / s);
    const coarseH = outHeight + maxQy;
    const coarseW = outWidth + maxQx;
    const grids: tf.Tensor4D[] = [];
    for (let ry = 0; ry < s; ry++) {
      for (let rx = 0; rx < s; rx++) {
        const terms: tf.Tensor4D[] = [];
        for (let ky = ry; ky < kh; ky += s) {
          for (let kx = rx; kx < kw; kx += s) {
            const qy = (ky - ry) / s;
            const qx = (kx - rx) / s;
            const tap = tf.slice(dcols, [0, 0, 0, (ky * kw + kx) * inChannels], [-1, -1, -1, inChannels]);
            terms.push(
              tf.pad(tap, [
                [0, 0],
                [qy, maxQy - qy],
                [qx, maxQx - qx],
                [0, 0],
              ]),
            );
          }
        }
        grids.push(
          terms.length === 0
            ? tf.zeros([batchSize, coarseH, coarseW, inChannels])
            : terms.length === 1
              ? terms[0]!
              : tf.addN(terms),
        );
      }
    }
    phases = tf.concat(grids, 3);
  }
  const fine = s === 1 ? phases : tf.depthToSpace(phases, s, 'NHWC');
  return cropOrPad2d(fine, top, inHeight, left, inWidth);
}

/** The input gradient of conv2d (also conv2dTranspose's forward pass), NHWC; `undefined` when no fast route fits. */
export function conv2dBackpropInputNHWC(
  inputShape: [number, number, number, number],
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: [number, number] | number,
  pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D | undefined {
  const info = backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  if (info.strideHeight === 1 && info.strideWidth === 1) return strideOne(dy, filter, info);
  if (info.strideHeight === info.strideWidth) return strided(dy, filter, info);
  return undefined;
}

/** Replaces wasm's `Conv2DBackpropInput` (a naive loop, ~1.4 GFLOP/s); `original` runs what no fast route covers. */
export function conv2dBackpropInputConfig(original: KernelConfig): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
    const sh = typeof strides === 'number' ? strides : strides[0];
    const sw = typeof strides === 'number' ? strides : strides[1];
    if (dataFormat !== 'NHWC' || sh !== sw) return original.kernelFunc(args);
    return composeKernel(backend as KernelBackend, [dy, filter], (dyt, ft) => {
      const out = conv2dBackpropInputNHWC(inputShape, dyt as tf.Tensor4D, ft as tf.Tensor4D, strides, pad, dimRoundingMode);
      if (out === undefined) throw new Error('conv2dBackpropInputNHWC: no route for equal strides (unreachable)');
      return out;
    });
  };
  return { ...original, kernelFunc };
}
