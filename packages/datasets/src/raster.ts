import type { LoadOptions } from './types.js';

/**
 * Pixels at their stored size, before resizing: HWC, `data[i] * scale` in [0, 1]. Integer data
 * (8/16-bit) stays integer until the resize, so a large image costs its stored size, not 4 bytes a
 * sample.
 */
export interface Raster {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array | Uint16Array | Float32Array;
  scale: number;
}

/** Images above this many pixels (100 Mpx) are refused before decoding unless `maxPixels` says otherwise. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

interface Taps {
  /** First input index of output i. */
  first: Int32Array;
  /** Number of taps of output i. */
  count: Int32Array;
  /** Offset of output i's weights in `weights`. */
  offset: Int32Array;
  weights: Float32Array;
}

/**
 * One axis of the resampling, from `length` input samples to `outLength` outputs. Shrinking uses
 * area weights (each output is the mean of the input interval it covers, partial pixels weighted by
 * their overlap, as OpenCV's INTER_AREA); growing uses bilinear interpolation with half-pixel
 * centres (as OpenCV's INTER_LINEAR and PyTorch's align_corners=False), edges clamped.
 */
export function resampleTaps(length: number, outLength: number): Taps {
  const first = new Int32Array(outLength);
  const count = new Int32Array(outLength);
  const offset = new Int32Array(outLength);
  const weights: number[] = [];
  if (outLength < length) {
    const ratio = length / outLength;
    for (let o = 0; o < outLength; o++) {
      const start = o * ratio;
      const end = (o + 1) * ratio;
      const i0 = Math.floor(start);
      const i1 = Math.min(length, Math.ceil(end));
      first[o] = i0;
      offset[o] = weights.length;
      for (let i = i0; i < i1; i++) {
        const overlap = Math.min(end, i + 1) - Math.max(start, i);
        weights.push(overlap / ratio);
      }
      count[o] = i1 - i0;
    }
  } else {
    for (let o = 0; o < outLength; o++) {
      let src = ((o + 0.5) * length) / outLength - 0.5;
      if (src < 0) src = 0;
      if (src > length - 1) src = length - 1;
      const i0 = Math.floor(src);
      const frac = src - i0;
      first[o] = i0;
      offset[o] = weights.length;
      if (frac > 0 && i0 + 1 < length) {
        weights.push(1 - frac, frac);
        count[o] = 2;
      } else {
        weights.push(1);
        count[o] = 1;
      }
    }
  }
  return { first, count, offset, weights: Float32Array.from(weights) };
}

/** The region of the raster that is resized: all of it, or its central square. */
export function cropRegion(width: number, height: number, centerCrop: boolean): { x: number; y: number; width: number; height: number } {
  if (!centerCrop) return { x: 0, y: 0, width, height };
  const side = Math.min(width, height);
  return { x: Math.floor((width - side) / 2), y: Math.floor((height - side) / 2), width: side, height: side };
}

/**
 * Crops, resizes (area when shrinking, bilinear when growing, per axis) and converts channels:
 * returns size × size × channels float32 in [0, 1] (values are clamped to [0, 1]).
 */
