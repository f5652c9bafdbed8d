// Writers of small test files (DICOM, NIfTI, BMP, float TIFF, .npy) for the tests of this package.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'fflate';

export async function tempDir(prefix = 'aeflow-datasets-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const LONG_VR = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN']);

/** One explicit-VR element (little-endian unless `be`); `value` is a string (padded to even length) or bytes. */
function dicomElement(group: number, element: number, vr: string, value: string | Uint8Array, be = false): Uint8Array {
  let bytes: Uint8Array;
  if (typeof value === 'string') {
    const padded = value.length % 2 === 1 ? value + (vr === 'UI' ? '\0' : ' ') : value;
    bytes = new TextEncoder().encode(padded);
  } else bytes = value;
  const long = LONG_VR.has(vr);
  const head = new Uint8Array(long ? 12 : 8);
  const v = new DataView(head.buffer);
  v.setUint16(0, group, !be);
  v.setUint16(2, element, !be);
  head[4] = vr.charCodeAt(0);
  head[5] = vr.charCodeAt(1);
  if (long) v.setUint32(8, bytes.length, !be);
  else v.setUint16(6, bytes.length, !be);
  return concat([head, bytes]);
}

function us(value: number, be = false): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, value, !be);
  return b;
}

export interface DicomSpec {
  rows: number;
  cols: number;
  /** Stored values, row-major (samples interleaved for RGB). */
  pixels: number[];
  bitsAllocated?: 8 | 16;
  bitsStored?: number;
  signed?: boolean;
  photometric?: 'MONOCHROME1' | 'MONOCHROME2' | 'RGB';
  slope?: number;
  intercept?: number;
  windowCenter?: number;
  windowWidth?: number;
  transferSyntax?: string;
}

/** A minimal DICOM Part 10 file: preamble, "DICM", meta group, image pixel module, pixel data. */
export function makeDicom(spec: DicomSpec): Uint8Array {
  const syntax = spec.transferSyntax ?? '1.2.840.10008.1.2.1';
  // Explicit VR Big Endian: the meta group stays little-endian, the data set is big-endian.
  const be = syntax === '1.2.840.10008.1.2.2';
  const el = (g: number, e: number, vr: string, value: string | Uint8Array) => dicomElement(g, e, vr, value, be);
  const u = (x: number) => us(x, be);
  const bits = spec.bitsAllocated ?? 16;
  const spp = spec.photometric === 'RGB' ? 3 : 1;
  const meta = concat([dicomElement(0x0002, 0x0001, 'OB', new Uint8Array([0, 1])), dicomElement(0x0002, 0x0010, 'UI', syntax)]);
  const groupLength = new Uint8Array(4);
  new DataView(groupLength.buffer).setUint32(0, meta.length, true);
  const pix = new Uint8Array(spec.pixels.length * (bits / 8) + ((spec.pixels.length * (bits / 8)) % 2));
  const pv = new DataView(pix.buffer);
  spec.pixels.forEach((p, i) => {
    if (bits === 8) pv.setUint8(i, p & 0xff);
    else pv.setUint16(2 * i, p & 0xffff, !be);
  });
  const els: Uint8Array[] = [
    dicomElement(0x0002, 0x0000, 'UL', groupLength),
    meta,
    el(0x0008, 0x0060, 'CS', 'OT'),
    el(0x0028, 0x0002, 'US', u(spp)),
    el(0x0028, 0x0004, 'CS', spec.photometric ?? 'MONOCHROME2'),
  ];
  if (spp === 3) els.push(el(0x0028, 0x0006, 'US', u(0)));
  els.push(
    el(0x0028, 0x0010, 'US', u(spec.rows)),
    el(0x0028, 0x0011, 'US', u(spec.cols)),
    el(0x0028, 0x0100, 'US', u(bits)),
    el(0x0028, 0x0101, 'US', u(spec.bitsStored ?? bits)),
    el(0x0028, 0x0102, 'US', u((spec.bitsStored ?? bits) - 1)),
    el(0x0028, 0x0103, 'US', u(spec.signed ? 1 : 0)),
  );
  if (spec.windowCenter !== undefined) els.push(el(0x0028, 0x1050, 'DS', String(spec.windowCenter)));
  if (spec.windowWidth !== undefined) els.push(el(0x0028, 0x1051, 'DS', String(spec.windowWidth)));
  if (spec.intercept !== undefined) els.push(el(0x0028, 0x1052, 'DS', String(spec.intercept)));
  if (spec.slope !== undefined) els.push(el(0x0028, 0x1053, 'DS', String(spec.slope)));
  els.push(el(0x7fe0, 0x0010, bits === 8 ? 'OB' : 'OW', pix));
  const preamble = new Uint8Array(132);
  preamble.set(new TextEncoder().encode('DICM'), 128);
  return concat([preamble, ...els]);
}

