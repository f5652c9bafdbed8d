import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'fflate';
import type * as NiftiReader from 'nifti-reader-js';
import { messageOf } from './errors.js';

/** A 3-D scalar volume, x fastest: `data[x + X·(y + Y·z)]`, scaled by the header's scl_slope/scl_inter. */
export interface Volume {
  dims: [number, number, number];
  data: Float32Array;
}

type NiftiModule = typeof NiftiReader;
let niftiModule: Promise<NiftiModule> | undefined;

/**
 * nifti-reader-js ships ESM only (no "require" export): a dynamic import() loads it from both the
 * ESM and the CommonJS build of this package.
 */
function loadNifti(): Promise<NiftiModule> {
  niftiModule ??= import('nifti-reader-js');
  return niftiModule;
}

/** Reads a NIfTI-1/2 volume (`.nii` or `.nii.gz`); the first 3-D volume of a 4-D file. */
export async function readNiftiVolume(path: string): Promise<Volume> {
  const nifti = await loadNifti();
  let bytes: Uint8Array = await readFile(path);
  if (bytes.length === 0) throw new Error('empty file (0 bytes)');
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new Error(`corrupt gzip data (${messageOf(err)})`);
    }
  }
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  if (!nifti.isNIFTI(buffer)) throw new Error('not a NIfTI-1/2 file (no n+1/ni1/n+2 magic)');
  let header: ReturnType<NiftiModule['readHeader']>;
  let image: ArrayBuffer;
  try {
    header = nifti.readHeader(buffer);
    image = nifti.readImage(header, buffer);
  } catch (err) {
    throw new Error(`unreadable NIfTI (${messageOf(err)})`);
  }
  const X = header.dims[1] ?? 0;
  const Y = header.dims[2] ?? 1;
  const Z = header.dims[3] ?? 1;
  if (X < 1 || Y < 1 || Z < 1) throw new Error(`NIfTI has dimensions ${header.dims.slice(1, 4).join('×')}`);
  const n = X * Y * Z;
  const T = nifti.NIFTI1;
  const sizes: Record<number, number> = {
    [T.TYPE_UINT8]: 1,
    [T.TYPE_INT8]: 1,
    [T.TYPE_INT16]: 2,
    [T.TYPE_UINT16]: 2,
    [T.TYPE_INT32]: 4,
    [T.TYPE_UINT32]: 4,
    [T.TYPE_FLOAT32]: 4,
    [T.TYPE_FLOAT64]: 8,
  };
  const code = header.datatypeCode;
  const bytesPer = sizes[code];
  if (!bytesPer) throw new Error(`NIfTI datatype ${code} is not supported (integer, float32 and float64 scalars are)`);
  if (image.byteLength < n * bytesPer) throw new Error(`truncated NIfTI: ${X}×${Y}×${Z} voxels need ${n * bytesPer} bytes, the file holds ${image.byteLength}`);
  const view = new DataView(image);
  const le = header.littleEndian;
  const read: (o: number) => number =
    code === T.TYPE_UINT8
      ? (o) => view.getUint8(o)
      : code === T.TYPE_INT8
        ? (o) => view.getInt8(o)
        : code === T.TYPE_INT16
          ? (o) => view.getInt16(o, le)
          : code === T.TYPE_UINT16
            ? (o) => view.getUint16(o, le)
            : code === T.TYPE_INT32
              ? (o) => view.getInt32(o, le)
              : code === T.TYPE_UINT32
                ? (o) => view.getUint32(o, le)
                : code === T.TYPE_FLOAT32
                  ? (o) => view.getFloat32(o, le)
                  : (o) => view.getFloat64(o, le);
  // scl_slope 0 means "no scaling" in the NIfTI standard.
  const scaled = Number.isFinite(header.scl_slope) && header.scl_slope !== 0;
  const slope = scaled ? header.scl_slope : 1;
  const inter = scaled && Number.isFinite(header.scl_inter) ? header.scl_inter : 0;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = read(i * bytesPer) * slope + inter;
  return { dims: [X, Y, Z], data };
}
