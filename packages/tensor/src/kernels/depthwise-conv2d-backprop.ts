import * as tf from '@tensorflow/tfjs-core';
import { backend_util, DepthwiseConv2dNativeBackpropFilter, DepthwiseConv2dNativeBackpropInput } from '@tensorflow/tfjs-core';
import type {
  DepthwiseConv2dNativeBackpropFilterAttrs,
  DepthwiseConv2dNativeBackpropInputAttrs,
  KernelBackend,
  KernelConfig,
  KernelFunc,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { composeKernel } from './compose.js';
import { heapLoopTensor, heapTensor } from './heap.js';

type Pad = DepthwiseConv2dNativeBackpropInputAttrs['pad'];
type Strides = [number, number] | number;
type Shape4 = [number, number, number, number];

/**
 * Dilations other than 1 are refused: tfjs's own gradient of depthwiseConv2d refuses them too, and
 * tfjs's cpu kernels (our reference) ignore them, so a dilated result could not be checked.
 */
function checkDilations(op: string, dilations: Strides | undefined): void {
  const [dh, dw] = dilations === undefined ? [1, 1] : typeof dilations === 'number' ? [dilations, dilations] : dilations;
  if (dh !== 1 || dw !== 1) {
    throw new Error(
      `${op} (aeflow's wasm kernel): attribute dilations is [${dh}, ${dw}], only 1 is supported; ` +
        'use dilations 1 (for a dilated filter, insert the zeros into the filter itself)',
    );
  }
}

function convInfo(op: string, xShape: Shape4, filterShape: Shape4, strides: Strides, pad: Pad, dimRoundingMode?: 'floor' | 'round' | 'ceil'): backend_util.Conv2DInfo {
  if (xShape[3] !== filterShape[2]) {
    throw new Error(`${op}: the input has ${xShape[3]} channels but the filter [${filterShape.join(', ')}] expects ${filterShape[2]} (its third dimension)`);
  }
  const info = backend_util.computeConv2DInfo(xShape, filterShape, strides, 1, pad, dimRoundingMode, true, 'channelsLast');
  if (!Number.isInteger(info.outHeight) || !Number.isInteger(info.outWidth)) {
    throw new Error(
      `${op}: pad ${JSON.stringify(pad)} with strides ${JSON.stringify(strides)} gives a fractional output size ` +
        `${info.outHeight} × ${info.outWidth}; set dimRoundingMode ('floor', 'round' or 'ceil') or choose a pad that divides evenly`,
    );
  }
  return info;
}

/**
 * Stride 1, multiplier 1: the input gradient is a forward depthwise convolution of `dy` with the
 * filter rotated 180°, padded so that every input position sees the offsets that touched it
 * (`dx[y] = Σ_ky dy[y + top − ky] · w[ky]`), run by wasm's own (XNNPACK, SIMD) depthwise kernel:
 * 5–6× faster than the heap loop on MobileNet's 8×8×512 maps. Undefined when a pad would be
 * negative (an explicit pad wider than the kernel): the loop handles that.
 */
function strideOneByForward(backend: BackendWasm, dy: tf.Tensor4D, filter: tf.Tensor4D, info: backend_util.Conv2DInfo): tf.Tensor4D | undefined {
  const { filterHeight: kh, filterWidth: kw, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const padTop = kh - 1 - info.padInfo.top;
  const padLeft = kw - 1 - info.padInfo.left;
  const padBottom = H + kh - 1 - padTop - OH;
  const padRight = W + kw - 1 - padLeft - OW;
  if (Math.min(padTop, padLeft, padBottom, padRight) < 0) return undefined;
  // R[ky, kx, c] = w[kh−1−ky, kw−1−kx, c]: kh·kw·C floats, copied once per call.
  const taps = kh * kw;
  const rotated = heapTensor(backend, [kh, kw, C, 1], [filter], (out, [w]) => {
    for (let t = 0; t < taps; t++) out.set(w!.subarray((taps - 1 - t) * C, (taps - t) * C), t * C);
  }) as tf.Tensor4D;
  return tf.depthwiseConv2d(dy, rotated, 1, [
    [0, 0],
    [padTop, padBottom],
    [padLeft, padRight],
    [0, 0],
  ]);
}

/**
 * The input gradient of `tf.depthwiseConv2d` (NHWC, filter [kh, kw, C, M], any strides, 'same',
 * 'valid' or explicit padding). Stride 1 with multiplier 1 (MobileNet's depthwise layers but four)
 * runs as a forward depthwise convolution (`strideOneByForward`); everything else as one loop over
 * the wasm heap: for every dx row, each kernel offset adds one dy row times one filter tap, channel
 * by channel (heap-loops.ts, `depthwiseInput`), rows split over the wasm threads. A depthwise
 * convolution does only kh·kw multiply-adds per value it reads, so there is no matrix product to
 * hand to XNNPACK.
 */
export function depthwiseConv2dBackpropInputNHWC(
  backend: BackendWasm,
  inputShape: Shape4,
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  strides: Strides,
  pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const info = convInfo(DepthwiseConv2dNativeBackpropInput, inputShape, filter.shape, strides, pad, dimRoundingMode);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const M = filter.shape[3];
  if (dy.shape[0] !== N || dy.shape[1] !== OH || dy.shape[2] !== OW || dy.shape[3] !== C * M) {
    throw new Error(`${DepthwiseConv2dNativeBackpropInput}: dy has shape [${dy.shape.join(', ')}], the convolution's output is [${N}, ${OH}, ${OW}, ${C * M}]`);
  }
  if (sh === 1 && sw === 1 && M === 1 && N * OH * OW > 0) {
    const viaForward = strideOneByForward(backend, dy, filter, info);
    if (viaForward !== undefined) return viaForward;
  }
  const { top, left } = info.padInfo;
  return heapLoopTensor(
    backend,
    [N, H, W, C],
    [dy, filter],
    'depthwiseInput',
    (out, [d, w]) => [out, d!, w!, H, W, C, M, OH, OW, kh, kw, sh, sw, top, left],
    N * H,
    N * H * W * C * M * kh * kw,
  ) as tf.Tensor4D;
}

/**
 * The filter gradient of `tf.depthwiseConv2d` (NHWC) as one loop over the wasm heap: each weight
 * sums N·OH·OW products, in float64, in a fixed order (heap-loops.ts, `depthwiseFilter`); the input
 * channels split over the wasm threads.
 */
export function depthwiseConv2dBackpropFilterNHWC(
  backend: BackendWasm,
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: Shape4,
  strides: Strides,
  pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  const info = convInfo(DepthwiseConv2dNativeBackpropFilter, x.shape, filterShape, strides, pad, dimRoundingMode);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const M = filterShape[3];
  if (dy.shape[0] !== N || dy.shape[1] !== OH || dy.shape[2] !== OW || dy.shape[3] !== C * M) {
    throw new Error(`${DepthwiseConv2dNativeBackpropFilter}: dy has shape [${dy.shape.join(', ')}], the convolution's output is [${N}, ${OH}, ${OW}, ${C * M}]`);
  }
  const { top, left } = info.padInfo;
  return heapLoopTensor(
    backend,
    filterShape,
    [x, dy],
    'depthwiseFilter',
    (out, [xs, d]) => [out, xs!, d!, N, H, W, C, M, OH, OW, kh, kw, sh, sw, top, left],
    C,
    N * OH * OW * C * M * kh * kw,
  ) as tf.Tensor4D;
}

const depthwiseInputKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dilations, dimRoundingMode, inputShape } = attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
  checkDilations(DepthwiseConv2dNativeBackpropInput, dilations);
  return composeKernel(backend as KernelBackend, [dy, filter], (dyt, ft) =>
    depthwiseConv2dBackpropInputNHWC(backend as BackendWasm, inputShape, dyt as tf.Tensor4D, ft as tf.Tensor4D, strides, pad, dimRoundingMode),
  );
};

const depthwiseFilterKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dilations, dimRoundingMode, filterShape } = attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
  checkDilations(DepthwiseConv2dNativeBackpropFilter, dilations);
  return composeKernel(backend as KernelBackend, [x, dy], (xt, dyt) =>
    depthwiseConv2dBackpropFilterNHWC(backend as BackendWasm, xt as tf.Tensor4D, dyt as tf.Tensor4D, filterShape, strides, pad, dimRoundingMode),
  );
};

/** `DepthwiseConv2dNativeBackpropInput` for wasm, which lacks it (the input gradient of depthwiseConv2d). */
export const depthwiseConv2dBackpropInputConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseInputKernel,
};

/** `DepthwiseConv2dNativeBackpropFilter` for wasm, which lacks it (the filter gradient of depthwiseConv2d). */
export const depthwiseConv2dBackpropFilterConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseFilterKernel,
};
