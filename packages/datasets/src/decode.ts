import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import sharp from 'sharp';
import { BmpError, decodeBmp } from './bmp.js';
import { DicomError, decodeDicomAsync } from './dicom.js';
import { dicomCodecs } from './dicom-codecs.js';
import { InvalidImageError, messageOf } from './errors.js';
import { checkPixelLimit, DEFAULT_MAX_PIXELS, type Raster } from './raster.js';

/** File extensions the folder loaders pick up (lower case, with the dot). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.dcm', '.dicom'] as const;

/** Is this the 132-byte DICOM Part 10 preamble + "DICM"? */
function isDicomPart10(b: Uint8Array): boolean {
  return b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;
}

/**
 * Decodes an image in memory to a `Raster` at its stored size. DICOM (by its "DICM" marker, or a
 * `.dcm` name) goes to dicom-parser and, when compressed, the Cornerstone codecs, BMP to the built-in decoder, everything else to sharp (PNG,
 * JPEG incl. CMYK and progressive, TIFF, WebP, GIF). 16-bit PNG/TIFF stay 16-bit. Every failure is
 * an `InvalidImageError` naming `path`.
 */
export async function decodeImageBytes(bytes: Uint8Array, path: string, maxPixels = DEFAULT_MAX_PIXELS, tolerateWarnings = false): Promise<Raster> {
  if (bytes.length === 0) throw new InvalidImageError(path, 'empty file (0 bytes)');
  const ext = extname(path).toLowerCase();
  try {
    if (isDicomPart10(bytes)) return await decodeDicomAsync(bytes, { maxPixels, codecs: dicomCodecs });
    if (ext === '.dcm' || ext === '.dicom') return await decodeDicomAsync(bytes, { maxPixels, assumeRawDataset: true, codecs: dicomCodecs });
    if (bytes[0] === 0x42 && bytes[1] === 0x4d) return decodeBmp(bytes, maxPixels);
  } catch (err) {
    if (err instanceof DicomError || err instanceof BmpError) throw new InvalidImageError(path, err.message, err.code);
    throw err;
  }
  return decodeWithSharp(bytes, path, maxPixels, tolerateWarnings);
}

/** Reads and decodes one image file (see `decodeImageBytes`). */
export async function decodeImageFile(path: string, maxPixels = DEFAULT_MAX_PIXELS, tolerateWarnings = false): Promise<Raster> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InvalidImageError(path, code === 'ENOENT' ? 'file not found' : `cannot be read (${messageOf(err)})`);
  }
  return decodeImageBytes(bytes, path, maxPixels, tolerateWarnings);
}

/** Why sharp refused a file, in words (exported for its test; not part of the package entry). */
export function sharpReason(err: unknown): string {
  // libvips' message may continue on further lines (e.g. "Input buffer has corrupt header:" then
  // "pngload_buffer: libspng read error"): classify on all of it, show it on one line
  const msg = messageOf(err)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
  if (/unsupported image format/i.test(msg)) return 'not an image in a supported format (PNG, JPEG, BMP, TIFF, DICOM, WebP, GIF)';
  if (/exceeds pixel limit/i.test(msg)) return `image is above the pixel limit (${msg})`;
  // a header that cannot be parsed is not a decoder warning: tolerateWarnings would not help
  if (/premature end|end of stream|truncat|unexpected end|read error|not enough data|incomplete|corrupt header/i.test(msg)) return `truncated or corrupt image (${msg})`;
  if (/corrupt/i.test(msg)) return `corrupt image data (${msg}); if the decoder's warning is harmless for your files, load with tolerateWarnings`;
  return `corrupt image (${msg})`;
}

/** sharp's refusal as an `InvalidImageError`, classified once here (libvips only gives text). */
function sharpError(path: string, err: unknown): InvalidImageError {
  const msg = messageOf(err);
  const code = /exceeds pixel limit/i.test(msg) ? 'too-large' : /unsupported image format/i.test(msg) ? 'unsupported' : 'invalid';
  return new InvalidImageError(path, sharpReason(err), code);
}

