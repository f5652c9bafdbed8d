import * as tf from '@tensorflow/tfjs-core';
import { Conv2DBackpropInput, GatherV2, SplitV, Sum, Tile } from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputConfig } from './conv2d-backprop-input.js';
import { depthwiseConv2dBackpropFilterConfig, depthwiseConv2dBackpropInputConfig } from './depthwise-conv2d-backprop.js';
import { ensureGradientsRegistered } from './gradients.js';
import { gatherV2Config, splitVConfig } from './last-axis.js';
import { sumConfig } from './sum.js';
import { tileConfig } from './tile.js';
import type { BackendPlatform } from '../backend.js';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum.js';

export { conv2dBackpropFilterNHWC, IM2COL_MAX_FLOATS } from './conv2d-backprop-filter.js';
export { conv2dBackpropInputNHWC } from './conv2d-backprop-input.js';
export { depthwiseConv2dBackpropFilterNHWC, depthwiseConv2dBackpropInputNHWC } from './depthwise-conv2d-backprop.js';
export { ensureGradientsRegistered } from './gradients.js';

/** The kernel names aeflow supplies or replaces on wasm. */
export const WASM_TRAINING_KERNELS = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'UnsortedSegmentSum',
  'GatherV2',
  'SplitV',
  'Sum',
  'Tile',
] as const;

const ours = new WeakSet<KernelConfig>();

function register(config: KernelConfig): void {
  const existing = tf.getKernel(config.kernelName, 'wasm');
  if (existing !== undefined && ours.has(existing)) return;
  // Unregister first: registerKernel would warn about overriding a kernel.
  if (existing !== undefined) tf.unregisterKernel(config.kernelName, 'wasm');
  ours.add(config);
  tf.registerKernel(config);
}

/**
 * Registers aeflow's wasm training kernels (idempotent): `Conv2DBackpropFilter` (missing in
 * tfjs-backend-wasm), a fast `Conv2DBackpropInput` (wasm's is a naive loop; the original stays as
 * the fallback for unequal strides and NCHW), `DepthwiseConv2dNativeBackpropInput` and
 * `DepthwiseConv2dNativeBackpropFilter` (missing in tfjs-backend-wasm: without them no gradient
 * flows through a MobileNet's depthwise convolutions), `UnsortedSegmentSum` (gather's gradient), and
 * `GatherV2` / `SplitV` along the last axis (a flow's channel permutations and coupling splits;
 * wasm's originals handle the other axes), and `Sum` over leading or middle axes (bias gradients;
 * bit for bit what wasm's computes, without its transpose), and `Tile` as row copies (BatchNorm's
 * gradient tiles a [1, 1, 1, C] vector over the whole activation; wasm's took 70 ms for 1 M floats).
 * `initBackend` calls it when it selects wasm; models need no changes.
 */
export function registerWasmTrainingKernels(): void {
  register(conv2dBackpropFilterConfig);
  register(depthwiseConv2dBackpropInputConfig);
  register(depthwiseConv2dBackpropFilterConfig);
  register(unsortedSegmentSumConfig);
  const input = tf.getKernel(Conv2DBackpropInput, 'wasm');
  if (input === undefined) {
    throw new Error('registerWasmTrainingKernels: @tensorflow/tfjs-backend-wasm is not loaded (no Conv2DBackpropInput kernel for wasm)');
  }
  if (!ours.has(input)) register(conv2dBackpropInputConfig(input));
  for (const [name, wrap] of [
    [GatherV2, gatherV2Config],
    [SplitV, splitVConfig],
    [Sum, sumConfig],
    [Tile, tileConfig],
  ] as const) {
    const original = tf.getKernel(name, 'wasm');
    if (original === undefined) throw new Error(`registerWasmTrainingKernels: wasm has no ${name} kernel to extend`);
    if (!ours.has(original)) register(wrap(original));
  }
}

/**
 * The `initBackend` hook: gradients on every backend, and on wasm the threads asked for (when the
 * platform can start them) and the training kernels. Returns the wasm threads in use.
 */
export async function setupTrainingPath(name: string, threads: number, platform: BackendPlatform = {}): Promise<number | void> {
  ensureGradientsRegistered();
  if (name !== 'wasm') return;
  // Threads are fixed when wasm starts: asking for 1 later keeps a running pool (reported as is).
  // Without a starter (browser, or the main entry in Node) tfjs's own thread setting stands.
  const used = threads > 1 && platform.startWasmThreads ? await platform.startWasmThreads(threads) : await wasmThreadsInUse();
  registerWasmTrainingKernels();
  return used;
}

/** The wasm threads in use (1 until the backend starts). */
async function wasmThreadsInUse(): Promise<number> {
  try {
    return (await import('@tensorflow/tfjs-backend-wasm')).getThreadsCount();
  } catch {
    return 1;
  }
}
