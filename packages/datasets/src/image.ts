import { InvalidImageError } from './errors.js';
import { decodeImageFile } from './decode.js';
import { DEFAULT_MAX_PIXELS, resizeRaster, type Raster } from './raster.js';
import type { DecodedImage, ImageItem, LoadOptions } from './types.js';

/** Resizes a decoded raster into the item's `DecodedImage`. */
export function toDecodedImage(item: ImageItem, raster: Raster, options: LoadOptions): DecodedImage {
  const channels = options.channels ?? 3;
  return { id: item.id, label: item.label, data: resizeRaster(raster, options), width: options.size, height: options.size, channels };
}

/** Loads an item whose source is a file (every folder-style dataset). */
export async function loadFileItem(item: ImageItem, options: LoadOptions, defaultMaxPixels = DEFAULT_MAX_PIXELS): Promise<DecodedImage> {
  if (item.source.kind !== 'file') {
    throw new InvalidImageError(item.id, `this dataset loads files, but the item's source is a ${item.source.kind}`);
  }
  const raster = await decodeImageFile(item.source.path, options.maxPixels ?? defaultMaxPixels, options.tolerateWarnings ?? false);
  return toDecodedImage(item, raster, options);
}