async function decodeWithSharp(bytes: Uint8Array, path: string, maxPixels: number, tolerateWarnings: boolean): Promise<Raster> {
  // failOn 'warning' by default: libjpeg reports corrupt entropy-coded data only as a warning and
  // would otherwise hand back a garbled image silently. tolerateWarnings still refuses truncation.
  // The header is read without a pixel limit so the refusal can name the size; the decode has one.
  const image = sharp(bytes, { limitInputPixels: Math.max(1, Math.floor(maxPixels)), failOn: tolerateWarnings ? 'truncated' : 'warning', sequentialRead: true });
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw sharpError(path, err);
  }
  if (!meta.width || !meta.height) throw new InvalidImageError(path, 'image has no size in its header');
  const limit = checkPixelLimit(meta.width, meta.height, maxPixels);
  if (limit) throw new InvalidImageError(path, limit, 'too-large');
  const bands = meta.channels ?? 3;
  const gray = meta.space === 'b-w' || meta.space === 'grey16' || (bands <= 2 && meta.space !== 'cmyk' && !meta.isPalette);
  const deep = meta.depth === 'ushort';
  const float = meta.depth !== undefined && meta.depth !== 'uchar' && meta.depth !== 'ushort';
  let pipeline = image;
  if (gray) pipeline = pipeline.extractChannel(0);
  else pipeline = pipeline.removeAlpha().toColourspace(deep ? 'rgb16' : 'srgb');
  if (gray && deep) pipeline = pipeline.toColourspace('grey16');
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await pipeline.raw({ depth: deep ? 'ushort' : float ? 'float' : 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw sharpError(path, err);
  }
  const { data, info } = out;
  let c = info.channels;
  if (c !== 1 && c !== 3) throw new InvalidImageError(path, `decoded to ${c} channels; expected gray or RGB`);
  const count = info.width * info.height * c;
  if (deep) {
    let samples: Uint16Array = new Uint16Array(count);
    const src = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let i = 0; i < count; i++) samples[i] = src.getUint16(2 * i, true);
    if (c === 3 && isGrayRgb(samples)) {
      samples = firstOfThree(samples) as Uint16Array;
      c = 1;
    }
    return { width: info.width, height: info.height, channels: c, data: samples, scale: 1 / 65535 };
  }
  if (float) {
    // Samples that are not 8/16-bit integers (float or 32-bit TIFF): min–max over the image.
    const src = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const samples = new Float32Array(count);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < count; i++) {
      const x = src.getFloat32(4 * i, true);
      samples[i] = x;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    const range = hi - lo;
    for (let i = 0; i < count; i++) samples[i] = range > 0 ? (samples[i]! - lo) / range : 0;
    return { width: info.width, height: info.height, channels: c, data: samples, scale: 1 };
  }
  let bytes8: Uint8Array = new Uint8Array(data.buffer, data.byteOffset, count);
  if (c === 3 && isGrayRgb(bytes8)) {
    bytes8 = firstOfThree(bytes8) as Uint8Array;
    c = 1;
  }
  return { width: info.width, height: info.height, channels: c, data: bytes8, scale: 1 / 255 };
}

/**
 * Gray images stored as RGB (most X-ray JPEGs are): R = G = B everywhere. Such a raster is kept as
 * one channel — the same pixels, a third of the resize work; gray → 3 channels happens after.
 */
function isGrayRgb(data: Uint8Array | Uint16Array): boolean {
  for (let i = 0; i < data.length; i += 3) if (data[i] !== data[i + 1] || data[i] !== data[i + 2]) return false;
  return true;
}

function firstOfThree(data: Uint8Array | Uint16Array): Uint8Array | Uint16Array {
  const out = data instanceof Uint8Array ? new Uint8Array(data.length / 3) : new Uint16Array(data.length / 3);
  for (let i = 0, j = 0; j < out.length; i += 3, j++) out[j] = data[i]!;
  return out;
}