/** A NIfTI-1 single file (`n+1`), gzipped when `gzip`; `data` is x fastest. Datatype int16 or float32. */
export function makeNifti(dims: [number, number, number], data: ArrayLike<number>, options: { datatype?: 'int16' | 'float32' | 'uint8'; gzip?: boolean; slope?: number; intercept?: number } = {}): Uint8Array {
  const type = options.datatype ?? 'int16';
  const code = type === 'int16' ? 4 : type === 'float32' ? 16 : 2;
  const bytes = type === 'int16' ? 2 : type === 'float32' ? 4 : 1;
  const n = dims[0] * dims[1] * dims[2];
  const out = new Uint8Array(352 + n * bytes);
  const v = new DataView(out.buffer);
  v.setInt32(0, 348, true);
  const dim = [3, dims[0], dims[1], dims[2], 1, 1, 1, 1];
  dim.forEach((d, i) => v.setInt16(40 + 2 * i, d, true));
  v.setInt16(70, code, true);
  v.setInt16(72, bytes * 8, true);
  for (let i = 0; i < 8; i++) v.setFloat32(76 + 4 * i, 1, true);
  v.setFloat32(108, 352, true);
  v.setFloat32(112, options.slope ?? 0, true);
  v.setFloat32(116, options.intercept ?? 0, true);
  out.set(new TextEncoder().encode('n+1\0'), 344);
  for (let i = 0; i < n; i++) {
    const x = data[i]!;
    if (type === 'int16') v.setInt16(352 + 2 * i, x, true);
    else if (type === 'float32') v.setFloat32(352 + 4 * i, x, true);
    else v.setUint8(352 + i, x);
  }
  return options.gzip === false ? out : gzipSync(out);
}

/** A BMP: 24-bit BGR, 8-bit or 1-bit palette, or 32-bit with bit fields; bottom-up unless topDown. */
export function makeBmp(
  width: number,
  height: number,
  pixel: (x: number, y: number) => [number, number, number] | number,
  options: { bpp?: 1 | 4 | 8 | 16 | 24 | 32; palette?: [number, number, number][]; topDown?: boolean } = {},
): Uint8Array {
  const bpp = options.bpp ?? 24;
  const palette = options.palette ?? [];
  const bitfields = bpp === 32;
  const headerSize = 40;
  const paletteBytes = palette.length * 4;
  const extra = bitfields ? 12 : 0;
  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  const dataOffset = 14 + headerSize + extra + paletteBytes;
  const out = new Uint8Array(dataOffset + stride * height);
  const v = new DataView(out.buffer);
  out[0] = 0x42;
  out[1] = 0x4d;
  v.setUint32(2, out.length, true);
  v.setUint32(10, dataOffset, true);
  v.setUint32(14, headerSize, true);
  v.setInt32(18, width, true);
  v.setInt32(22, options.topDown ? -height : height, true);
  v.setUint16(26, 1, true);
  v.setUint16(28, bpp, true);
  v.setUint32(30, bitfields ? 3 : 0, true);
  v.setUint32(46, palette.length, true);
  if (bitfields) {
    // Unusual order on purpose: R in the low byte, B in the high byte.
    v.setUint32(54, 0x000000ff, true);
    v.setUint32(58, 0x0000ff00, true);
    v.setUint32(62, 0x00ff0000, true);
  }
  palette.forEach(([r, g, b], i) => {
    const o = 14 + headerSize + extra + 4 * i;
    out[o] = b;
    out[o + 1] = g;
    out[o + 2] = r;
  });
  for (let row = 0; row < height; row++) {
    const y = options.topDown ? row : height - 1 - row;
    const base = dataOffset + row * stride;
    for (let x = 0; x < width; x++) {
      const p = pixel(x, y);
      if (bpp === 24) {
        const [r, g, b] = p as [number, number, number];
        out[base + 3 * x] = b;
        out[base + 3 * x + 1] = g;
        out[base + 3 * x + 2] = r;
      } else if (bpp === 32) {
        const [r, g, b] = p as [number, number, number];
        v.setUint32(base + 4 * x, r | (g << 8) | (b << 16), true);
      } else if (bpp === 16) {
        const [r, g, b] = p as [number, number, number];
        v.setUint16(base + 2 * x, ((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3), true);
      } else if (bpp === 8) out[base + x] = p as number;
      else if (bpp === 4) out[base + (x >> 1)]! |= (p as number) << (x % 2 === 0 ? 4 : 0);
      else if (p as number) out[base + (x >> 3)]! |= 0x80 >> (x & 7);
    }
  }
  return out;
}

/** A little-endian single-strip TIFF of float32 gray samples. */
export function makeFloatTiff(width: number, height: number, values: ArrayLike<number>): Uint8Array {
  const entries: [number, number, number][] = [
    [256, 4, width],
    [257, 4, height],
    [258, 3, 32],
    [259, 3, 1],
    [262, 3, 1],
    [273, 4, 0], // strip offset, patched below
    [277, 3, 1],
    [278, 4, height],
    [279, 4, width * height * 4],
    [339, 3, 3],
  ];
  const ifdSize = 2 + entries.length * 12 + 4;
  const dataOffset = 8 + ifdSize;
  entries[5]![2] = dataOffset;
  const out = new Uint8Array(dataOffset + width * height * 4);
  const v = new DataView(out.buffer);
  out.set([0x49, 0x49, 42, 0], 0);
  v.setUint32(4, 8, true);
  v.setUint16(8, entries.length, true);
  entries.forEach(([tag, type, value], i) => {
    const o = 10 + 12 * i;
    v.setUint16(o, tag, true);
    v.setUint16(o + 2, type, true);
    v.setUint32(o + 4, 1, true);
    if (type === 3) v.setUint16(o + 8, value, true);
    else v.setUint32(o + 8, value, true);
  });
  for (let i = 0; i < width * height; i++) v.setFloat32(dataOffset + 4 * i, values[i]!, true);
  return out;
}

/** A version-1 `.npy` file. */
export function makeNpy(descr: string, shape: number[], data: Uint8Array): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(data, 10 + header.length);
  return out;
}
