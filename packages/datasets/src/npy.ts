import { unzipSync } from 'fflate';

export type NpyData = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

/** One array of a `.npy` file. */
export interface NpyArray {
  /** The numpy dtype string, e.g. `|u1`, `<f4`. */
  dtype: string;
  shape: number[];
  data: NpyData;
}

const DTYPES: Record<string, { bytes: number; make: (buf: ArrayBuffer, offset: number, n: number) => NpyData; get: (v: DataView, o: number, le: boolean) => number }> = {
  u1: { bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n), get: (v, o) => v.getUint8(o) },
  b1: { bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n), get: (v, o) => v.getUint8(o) },
  i1: { bytes: 1, make: (b, o, n) => new Int8Array(b, o, n), get: (v, o) => v.getInt8(o) },
  u2: { bytes: 2, make: (b, o, n) => new Uint16Array(b, o, n), get: (v, o, le) => v.getUint16(o, le) },
  i2: { bytes: 2, make: (b, o, n) => new Int16Array(b, o, n), get: (v, o, le) => v.getInt16(o, le) },
  u4: { bytes: 4, make: (b, o, n) => new Uint32Array(b, o, n), get: (v, o, le) => v.getUint32(o, le) },
  i4: { bytes: 4, make: (b, o, n) => new Int32Array(b, o, n), get: (v, o, le) => v.getInt32(o, le) },
  f4: { bytes: 4, make: (b, o, n) => new Float32Array(b, o, n), get: (v, o, le) => v.getFloat32(o, le) },
  f8: { bytes: 8, make: (b, o, n) => new Float64Array(b, o, n), get: (v, o, le) => v.getFloat64(o, le) },
  // int64 labels are common in numpy files: read as float64 (exact up to 2^53).
  i8: { bytes: 8, make: () => new Float64Array(0), get: (v, o, le) => Number(v.getBigInt64(o, le)) },
  u8: { bytes: 8, make: () => new Float64Array(0), get: (v, o, le) => Number(v.getBigUint64(o, le)) },
};

/**
 * Parses a `.npy` file (format versions 1–3): the magic `\x93NUMPY`, a version, a little-endian
 * header length, a Python-dict header (`descr`, `fortran_order`, `shape`), then the raw data.
 * C-order arrays of (u)int8/16/32, int64, float32/64 and bool, either byte order.
 */
export function parseNpy(bytes: Uint8Array, name = 'array'): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || !magic.every((b, i) => bytes[i] === b)) throw new Error(`${name}: not a .npy array (no \\x93NUMPY magic)`);
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new Error(`${name}: .npy format version ${major} is not supported (1, 2 and 3 are)`);
  }
  if (headerStart + headerLen > bytes.length) throw new Error(`${name}: .npy header runs past the end of the data (truncated file)`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new Error(`${name}: unreadable .npy header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True') throw new Error(`${name}: Fortran-order arrays are not supported; save it with np.ascontiguousarray`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => Number(s.replace(/L$/, '')));
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`${name}: bad shape (${shapeText}) in .npy header`);
  const order = descr[0]!;
  const kind = descr.slice(1);
  const spec = DTYPES[kind];
  if (!spec || !'<>|='.includes(order)) throw new Error(`${name}: dtype ${descr} is not supported (unsigned/signed integers, float32/64 and bool are)`);
  const count = shape.reduce((a, d) => a * d, 1);
  const dataStart = headerStart + headerLen;
  if (dataStart + count * spec.bytes > bytes.length) {
    throw new Error(`${name}: .npy data is ${bytes.length - dataStart} bytes, shape (${shape.join(', ')}) of ${descr} needs ${count * spec.bytes} (truncated file)`);
  }
  const littleEndian = order !== '>';
  const byteStart = bytes.byteOffset + dataStart;
  let data: NpyData;
  const nativeOk = (littleEndian || spec.bytes === 1) && kind !== 'i8' && kind !== 'u8';
  if (nativeOk && byteStart % spec.bytes === 0) {
    data = spec.make(bytes.buffer as ArrayBuffer, byteStart, count);
  } else if (nativeOk) {
    const copy = bytes.slice(dataStart, dataStart + count * spec.bytes);
    data = spec.make(copy.buffer, 0, count);
  } else {
    const out = kind === 'i8' || kind === 'u8' ? new Float64Array(count) : spec.make(new ArrayBuffer(count * spec.bytes), 0, count);
    for (let i = 0; i < count; i++) out[i] = spec.get(view, dataStart + i * spec.bytes, littleEndian);
    data = out;
  }
  return { dtype: descr, shape, data };
}

/** The arrays of a `.npz` file (a zip of `.npy` files) and the names of all arrays in it. */
export interface NpzContents {
  names: string[];
  arrays: Map<string, NpyArray>;
}

/**
 * Parses the bytes of a `.npz` file (a zip of `.npy` files); `source` names it in messages. With
 * `only`, decompresses just those arrays (names without `.npy`), so the other splits of a MedMNIST
 * file cost nothing.
 */
export function parseNpz(bytes: Uint8Array, source = 'npz', only?: readonly string[]): NpzContents {
  let files: Record<string, Uint8Array>;
  const names: string[] = [];
  try {
    files = unzipSync(bytes, {
      filter: (file) => {
        const n = file.name.replace(/\.npy$/, '');
        names.push(n);
        return only === undefined || only.includes(n);
      },
    });
  } catch (err) {
    throw new Error(`${source}: not a readable .npz (zip) file (${err instanceof Error ? err.message : String(err)})`);
  }
  const arrays = new Map<string, NpyArray>();
  for (const [fileName, content] of Object.entries(files)) {
    const n = fileName.replace(/\.npy$/, '');
    arrays.set(n, parseNpy(content, `${source}:${fileName}`));
  }
  return { names, arrays };
}