export function resizeRaster(raster: Raster, options: LoadOptions): Float32Array {
  const size = options.size;
  if (!Number.isInteger(size) || size < 1) throw new Error(`load: size must be a positive whole number of pixels, got ${size}`);
  const outChannels = options.channels ?? 3;
  if (outChannels !== 1 && outChannels !== 3) throw new Error(`load: channels must be 1 or 3, got ${String(outChannels)}`);
  const { width, channels: c, data, scale } = raster;
  const region = cropRegion(raster.width, raster.height, options.centerCrop ?? false);
  const tx = resampleTaps(region.width, size);
  const ty = resampleTaps(region.height, size);

  // Horizontal pass over the rows of the region: region.height × size × c. Each source row is
  // first copied to a float32 row so the inner loops see one array type (V8 keeps them fast).
  const tmp = new Float32Array(region.height * size * c);
  const rowLen0 = region.width * c;
  const row = new Float32Array(rowLen0);
  const { first, count, offset, weights } = tx;
  for (let y = 0; y < region.height; y++) {
    const rowBase = ((region.y + y) * width + region.x) * c;
    for (let i = 0; i < rowLen0; i++) row[i] = data[rowBase + i]! * scale;
    let out = y * size * c;
    if (c === 1) {
      for (let o = 0; o < size; o++) {
        const f = first[o]!;
        const n = count[o]!;
        const wo = offset[o]!;
        let acc = 0;
        for (let k = 0; k < n; k++) acc += weights[wo + k]! * row[f + k]!;
        tmp[out++] = acc;
      }
    } else {
      for (let o = 0; o < size; o++) {
        const f = first[o]! * 3;
        const n = count[o]!;
        const wo = offset[o]!;
        let r = 0;
        let g = 0;
        let b = 0;
        for (let k = 0; k < n; k++) {
          const w = weights[wo + k]!;
          const p = f + 3 * k;
          r += w * row[p]!;
          g += w * row[p + 1]!;
          b += w * row[p + 2]!;
        }
        tmp[out++] = r;
        tmp[out++] = g;
        tmp[out++] = b;
      }
    }
  }
  // Vertical pass, clamped to [0, 1]: size × size × c.
  const rowLen = size * c;
  const resized = new Float32Array(size * rowLen);
  for (let o = 0; o < size; o++) {
    const f = ty.first[o]!;
    const n = ty.count[o]!;
    const wo = ty.offset[o]!;
    const outBase = o * rowLen;
    if (n === 1) {
      const base = f * rowLen;
      for (let j = 0; j < rowLen; j++) {
        const v = tmp[base + j]!;
        resized[outBase + j] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    } else if (n === 2) {
      const w0 = ty.weights[wo]!;
      const w1 = ty.weights[wo + 1]!;
      const b0 = f * rowLen;
      const b1 = b0 + rowLen;
      for (let j = 0; j < rowLen; j++) {
        const v = w0 * tmp[b0 + j]! + w1 * tmp[b1 + j]!;
        resized[outBase + j] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    } else {
      for (let k = 0; k < n; k++) {
        const w = ty.weights[wo + k]!;
        const base = (f + k) * rowLen;
        for (let j = 0; j < rowLen; j++) resized[outBase + j]! += w * tmp[base + j]!;
      }
      for (let j = 0; j < rowLen; j++) {
        const v = resized[outBase + j]!;
        resized[outBase + j] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
  }
  return convertChannels(resized, size * size, c, outChannels);
}

/** Gray → 3 channels by repetition; RGB → gray as luma (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B, as PIL's "L"). */
export function convertChannels(data: Float32Array, pixels: number, from: 1 | 3, to: 1 | 3): Float32Array {
  if (from === to) return data;
  if (from === 1) {
    const out = new Float32Array(pixels * 3);
    for (let i = 0; i < pixels; i++) {
      const v = data[i]!;
      out[3 * i] = v;
      out[3 * i + 1] = v;
      out[3 * i + 2] = v;
    }
    return out;
  }
  const out = new Float32Array(pixels);
  for (let i = 0; i < pixels; i++) out[i] = 0.299 * data[3 * i]! + 0.587 * data[3 * i + 1]! + 0.114 * data[3 * i + 2]!;
  return out;
}

/** Refuses a width × height above the pixel limit (before any pixel is decoded). */
export function checkPixelLimit(width: number, height: number, maxPixels: number): string | undefined {
  if (width * height > maxPixels) {
    return `image is ${width}×${height} = ${(width * height / 1e6).toFixed(1)} Mpx, above the limit of ${(maxPixels / 1e6).toFixed(1)} Mpx (raise maxPixels to accept it)`;
  }
  return undefined;
}
