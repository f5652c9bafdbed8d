import type { Raster } from '@aeflow/datasets';

/**
 * A `Raster` (what `@aeflow/datasets`' decoders return) from the RGBA bytes a browser's image
 * decoder hands over (`ImageData.data`, un-premultiplied). Alpha is dropped, as the CLI's decoder
 * (sharp's `removeAlpha`) drops it; an image whose red, green and blue are equal everywhere — most
 * X-ray PNGs and JPEGs — becomes one channel, as the CLI's decoder keeps it, so both resize the
 * same samples and score the same.
 */
export function rasterFromRgba(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): Raster {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`rasterFromRgba: width and height must be positive whole numbers, got ${width}×${height}`);
  }
  const pixels = width * height;
  if (rgba.length !== pixels * 4) {
    throw new Error(`rasterFromRgba: ${rgba.length} bytes for ${width}×${height} RGBA pixels, expected ${pixels * 4}`);
  }
  let gray = true;
  for (let i = 0; i < rgba.length; i += 4) {
    if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) {
      gray = false;
      break;
    }
  }
  if (gray) {
    const data = new Uint8Array(pixels);
    for (let p = 0; p < pixels; p++) data[p] = rgba[4 * p]!;
    return { width, height, channels: 1, data, scale: 1 / 255 };
  }
  const data = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    data[3 * p] = rgba[4 * p]!;
    data[3 * p + 1] = rgba[4 * p + 1]!;
    data[3 * p + 2] = rgba[4 * p + 2]!;
  }
  return { width, height, channels: 3, data, scale: 1 / 255 };
}
