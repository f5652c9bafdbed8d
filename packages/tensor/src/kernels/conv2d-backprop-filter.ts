import * as tf from '@tensorflow/tfjs-core';
import { backend_util, Conv2DBackpropFilter } from '@tensorflow/tfjs-core';
import type { Conv2DBackpropFilterAttrs, KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { composeKernel } from './compose.js';
import { heapTensor, validRange } from './heap.js';

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
 * the input transposed to [C, N, H, W], so both sides of the copy run along memory.
 */
function im2colT(backend: BackendWasm, xT: tf.Tensor, info: backend_util.Conv2DInfo, b0: number, n: number): tf.Tensor2D {
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const cols = n * OH * OW;
  // Stride 1 with the output as wide as the input ('same'-like): all valid rows of one
  // (offset, channel, image) are a single shifted run of the input plane, copied at once; the
  // columns the shift pushed past the edge are zeroed after.
  const blockCopy = sh === 1 && sw === 1 && OW === W;
  return heapTensor(backend, [kh * kw * C, cols], [xT], (out, [x]) => {
    const src = x!;
    let dst = 0;
    for (let ky = 0; ky < kh; ky++) {
      const [oy0, oy1] = validRange(OH, sh, ky - top, H);
      for (let kx = 0; kx < kw; kx++) {
        const [ox0, ox1] = validRange(OW, sw, kx - left, W);
        for (let c = 0; c < C; c++) {
          for (let img = b0; img < b0 + n; img++) {
            const plane = (c * batchSize + img) * H * W;
            if (blockCopy) {
              out.fill(0, dst, dst + oy0 * OW);
              if (oy1 > oy0) {
                // Output (oy, ox) reads plane[(oy + ky − top)·W + ox + kx − left].
                const first = plane + (oy0 + ky - top) * W + kx - left;
                const from = Math.max(first, plane);
                const to = Math.min(first + (oy1 - oy0) * OW, plane + H * W);
                out.set(src.subarray(from, to), dst + oy0 * OW + (from - first));
                for (let oy = oy0; oy < oy1; oy++) {
                  const row = dst + oy * OW;
                  for (let ox = 0; ox < ox0; ox++) out[row + ox] = 0;
                  for (let ox = ox1; ox < OW; ox++) out[row + ox] = 0;
                }
              }
              out.fill(0, dst + oy1 * OW, dst + OH * OW);
              dst += OH * OW;
              continue;
            }
            for (let oy = 0; oy < OH; oy++) {
              if (oy < oy0 || oy >= oy1) {
                out.fill(0, dst, dst + OW);
                dst += OW;
                continue;
              }
              const row = plane + (oy * sh + ky - top) * W + kx - left;
              if (ox0 > 0) out.fill(0, dst, dst + ox0);
              if (sw === 1 && ox1 - ox0 >= 64) {
                out.set(src.subarray(row + ox0, row + ox1), dst + ox0);
              } else if (sw === 1) {
                // Short rows (a flow's 8×8 maps): creating a subarray view per row costs more than the copy.
                for (let ox = ox0; ox < ox1; ox++) out[dst + ox] = src[row + ox]!;
              } else {
                for (let ox = ox0; ox < ox1; ox++) out[dst + ox] = src[row + ox * sw]!;
              }
              if (ox1 < OW) out.fill(0, dst + ox1, dst + OW);
              dst += OW;
            }
          }
        }
      }
    }
  }) as tf.Tensor2D;
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
