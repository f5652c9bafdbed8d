import * as tf from '@tensorflow/tfjs-core';
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBFloat16Bits, float32ToFloat16Bits } from './half.js';

/**
 * safetensors (the Hugging Face format): 8-byte little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`, then the
 * raw little-endian tensor bytes. Offsets are relative to the end of the header.
 */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'U16' | 'U32' | 'BOOL';

const BYTES: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, U16: 2, U32: 4, BOOL: 1,
};
const MAX_HEADER = 100 * 1024 * 1024;

export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte range of the data, relative to the end of the header. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  entries: Record<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** Absolute file offset where the data section starts. */
  dataStart: number;
}

function fail(source: string, what: string): never {
  throw new Error(`${source}: not a valid safetensors file: ${what}`);
}

/** Parses and checks a header (its JSON bytes), as stored after the 8-byte length. */
export function parseSafetensorsHeader(json: Uint8Array, dataBytes: number, source = 'safetensors'): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(json));
  } catch (err) {
    fail(source, `header is not JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(source, 'header is not a JSON object');
  const entries: Record<string, SafetensorsEntry> = {};
  let metadata: Record<string, string> = {};
  const ranges: Array<[number, number, string]> = [];
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null) fail(source, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(source, `__metadata__.${k} is not a string`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    const e = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e?.dtype !== 'string' || !(e.dtype in BYTES)) {
      fail(source, `tensor "${name}" has dtype ${JSON.stringify(e?.dtype)}; supported: ${Object.keys(BYTES).join(', ')}`);
    }
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(source, `tensor "${name}" has an invalid shape ${JSON.stringify(e.shape)}`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isInteger(o) && o >= 0) || off[0] > off[1]) {
      fail(source, `tensor "${name}" has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const dtype = e.dtype as SafetensorsDtype;
    const shape = e.shape as number[];
    const [b, en] = off as [number, number];
    const expected = shape.reduce((a, d) => a * d, 1) * BYTES[dtype];
    if (en - b !== expected) {
      fail(source, `tensor "${name}" (${dtype} ${JSON.stringify(shape)}) needs ${expected} bytes but its offsets span ${en - b}`);
    }
    if (en > dataBytes) {
      fail(source, `tensor "${name}" ends at byte ${en} of the data section, which has only ${dataBytes} bytes (file truncated?)`);
    }
    entries[name] = { dtype, shape, dataOffsets: [b, en] };
    ranges.push([b, en, name]);
  }
  ranges.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]![0] < ranges[i - 1]![1]) fail(source, `tensors "${ranges[i - 1]![2]}" and "${ranges[i]![2]}" overlap`);
  }
  return { entries, metadata, dataStart: 8 + json.length };
}

/** @internal The header length a file states in its first 8 bytes, checked against its size. */
export function headerLength(prefix: Uint8Array, total: number, source: string): number {
  if (total < 8) fail(source, `only ${total} bytes; a file starts with an 8-byte header length`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) fail(source, `header length ${n} is larger than ${MAX_HEADER} bytes`);
  if (Number(n) + 8 > total) fail(source, `header length ${n} runs past the end of the ${total}-byte file (truncated?)`);
  return Number(n);
}

/** Converts stored bytes to a tensor: floats → float32, integers → int32 (I64 checked for range), BOOL → bool. */
export function bytesToTensor(bytes: Uint8Array, entry: SafetensorsEntry, name = 'tensor'): tf.Tensor {
  const n = entry.shape.reduce((a, d) => a * d, 1);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (entry.dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return tf.tensor(out, entry.shape, 'float32');
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return tf.tensor(out, entry.shape, 'float32');
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = float16BitsToFloat32(view.getUint16(i * 2, true));
      return tf.tensor(out, entry.shape, 'float32');
    }
    case 'BF16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = bfloat16BitsToFloat32(view.getUint16(i * 2, true));
      return tf.tensor(out, entry.shape, 'float32');
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(i * 8, true);
        if (v > 2147483647n || v < -2147483648n) {
          throw new Error(`${name}: I64 value ${v} at index ${i} does not fit the int32 tensors TensorFlow.js has`);
        }
        out[i] = Number(v);
      }
      return tf.tensor(out, entry.shape, 'int32');
    }
    case 'BOOL':
      return tf.tensor(Uint8Array.from(bytes.subarray(0, n)), entry.shape, 'bool');
    default: {
      const out = new Int32Array(n);
      const get = {
        I32: (i: number) => view.getInt32(i * 4, true),
        I16: (i: number) => view.getInt16(i * 2, true),
        I8: (i: number) => view.getInt8(i),
        U8: (i: number) => view.getUint8(i),
        U16: (i: number) => view.getUint16(i * 2, true),
        U32: (i: number) => view.getUint32(i * 4, true),
      }[entry.dtype];
      for (let i = 0; i < n; i++) {
        const v = get(i);
        if (entry.dtype === 'U32' && v > 2147483647) throw new Error(`${name}: U32 value ${v} does not fit int32`);
        out[i] = v;
      }
      return tf.tensor(out, entry.shape, 'int32');
    }
  }
}

