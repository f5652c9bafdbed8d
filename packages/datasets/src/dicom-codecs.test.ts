import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeImageBytes } from './decode.js';
import { decodeDicom, decodeDicomAsync, DicomError, type DicomCodecs } from './dicom.js';
import { dicomCodecs } from './dicom-codecs.js';
import { decodeRle } from './dicom-rle.js';
import { InvalidImageError } from './errors.js';
import type { Raster } from './raster.js';

// Made by fixtures/dicom/make-fixtures.sh (DCMTK and GDCM) from the uncompressed originals there.
const FIXTURES = join(dirname(dirname(fileURLToPath(import.meta.url))), 'fixtures', 'dicom');
const fixture = async (name: string) => new Uint8Array(await readFile(join(FIXTURES, name)));

function diff(a: Raster, b: Raster): { max: number; mean: number } {
  expect([a.width, a.height, a.channels]).toEqual([b.width, b.height, b.channels]);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! * a.scale - b.data[i]! * b.scale);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.data.length };
}

const LOSSLESS: [file: string, original: string, syntax: string][] = [
  ['mono16.jpegls.dcm', 'mono16.dcm', 'JPEG-LS Lossless'],
  ['rgb8.jpegls.dcm', 'rgb8.dcm', 'JPEG-LS Lossless'],
  ['mono16.j2k.dcm', 'mono16.dcm', 'JPEG 2000 Lossless'],
  ['rgb8.j2k.dcm', 'rgb8.dcm', 'JPEG 2000 Lossless'],
  ['mono16.jpeg-lossless.dcm', 'mono16.dcm', 'JPEG Lossless SV1'],
  ['rgb8.jpeg-lossless.dcm', 'rgb8.dcm', 'JPEG Lossless SV1'],
  ['mono16.rle.dcm', 'mono16.dcm', 'RLE Lossless'],
  ['rgb8.rle.dcm', 'rgb8.dcm', 'RLE Lossless'],
];

describe('compressed DICOM', () => {
  it.each(LOSSLESS)('%s (%s) decodes to exactly the pixels of %s', async (file, original) => {
    const want = decodeDicom(await fixture(original), 1e8);
    const got = await decodeDicomAsync(await fixture(file), { maxPixels: 1e8, codecs: dicomCodecs });
    expect(got.width).toBe(64);
    expect(got.height).toBe(48);
    expect(Array.from(got.data)).toEqual(Array.from(want.data));
  });

  it('JPEG-LS near-lossless (NEAR 2): every stored value within 2 of the original', async () => {
    const want = decodeDicom(await fixture('mono16.dcm'), 1e8);
    const got = await decodeDicomAsync(await fixture('mono16.jpegls-near.dcm'), { maxPixels: 1e8, codecs: dicomCodecs });
    // min–max scaled over a range of 4095: ±2 per value, and ±2 on the min and max, is ≤ 6/4093 at worst
    const d = diff(got, want);
    expect(d.max).toBeLessThanOrEqual(6 / 4093);
    expect(d.max).toBeGreaterThan(0); // it is lossy: the test would not notice a lossless decode of the wrong file
  });

  it('JPEG baseline (lossy, quality 95): gray and colour (YBR_FULL_422 → RGB) close to the original', async () => {
    // measured: gray mean 0.0054, max 0.024; colour mean 0.013, max 0.12 (4:2:2 chroma loses the
    // one-pixel checker). Colour left in YCbCr would be off by ~0.3 on average.
    for (const [file, original, mean, max] of [
      ['mono8.jpeg-baseline.dcm', 'mono8.dcm', 0.01, 0.05],
      ['rgb8.jpeg-baseline.dcm', 'rgb8.dcm', 0.025, 0.2],
    ] as const) {
      const want = decodeDicom(await fixture(original), 1e8);
      const got = await decodeDicomAsync(await fixture(file), { maxPixels: 1e8, codecs: dicomCodecs });
      const d = diff(got, want);
      expect(d.mean, file).toBeLessThan(mean);
      expect(d.max, file).toBeLessThan(max);
      expect(d.max, file).toBeGreaterThan(0);
    }
  });

  it('decodeImageBytes (Node) uses the codecs by itself: by the DICM marker, whatever the name', async () => {
    const want = decodeDicom(await fixture('mono16.dcm'), 1e8);
    const got = await decodeImageBytes(await fixture('mono16.j2k.dcm'), 'upload');
    expect(Array.from(got.data)).toEqual(Array.from(want.data));
  });

  it('the synchronous decodeDicom decodes RLE itself', async () => {
    expect(Array.from(decodeDicom(await fixture('mono16.rle.dcm'), 1e8).data)).toEqual(Array.from(decodeDicom(await fixture('mono16.dcm'), 1e8).data));
  });

  it('without a codec, or with one that fails to load: an unsupported-format error naming the syntax', async () => {
    const bytes = await fixture('rgb8.jpegls.dcm');
    expect(() => decodeDicom(bytes, 1e8)).toThrow(/JPEG-LS Lossless \(1\.2\.840\.10008\.1\.2\.4\.80\), which needs a codec: decode it with decodeDicomAsync/);
    await expect(decodeDicomAsync(bytes, { maxPixels: 1e8 })).rejects.toThrow(/needs the jpegLs codec, and none was given/);
    const broken: DicomCodecs = { jpegLs: () => Promise.reject(new Error('wasm blocked')) };
    const err = (await decodeDicomAsync(bytes, { maxPixels: 1e8, codecs: broken }).catch((e: unknown) => e)) as DicomError;
    expect(err).toBeInstanceOf(DicomError);
    expect(err.code).toBe('unsupported');
    expect(err.message).toMatch(/the jpegLs codec for JPEG-LS Lossless could not be loaded \(wasm blocked\)/);
  });

  it('a codestream without its start marker is an invalid-image error naming the file, and the codec still works after it', async () => {
    const cases: [string, number[]][] = [
      ['mono16.j2k.dcm', [0xff, 0x4f, 0xff, 0x51]], // JPEG 2000 SOC + SIZ
      ['mono16.jpegls.dcm', [0xff, 0xd8, 0xff, 0xf7]], // JPEG-LS SOI + SOF55
      ['mono8.jpeg-baseline.dcm', [0xff, 0xd8, 0xff]], // JPEG SOI
    ];
    for (const [file, marker] of cases) {
      const bytes = await fixture(file);
      const at = indexOf(bytes, marker);
      expect(at, file).toBeGreaterThan(132);
      const bad = bytes.slice();
      bad.fill(0, at, at + marker.length);
      const err = (await decodeImageBytes(bad, file).catch((e: unknown) => e)) as InvalidImageError;
      expect(err, file).toBeInstanceOf(InvalidImageError);
      expect(err.path).toBe(file);
      expect(err.code).toBe('invalid');
      expect(err.reason).toMatch(/^corrupt .* pixel data/);
      // the wasm module is not left broken by the failure
      expect((await decodeImageBytes(bytes, file)).width, file).toBe(64);
    }
    const cut = await fixture('mono16.j2k.dcm');
    await expect(decodeImageBytes(cut.subarray(0, cut.length - 1500), 'cut.dcm')).rejects.toThrow(InvalidImageError);
  });
});

