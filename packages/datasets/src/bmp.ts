import type { InvalidImageCode } from './errors.js';
import { checkPixelLimit, type Raster } from './raster.js';

/** Thrown for a BMP that cannot be decoded; the caller adds the path. */
export class BmpError extends Error {
  constructor(
    message: string,
    readonly code: InvalidImageCode = 'invalid',
  ) {
    super(message);
  }
}

function maskShift(mask: number): { shift: number; max: number } {
  if (mask === 0) return { shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { shift, max: mask >>> shift };
}

/**
 * Decodes a Windows BMP (libvips, and so sharp, has no BMP loader): OS/2 core and
 * BITMAPINFOHEADER/V4/V5 headers; 1/4/8-bit palette, 16-bit (5-5-5 or bit fields), 24-bit and 32-bit
 * (BGRX or bit fields); bottom-up and top-down. RLE-compressed and embedded JPEG/PNG BMPs are
 * refused with a clear error. Palettes whose entries are all gray decode to one channel.
 */
export function decodeBmp(buf: Uint8Array, maxPixels: number): Raster {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 26 || buf[0] !== 0x42 || buf[1] !== 0x4d) throw new BmpError('not a BMP file (no "BM" signature)');
  const dataOffset = v.getUint32(10, true);
  const headerSize = v.getUint32(14, true);
  let width: number;
  let height: number;
  let bpp: number;
  let compression = 0;
  let paletteEntrySize = 4;
  let colorsUsed = 0;
  if (headerSize === 12) {
    width = v.getUint16(18, true);
    height = v.getInt16(20, true);
    bpp = v.getUint16(24, true);
    paletteEntrySize = 3;
  } else if (headerSize >= 40) {
    if (buf.length < 14 + 40) throw new BmpError('truncated BMP header');
    width = v.getInt32(18, true);
    height = v.getInt32(22, true);
    bpp = v.getUint16(28, true);
    compression = v.getUint32(30, true);
    colorsUsed = v.getUint32(46, true);
  } else {
    throw new BmpError(`unsupported BMP header size ${headerSize}`);
  }
  const topDown = height < 0;
  height = Math.abs(height);
  if (width <= 0 || height <= 0) throw new BmpError(`BMP has size ${width}×${height}`);
  const limit = checkPixelLimit(width, height, maxPixels);
  if (limit) throw new BmpError(limit, 'too-large');
  if (compression === 1 || compression === 2) throw new BmpError('RLE-compressed BMP is not supported; convert it to PNG', 'unsupported');
  if (compression === 4 || compression === 5) throw new BmpError('BMP with embedded JPEG/PNG is not supported; extract the embedded image', 'unsupported');
  if (compression !== 0 && compression !== 3 && compression !== 6) throw new BmpError(`BMP compression ${compression} is not supported`);

  let masks: [number, number, number, number] | undefined;
  if (compression === 3 || compression === 6) {
    // Bit fields follow a 40-byte header, or sit inside V4/V5 headers at the same place.
    const at = 14 + 40;
    if (buf.length < at + 12) throw new BmpError('truncated BMP bit-field masks');
    const alpha = compression === 6 || headerSize >= 56 ? v.getUint32(at + 12, true) : 0;
    masks = [v.getUint32(at, true), v.getUint32(at + 4, true), v.getUint32(at + 8, true), alpha];
  } else if (bpp === 16) {
    masks = [0x7c00, 0x03e0, 0x001f, 0];
  }

  let palette: Uint8Array | undefined;
  let grayPalette = false;
  if (bpp <= 8) {
    if (![1, 2, 4, 8].includes(bpp)) throw new BmpError(`BMP with ${bpp} bits per pixel is not supported`);
    const n = colorsUsed > 0 ? colorsUsed : 1 << bpp;
    const start = 14 + headerSize + (compression === 3 ? 12 : compression === 6 ? 16 : 0);
    if (start + n * paletteEntrySize > buf.length) throw new BmpError('truncated BMP palette');
    palette = new Uint8Array(n * 3);
    grayPalette = true;
    for (let i = 0; i < n; i++) {
      const b = buf[start + i * paletteEntrySize]!;
      const g = buf[start + i * paletteEntrySize + 1]!;
      const r = buf[start + i * paletteEntrySize + 2]!;
      palette[3 * i] = r;
      palette[3 * i + 1] = g;
      palette[3 * i + 2] = b;
      if (r !== g || g !== b) grayPalette = false;
    }
  } else if (bpp !== 16 && bpp !== 24 && bpp !== 32) {
    throw new BmpError(`BMP with ${bpp} bits per pixel is not supported`);
  }

  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  if (dataOffset + stride * height > buf.length) {
    throw new BmpError(`truncated BMP: pixel data needs ${stride * height} bytes from offset ${dataOffset}, the file has ${buf.length - dataOffset}`);
  }
  const channels: 1 | 3 = grayPalette ? 1 : 3;
  const out = new Uint8Array(width * height * channels);
  const fields = masks?.map(maskShift);
  for (let row = 0; row < height; row++) {
    const y = topDown ? row : height - 1 - row;
    const base = dataOffset + row * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * channels;
      if (palette) {
        let idx: number;
        if (bpp === 8) idx = buf[base + x]!;
        else {
          const bitPos = x * bpp;
          const byte = buf[base + (bitPos >> 3)]!;
          idx = (byte >> (8 - bpp - (bitPos & 7))) & ((1 << bpp) - 1);
        }
        if (3 * idx + 2 >= palette.length) throw new BmpError(`BMP pixel refers to palette entry ${idx} of ${palette.length / 3}`);
        if (channels === 1) out[o] = palette[3 * idx]!;
        else {
          out[o] = palette[3 * idx]!;
          out[o + 1] = palette[3 * idx + 1]!;
          out[o + 2] = palette[3 * idx + 2]!;
        }
      } else if (bpp === 24 || (bpp === 32 && !masks)) {
        const p = base + x * (bpp / 8);
        out[o] = buf[p + 2]!;
        out[o + 1] = buf[p + 1]!;
        out[o + 2] = buf[p]!;
      } else {
        const word = bpp === 16 ? v.getUint16(base + 2 * x, true) : v.getUint32(base + 4 * x, true);
        for (let c = 0; c < 3; c++) {
          const f = fields![c]!;
          out[o + c] = f.max === 0 ? 0 : Math.round((((word >>> f.shift) & f.max) * 255) / f.max);
        }
      }
    }
  }
  return { width, height, channels, data: out, scale: 1 / 255 };
}