/** Parses and checks the header of an in-memory safetensors buffer (no tensor is made). */
export function decodeSafetensorsHeader(bytes: Uint8Array, source = 'safetensors'): SafetensorsHeader {
  const n = headerLength(bytes.subarray(0, 8), bytes.length, source);
  return parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n, source);
}

export interface DecodeSafetensorsOptions {
  /** Make tensors only of the names that pass this test. */
  filter?: (name: string) => boolean;
}

/** Decodes an in-memory safetensors buffer (e.g. a fetched file in a browser). */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = 'safetensors',
  options: DecodeSafetensorsOptions = {},
): { tensors: Record<string, tf.Tensor>; metadata: Record<string, string> } {
  const header = decodeSafetensorsHeader(bytes, source);
  const tensors: Record<string, tf.Tensor> = {};
  try {
    for (const [name, entry] of Object.entries(header.entries)) {
      if (options.filter && !options.filter(name)) continue;
      const [b, e] = entry.dataOffsets;
      tensors[name] = bytesToTensor(bytes.subarray(header.dataStart + b, header.dataStart + e), entry, `${source}: ${name}`);
    }
  } catch (err) {
    Object.values(tensors).forEach((t) => t.dispose());
    throw err;
  }
  return { tensors, metadata: header.metadata };
}

export interface WriteSafetensorsOptions {
  /** Store float32 tensors as F16 or BF16 (half the bytes; the feature cache uses F16). Default F32. */
  floatDtype?: 'F32' | 'F16' | 'BF16';
}

function tensorBytes(values: Float32Array | Int32Array | Uint8Array, tfDtype: string, dtype: SafetensorsDtype): Uint8Array {
  const n = values.length;
  const out = new Uint8Array(n * BYTES[dtype]);
  const view = new DataView(out.buffer);
  if (tfDtype === 'bool') {
    out.set(values);
    return out;
  }
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (dtype === 'F32') view.setFloat32(i * 4, v, true);
    else if (dtype === 'F16') view.setUint16(i * 2, float32ToFloat16Bits(v), true);
    else if (dtype === 'BF16') view.setUint16(i * 2, float32ToBFloat16Bits(v), true);
    else view.setInt32(i * 4, v, true);
  }
  return out;
}

/** Serialises tensors (keys sorted, as the reference implementation) to one buffer. */
export function encodeSafetensors(
  tensors: Record<string, tf.Tensor>,
  metadata?: Record<string, string>,
  options: WriteSafetensorsOptions = {},
): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    if (t.isDisposed) throw new Error(`writeSafetensors: tensor "${name}" is disposed`);
    let dtype: SafetensorsDtype;
    if (t.dtype === 'float32') dtype = options.floatDtype ?? 'F32';
    else if (t.dtype === 'int32') dtype = 'I32';
    else if (t.dtype === 'bool') dtype = 'BOOL';
    else throw new Error(`writeSafetensors: tensor "${name}" has dtype ${t.dtype}, which safetensors cannot hold`);
    const blob = tensorBytes(t.dataSync<"float32" | "int32" | "bool">(), t.dtype, dtype);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + blob.length] };
    blobs.push(blob);
    offset += blob.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8; // the spec pads the header with spaces to 8 bytes
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const b of blobs) {
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}