function indexOf(haystack: Uint8Array, needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

describe('decodeRle (PS3.5 Annex G)', () => {
  /** One RLE frame: the 64-byte header, then the segments. */
  function frame(segments: number[][]): Uint8Array {
    const head = new Uint8Array(64);
    const v = new DataView(head.buffer);
    v.setUint32(0, segments.length, true);
    let at = 64;
    segments.forEach((s, i) => {
      v.setUint32(4 + 4 * i, at, true);
      at += s.length;
    });
    const out = new Uint8Array(at);
    out.set(head);
    let o = 64;
    for (const s of segments) {
      out.set(s, o);
      o += s.length;
    }
    return out;
  }

  it('literal and replicate runs; 16-bit samples from a high and a low byte plane; colour planes interleaved', () => {
    // 2×3 gray 8-bit: literal run of 2 (n = 1), replicate 7 four times (n = −3)
    expect(Array.from(decodeRle(frame([[1, 10, 20, 0xfd, 7]]), { rows: 2, cols: 3, samplesPerPixel: 1, bitsAllocated: 8 }))).toEqual([10, 20, 7, 7, 7, 7]);
    // 1×2 gray 16-bit: high bytes [1, 2], low bytes [0x34, 0x56]; a −128 no-op byte is skipped
    expect(Array.from(decodeRle(frame([[0x80, 1, 1, 2], [1, 0x34, 0x56]]), { rows: 1, cols: 2, samplesPerPixel: 1, bitsAllocated: 16 }))).toEqual([0x134, 0x256]);
    // 1×2 RGB 8-bit: R plane, G plane, B plane
    expect(Array.from(decodeRle(frame([[0xff, 9], [1, 1, 2], [1, 3, 4]]), { rows: 1, cols: 2, samplesPerPixel: 3, bitsAllocated: 8 }))).toEqual([9, 1, 3, 9, 2, 4]);
  });

  it('refuses a wrong segment count, a segment outside the frame and a run past the end', () => {
    expect(() => decodeRle(frame([[1, 1, 2]]), { rows: 1, cols: 2, samplesPerPixel: 3, bitsAllocated: 8 })).toThrow(/lists 1 segments, 3 samples of 8 bits need 3/);
    const bad = frame([[1, 1, 2]]);
    new DataView(bad.buffer).setUint32(4, 9999, true);
    expect(() => decodeRle(bad, { rows: 1, cols: 2, samplesPerPixel: 1, bitsAllocated: 8 })).toThrow(/outside the frame/);
    expect(() => decodeRle(frame([[5, 1, 2]]), { rows: 1, cols: 2, samplesPerPixel: 1, bitsAllocated: 8 })).toThrow(/literal run past its end/);
    expect(() => decodeRle(frame([[0]]), { rows: 1, cols: 2, samplesPerPixel: 1, bitsAllocated: 8 })).toThrow(/literal run past its end|ends after/);
    expect(() => decodeRle(new Uint8Array(10), { rows: 1, cols: 2, samplesPerPixel: 1, bitsAllocated: 8 })).toThrow(/needs 64 bytes/);
  });
});
