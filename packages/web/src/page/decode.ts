import { decodeDicomAsync, DEFAULT_MAX_PIXELS, resizeRaster, type Raster } from '@aeflow/datasets';
import { cornerstoneDicomCodecs } from '@aeflow/datasets/dicom-codecs';
import { rasterFromRgba } from '../raster-rgba.js';

/** A file that could not be used, and why (shown on the page; nothing is dropped silently). */
export class PageImageError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

function isDicom(bytes: Uint8Array, name: string): boolean {
  const marker = bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
  return marker || /\.(dcm|dicom)$/i.test(name);
}

/**
 * The DICOM codecs (JPEG baseline, JPEG lossless, JPEG-LS, JPEG 2000), each loaded the first time a
 * file needs it. Their wasm files are served by the page's own origin (`codecs/` beside
 * index.html, copied there by the build): nothing is fetched from elsewhere, which the CSP would
 * refuse anyway.
 */
const dicomCodecs = cornerstoneDicomCodecs({ locateFile: (file) => new URL(`./codecs/${file}`, document.baseURI).href });

/**
 * A dropped file's pixels at their stored size. DICOM goes to `@aeflow/datasets`' byte decoder (the
 * CLI's, with the same codecs); PNG and JPEG to the browser's own decoders, asked not to
 * colour-manage, premultiply or rotate, so the samples are the file's — the CLI's decoder does none
 * of these either.
 */
export async function decodeFile(file: File): Promise<Raster> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (bytes.length === 0) throw new PageImageError(file.name, 'empty file (0 bytes)');
  if (isDicom(bytes, file.name)) {
    try {
      return await decodeDicomAsync(bytes, { maxPixels: DEFAULT_MAX_PIXELS, assumeRawDataset: !(bytes.length >= 132 && bytes[131] === 0x4d), codecs: dicomCodecs });
    } catch (err) {
      throw new PageImageError(file.name, err instanceof Error ? err.message : String(err));
    }
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'none' });
  } catch {
    throw new PageImageError(file.name, 'not an image this page can read (PNG, JPEG or uncompressed DICOM), or a corrupt one');
  }
  try {
    const { width, height } = bitmap;
    if (width * height > DEFAULT_MAX_PIXELS) throw new PageImageError(file.name, `image is ${width}×${height}, above the ${DEFAULT_MAX_PIXELS / 1e6} Mpx limit`);
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new PageImageError(file.name, 'the browser gave no 2-D canvas to read the pixels');
    ctx.drawImage(bitmap, 0, 0);
    const data = ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
    return rasterFromRgba(data, width, height);
  } finally {
    bitmap.close();
  }
}

/** The image as the model takes it: size × size × 3 in [0, 1] (the CLI's resize, `resizeRaster`). */
export function toModelInput(raster: Raster, size: number): Float32Array {
  return resizeRaster(raster, { size, channels: 3 });
}
