import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { parseNpy, parseNpz } from './npy.js';
import { readNpz } from './npz-file.js';
import { makeNpy, tempDir } from './test-helpers.js';

describe('.npy', () => {
  it('reads uint8, little- and big-endian int16, float32, int64 and bool arrays with their shapes', () => {
    const u8 = parseNpy(makeNpy('|u1', [2, 3], Uint8Array.from([1, 2, 3, 4, 5, 6])));
    expect(u8.shape).toEqual([2, 3]);
    expect(u8.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(u8.data)).toEqual([1, 2, 3, 4, 5, 6]);
    const le = new Uint8Array(Int16Array.from([-2, 300]).buffer);
    expect(Array.from(parseNpy(makeNpy('<i2', [2], le)).data)).toEqual([-2, 300]);
    const be = Uint8Array.from([0xff, 0xfe, 0x01, 0x2c]);
    expect(Array.from(parseNpy(makeNpy('>i2', [2], be)).data)).toEqual([-2, 300]);
    const f4 = parseNpy(makeNpy('<f4', [3], new Uint8Array(Float32Array.from([0.5, -1, 3.25]).buffer)));
    expect(Array.from(f4.data)).toEqual([0.5, -1, 3.25]);
    const i8 = parseNpy(makeNpy('<i8', [2, 1], new Uint8Array(BigInt64Array.from([7n, -3n]).buffer)));
    expect(i8.shape).toEqual([2, 1]);
    expect(Array.from(i8.data)).toEqual([7, -3]);
    expect(parseNpy(makeNpy('|b1', [], Uint8Array.from([1]))).shape).toEqual([]);
  });

  it('refuses truncated data, Fortran order, unknown dtypes and non-npy bytes, naming the array', () => {
    const good = makeNpy('<f4', [4], new Uint8Array(16));
    expect(() => parseNpy(good.subarray(0, good.length - 4), 'x.npy')).toThrow(/x\.npy: .*truncated file/);
    const fortran = new TextDecoder('latin1').decode(good).replace("'fortran_order': False", "'fortran_order': True ");
    expect(() => parseNpy(Uint8Array.from(fortran, (c) => c.charCodeAt(0)))).toThrow(/Fortran-order/);
    expect(() => parseNpy(makeNpy('<c8', [1], new Uint8Array(8)))).toThrow(/dtype <c8 is not supported/);
    expect(() => parseNpy(new TextEncoder().encode('hello there'), 'y.npy')).toThrow(/y\.npy: not a \.npy array/);
  });
});

describe('.npz', () => {
  it('decompresses only the requested arrays and lists all names', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, 'a.npz');
      const zip = zipSync({
        'train_images.npy': makeNpy('|u1', [2, 2, 2], Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7])),
        'train_labels.npy': makeNpy('|u1', [2, 1], Uint8Array.from([0, 1])),
        'val_images.npy': makeNpy('|u1', [1, 2, 2], Uint8Array.from([9, 9, 9, 9])),
      });
      await writeFile(path, zip);
      const npz = await readNpz(path, ['train_labels']);
      expect(npz.names).toEqual(['train_images', 'train_labels', 'val_images']);
      expect([...npz.arrays.keys()]).toEqual(['train_labels']);
      expect(Array.from(npz.arrays.get('train_labels')!.data)).toEqual([0, 1]);
      await writeFile(join(dir, 'bad.npz'), 'not a zip');
      await expect(readNpz(join(dir, 'bad.npz'))).rejects.toThrow(/bad\.npz: not a readable \.npz/);
    } finally {
      await cleanup();
    }
  });

  it('parses npz bytes without a file (browser-safe), naming the source and its arrays in errors', () => {
    const zip = zipSync({ 'x.npy': makeNpy('<f4', [2], new Uint8Array(Float32Array.from([1.5, -2]).buffer)), 'y.npy': new TextEncoder().encode('junk') });
    const npz = parseNpz(zip, 'fetched.npz', ['x']);
    expect(npz.names).toEqual(['x', 'y']);
    expect(Array.from(npz.arrays.get('x')!.data)).toEqual([1.5, -2]);
    expect(() => parseNpz(zip, 'fetched.npz')).toThrow(/fetched\.npz:y\.npy: not a \.npy array/);
    expect(() => parseNpz(new TextEncoder().encode('not a zip'), 'fetched.npz')).toThrow(/fetched\.npz: not a readable \.npz \(zip\) file/);
  });
});
