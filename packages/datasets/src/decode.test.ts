import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageBytes, decodeImageFile, sharpReason } from './decode.js';
import { InvalidImageError, type InvalidImageCode } from './errors.js';
import { applyWindow } from './dicom.js';
import { makeBmp, makeDicom, makeFloatTiff, tempDir } from './test-helpers.js';

const W = 6;
const H = 4;
const gray8 = Uint8Array.from({ length: W * H }, (_, i) => i * 10);
const rgb8 = Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * 37) % 256);

function values(r: { data: ArrayLike<number>; scale: number }): number[] {
  return Array.from(r.data, (v) => v * r.scale);
}

async function expectInvalid(p: Promise<unknown>, path: string, reason: RegExp, code: InvalidImageCode = 'invalid'): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidImageError);
  const e = err as InvalidImageError;
  expect(e.path).toBe(path);
  expect(e.reason).toMatch(reason);
  expect(e.message).toContain(path);
  expect(e.code, e.reason).toBe(code);
}

describe('decoding with sharp', () => {
  it('8-bit gray PNG stays one channel and exact', async () => {
    const png = await sharp(gray8, { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').png().toBuffer();
    const r = await decodeImageBytes(png, 'g.png');
    expect([r.width, r.height, r.channels]).toEqual([W, H, 1]);
    expect(Array.from(r.data)).toEqual(Array.from(gray8));
  });

  it('16-bit gray PNG is exact at 16 bits', async () => {
    const g16 = Uint16Array.from({ length: W * H }, (_, i) => i * 2731 + 7);
    const png = await sharp(g16, { raw: { width: W, height: H, channels: 1 } }).toColourspace('grey16').png().toBuffer();
    expect((await sharp(png).metadata()).depth).toBe('ushort');
    const r = await decodeImageBytes(png, 'g16.png');
    expect(r.channels).toBe(1);
    expect(r.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(r.data)).toEqual(Array.from(g16));
    expect(r.scale).toBeCloseTo(1 / 65535, 12);
  });

  it('16-bit RGB PNG is exact', async () => {
    const c16 = Uint16Array.from({ length: W * H * 3 }, (_, i) => i * 901);
    const png = await sharp(c16, { raw: { width: W, height: H, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
    const r = await decodeImageBytes(png, 'c16.png');
    expect(r.channels).toBe(3);
    expect(Array.from(r.data)).toEqual(Array.from(c16));
  });

  it('RGB and RGBA PNG (alpha dropped), gray+alpha PNG and palette PNG', async () => {
    const rgb = await decodeImageBytes(await sharp(rgb8, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer(), 'rgb.png');
    expect(Array.from(rgb.data)).toEqual(Array.from(rgb8));
    const rgba8 = new Uint8Array(W * H * 4);
    for (let i = 0; i < W * H; i++) rgba8.set([rgb8[3 * i]!, rgb8[3 * i + 1]!, rgb8[3 * i + 2]!, i * 5], 4 * i);
    const rgba = await decodeImageBytes(await sharp(rgba8, { raw: { width: W, height: H, channels: 4 } }).png().toBuffer(), 'rgba.png');
    expect(rgba.channels).toBe(3);
    expect(Array.from(rgba.data)).toEqual(Array.from(rgb8));
    const ga8 = new Uint8Array(W * H * 2);
    for (let i = 0; i < W * H; i++) ga8.set([gray8[i]!, 255 - i], 2 * i);
    const ga = await decodeImageBytes(await sharp(ga8, { raw: { width: W, height: H, channels: 2 } }).toColourspace('b-w').png().toBuffer(), 'ga.png');
    expect(ga.channels).toBe(1);
    expect(Array.from(ga.data)).toEqual(Array.from(gray8));
    // Four exact colours fit a palette losslessly.
    const four = [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [10, 20, 30],
    ];
    const pal8 = new Uint8Array(W * H * 3);
    for (let i = 0; i < W * H; i++) pal8.set(four[i % 4]!, 3 * i);
    const palPng = await sharp(pal8, { raw: { width: W, height: H, channels: 3 } }).png({ palette: true, colours: 4, dither: 0 }).toBuffer();
    expect((await sharp(palPng).metadata()).isPalette).toBe(true);
    const pal = await decodeImageBytes(palPng, 'pal.png');
    expect(pal.channels).toBe(3);
    expect(Array.from(pal.data)).toEqual(Array.from(pal8));
  });

  it('a gray image stored as RGB (R = G = B, as X-ray JPEGs) is kept as one channel, the same pixels', async () => {
    const rgbGray = new Uint8Array(W * H * 3);
    for (let i = 0; i < W * H; i++) rgbGray.fill(gray8[i]!, 3 * i, 3 * i + 3);
    const r = await decodeImageBytes(await sharp(rgbGray, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer(), 'rgbgray.png');
    expect(r.channels).toBe(1);
    expect(Array.from(r.data)).toEqual(Array.from(gray8));
    const almost = rgbGray.slice();
    almost[3 * 5 + 2] = 1 + almost[3 * 5 + 2]!;
    const c = await decodeImageBytes(await sharp(almost, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer(), 'almost.png');
    expect(c.channels).toBe(3);
    expect(Array.from(c.data)).toEqual(Array.from(almost));
  });

  it('JPEG: baseline, progressive and CMYK (converted to sRGB)', async () => {
    const flat = new Uint8Array(16 * 16 * 3).map((_, i) => [200, 100, 50][i % 3]!);
    for (const [name, opts] of [
      ['base.jpg', { quality: 95 }],
      ['prog.jpg', { quality: 95, progressive: true }],
    ] as const) {
      const jpg = await sharp(flat, { raw: { width: 16, height: 16, channels: 3 } }).jpeg(opts).toBuffer();
      const r = await decodeImageBytes(jpg, name);
      expect([r.width, r.height, r.channels]).toEqual([16, 16, 3]);
      // A flat colour survives JPEG within a few levels.
      for (let i = 0; i < r.data.length; i++) expect(Math.abs(r.data[i]! - flat[i]!)).toBeLessThanOrEqual(3);
    }
    const cmyk = await sharp(flat, { raw: { width: 16, height: 16, channels: 3 } }).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    const meta = await sharp(cmyk).metadata();
    expect(meta.space).toBe('cmyk');
    const r = await decodeImageBytes(cmyk, 'cmyk.jpg');
    expect(r.channels).toBe(3);
    // Orange stays orange through the CMYK round trip (red > green > blue).
    expect(r.data[0]!).toBeGreaterThan(r.data[1]!);
    expect(r.data[1]!).toBeGreaterThan(r.data[2]!);
  });

  it('TIFF 8-bit, 16-bit and float (min–max scaled)', async () => {
    const t8 = await decodeImageBytes(await sharp(gray8, { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').tiff({ compression: 'lzw' }).toBuffer(), 'g.tif');
    expect(Array.from(t8.data)).toEqual(Array.from(gray8));
    const g16 = Uint16Array.from({ length: W * H }, (_, i) => 65535 - i * 999);
    const t16 = await decodeImageBytes(await sharp(g16, { raw: { width: W, height: H, channels: 1 } }).toColourspace('grey16').tiff({ compression: 'deflate' }).toBuffer(), 'g16.tif');
    expect(Array.from(t16.data)).toEqual(Array.from(g16));
    const f = Array.from({ length: W * H }, (_, i) => i - 5.5);
    const tf = await decodeImageBytes(makeFloatTiff(W, H, f), 'f.tif');
    expect(tf.channels).toBe(1);
    const got = values(tf);
    got.forEach((v, i) => expect(v).toBeCloseTo(i / (W * H - 1), 6));
  });
});

describe('BMP', () => {
  it('24-bit bottom-up and top-down', async () => {
    for (const topDown of [false, true]) {
      const bmp = makeBmp(5, 3, (x, y) => [x * 50, y * 100, 7], { topDown });
      const r = await decodeImageBytes(bmp, 'a.bmp');
      expect([r.width, r.height, r.channels]).toEqual([5, 3, 3]);
      for (let y = 0; y < 3; y++) for (let x = 0; x < 5; x++) expect(Array.from(r.data.slice((y * 5 + x) * 3, (y * 5 + x) * 3 + 3))).toEqual([x * 50, y * 100, 7]);
    }
  });

  it('8-bit gray palette decodes to one channel, colour palette to three; 1-bit; 32-bit bit fields', async () => {
    const grayPal = Array.from({ length: 256 }, (_, i) => [i, i, i] as [number, number, number]);
    const g = await decodeImageBytes(makeBmp(7, 2, (x, y) => x * 30 + y, { bpp: 8, palette: grayPal }), 'g.bmp');
    expect(g.channels).toBe(1);
    expect(Array.from(g.data)).toEqual([0, 30, 60, 90, 120, 150, 180, 1, 31, 61, 91, 121, 151, 181]);
    const c = await decodeImageBytes(makeBmp(2, 1, (x) => x, { bpp: 8, palette: [[255, 0, 0], [0, 0, 255]] }), 'c.bmp');
    expect(Array.from(c.data)).toEqual([255, 0, 0, 0, 0, 255]);
    const one = await decodeImageBytes(makeBmp(10, 2, (x, y) => (x + y) % 2, { bpp: 1, palette: [[0, 0, 0], [255, 255, 255]] }), 'one.bmp');
    expect(one.channels).toBe(1);
    expect(Array.from(one.data)).toEqual([0, 255, 0, 255, 0, 255, 0, 255, 0, 255, 255, 0, 255, 0, 255, 0, 255, 0, 255, 0]);
    const bf = await decodeImageBytes(makeBmp(3, 2, (x, y) => [x * 80, y * 90, 200], { bpp: 32 }), 'bf.bmp');
    expect(Array.from(bf.data.slice(0, 9))).toEqual([0, 0, 200, 80, 0, 200, 160, 0, 200]);
  });

  it('4-bit palette and 16-bit 5-5-5', async () => {
    const pal: [number, number, number][] = Array.from({ length: 16 }, (_, i) => [i * 16, 255 - i * 16, 3]);
    const four = await decodeImageBytes(makeBmp(3, 2, (x, y) => x + 3 * y, { bpp: 4, palette: pal }), 'four.bmp');
    expect(four.channels).toBe(3);
    for (let i = 0; i < 6; i++) expect(Array.from(four.data.slice(3 * i, 3 * i + 3))).toEqual(pal[i]);
    const hi = await decodeImageBytes(makeBmp(2, 1, (x) => (x === 0 ? [248, 0, 0] : [0, 128, 255]), { bpp: 16 }), 'hi.bmp');
    // 5 bits per channel, scaled back to 0..255.
    expect(Array.from(hi.data)).toEqual([255, 0, 0, 0, Math.round((16 * 255) / 31), 255]);
  });

  it('truncated BMP names the shortfall', async () => {
    const bmp = makeBmp(8, 8, () => [1, 2, 3]);
    await expectInvalid(decodeImageBytes(bmp.subarray(0, bmp.length - 10), 't.bmp'), 't.bmp', /truncated BMP/);
  });
});

describe('DICOM', () => {
  it('applies rescale slope/intercept then the window (DICOM linear VOI LUT)', async () => {
    // Stored 0..1000 step 200; HU = stored·2 − 1024; window centre 40, width 400 → [−160, 240].
    const stored = [0, 200, 400, 500, 532, 600, 700, 1000];
    const dcm = makeDicom({ rows: 2, cols: 4, pixels: stored, bitsStored: 12, slope: 2, intercept: -1024, windowCenter: 40, windowWidth: 400 });
    const r = await decodeImageBytes(dcm, 'ct.dcm');
    expect([r.width, r.height, r.channels]).toEqual([4, 2, 1]);
    const expected = stored.map((s) => applyWindow(s * 2 - 1024, 40, 400));
    values(r).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
    expect(expected[0]).toBe(0);
    expect(expected[7]).toBe(1);
    expect(expected[4]).toBeGreaterThan(0.2); // 40 HU sits mid-window
    expect(expected[4]).toBeLessThan(0.8);
    expect(applyWindow(40, 40, 400)).toBeCloseTo(0.50125, 5);
  });

  it('without a window: min–max; MONOCHROME1 inverted; signed 16-bit sign-extended from bits stored', async () => {
    const r = await decodeImageBytes(makeDicom({ rows: 1, cols: 3, pixels: [100, 300, 500] }), 'a.dcm');
    expect(values(r)).toEqual([0, 0.5, 1]);
    const inv = await decodeImageBytes(makeDicom({ rows: 1, cols: 3, pixels: [100, 300, 500], photometric: 'MONOCHROME1' }), 'b.dcm');
    expect(values(inv)).toEqual([1, 0.5, 0]);
    // 12 bits stored, signed: 0xFFF is −1, 0x800 is −2048; 0xF000 bits above are junk to be masked.
    const s = await decodeImageBytes(makeDicom({ rows: 1, cols: 3, pixels: [0xf800, 0xffff, 0x07ff], bitsStored: 12, signed: true }), 's.dcm');
    const v = values(s);
    expect(v[0]).toBe(0);
    expect(v[1]).toBeCloseTo(2047 / 4095, 6);
    expect(v[2]).toBe(1);
  });

  it('Explicit VR Big Endian pixel data', async () => {
    // Byte-swapped these would be 513, 22530, 59395: a different middle value.
    const r = await decodeImageBytes(makeDicom({ rows: 1, cols: 3, pixels: [258, 600, 1000], transferSyntax: '1.2.840.10008.1.2.2' }), 'be.dcm');
    values(r).forEach((v, i) => expect(v).toBeCloseTo([0, (600 - 258) / 742, 1][i]!, 6));
  });

  it('8-bit RGB DICOM', async () => {
    const r = await decodeImageBytes(makeDicom({ rows: 1, cols: 2, pixels: [255, 0, 0, 0, 51, 255], bitsAllocated: 8, photometric: 'RGB' }), 'rgb.dcm');
    expect(r.channels).toBe(3);
    values(r).forEach((x, i) => expect(x).toBeCloseTo([1, 0, 0, 0, 0.2, 1][i]!, 6));
  });

  it('a transfer syntax without a decoder: a clear error naming the syntax (compressed ones are in dicom-codecs.test.ts)', async () => {
    const dcm = makeDicom({ rows: 1, cols: 2, pixels: [1, 2], transferSyntax: '1.2.840.10008.1.2.4.201' });
    await expectInvalid(decodeImageBytes(dcm, 'htj2k.dcm'), 'htj2k.dcm', /High-Throughput JPEG 2000 \(Lossless Only\) \(1\.2\.840\.10008\.1\.2\.4\.201\), which is not supported/, 'unsupported');
    // a JPEG 2000 syntax over pixel data that is not encapsulated: the file contradicts itself
    const j2k = makeDicom({ rows: 1, cols: 2, pixels: [1, 2], transferSyntax: '1.2.840.10008.1.2.4.90' });
    await expectInvalid(decodeImageBytes(j2k, 'j2k.dcm'), 'j2k.dcm', /not encapsulated, but the transfer syntax JPEG 2000 Image Compression \(Lossless Only\)/);
  });

  it('a DICOM without pixel data is a no-image error naming what is missing (not a size error)', async () => {
    const dcm = makeDicom({ rows: 4, cols: 4, pixels: Array.from({ length: 16 }, (_, i) => i) });
    // cut just before the Pixel Data element (7FE0,0010): Rows and Columns stay
    let at = -1;
    for (let i = 132; i < dcm.length - 3 && at < 0; i++) if (dcm[i] === 0xe0 && dcm[i + 1] === 0x7f && dcm[i + 2] === 0x10 && dcm[i + 3] === 0x00) at = i;
    expect(at).toBeGreaterThan(132);
    await expectInvalid(decodeImageBytes(dcm.subarray(0, at), 'nopixels.dcm'), 'nopixels.dcm', /Pixel Data missing/, 'no-image');
  });

  it('unreadable and truncated DICOM', async () => {
    const dcm = makeDicom({ rows: 4, cols: 4, pixels: Array.from({ length: 16 }, (_, i) => i) });
    await expectInvalid(decodeImageBytes(dcm.subarray(0, dcm.length - 12), 'cut.dcm'), 'cut.dcm', /DICOM/);
    const junk = new Uint8Array(300);
    junk.set(new TextEncoder().encode('DICM'), 128);
    junk.fill(0xff, 132);
    await expectInvalid(decodeImageBytes(junk, 'junk.dcm'), 'junk.dcm', /DICOM/);
    await expectInvalid(decodeImageBytes(new TextEncoder().encode('not dicom at all'), 'text.dcm'), 'text.dcm', /DICOM/);
  });
});

describe('bad input', () => {
  let dir = '';
  let cleanup: () => Promise<void> = () => Promise.resolve();
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterAll(() => cleanup());

  it('zero-byte, missing, non-image, truncated PNG and JPEG files: InvalidImageError with path and reason', async () => {
    const empty = join(dir, 'empty.png');
    await writeFile(empty, new Uint8Array(0));
    await expectInvalid(decodeImageFile(empty), empty, /empty file \(0 bytes\)/);
    await expectInvalid(decodeImageFile(join(dir, 'nope.png')), join(dir, 'nope.png'), /file not found/);
    const text = join(dir, 'notes.jpg');
    await writeFile(text, 'this is a text file, not a JPEG');
    await expectInvalid(decodeImageFile(text), text, /not an image in a supported format/, 'unsupported');
    const noisy = Uint8Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7919) % 256);
    const png = await sharp(noisy, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
    const cutPng = join(dir, 'cut.png');
    await writeFile(cutPng, png.subarray(0, Math.floor(png.length / 2)));
    await expectInvalid(decodeImageFile(cutPng), cutPng, /truncated or corrupt/);
    const jpg = await sharp(noisy, { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
    const cutJpg = join(dir, 'cut.jpg');
    await writeFile(cutJpg, jpg.subarray(0, Math.floor(jpg.length / 2)));
    await expectInvalid(decodeImageFile(cutJpg), cutJpg, /truncated or corrupt/);
    // Scrambled entropy-coded JPEG data is only a libjpeg warning: refused unless tolerated.
    const scrambled = Buffer.from(jpg);
    for (let i = 0; i < 200; i++) scrambled[Math.floor(jpg.length / 2) + i] = (i * 37) & 0xff;
    const badJpg = join(dir, 'scrambled.jpg');
    await writeFile(badJpg, scrambled);
    await expectInvalid(decodeImageFile(badJpg), badJpg, /corrupt image data \(VipsJpeg: Corrupt JPEG data.*load with tolerateWarnings/);
    expect((await decodeImageFile(badJpg, undefined, true)).width).toBe(64);
    const corrupt = Buffer.from(png);
    corrupt.fill(0x55, 60, 400); // scrambled compressed data, CRCs no longer match
    const badPng = join(dir, 'bad.png');
    await writeFile(badPng, corrupt);
    await expectInvalid(decodeImageFile(badPng), badPng, /corrupt/);
  });

  it('refuses an image above the pixel limit before decoding it', async () => {
    const big = await sharp({ create: { width: 3000, height: 2000, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .png()
      .toBuffer();
    await expectInvalid(decodeImageBytes(big, 'big.png', 5_000_000), 'big.png', /3000×2000 = 6\.0 Mpx, above the limit of 5\.0 Mpx/, 'too-large');
    await expectInvalid(decodeImageBytes(makeBmp(3000, 2, () => [0, 0, 0]), 'wide.bmp', 5000), 'wide.bmp', /above the limit/, 'too-large');
    await expectInvalid(decodeImageBytes(makeDicom({ rows: 100, cols: 100, pixels: [] }), 'big.dcm', 5000), 'big.dcm', /above the limit/, 'too-large');
    const ok = await decodeImageBytes(big, 'big.png', 6_000_000);
    expect(ok.width).toBe(3000);
  });
});

describe('sharpReason', () => {
  it('reads libvips messages over all their lines: a corrupt header is a truncated or corrupt file, not a warning to tolerate', () => {
    // libvips sometimes puts the detail on a second line (seen in CI for a PNG cut at 40 bytes)
    expect(sharpReason(new Error('Input buffer has corrupt header:\n'))).toBe('truncated or corrupt image (Input buffer has corrupt header:)');
    expect(sharpReason(new Error('Input buffer has corrupt header:\npngload_buffer: libspng read error\n'))).toBe(
      'truncated or corrupt image (Input buffer has corrupt header: pngload_buffer: libspng read error)',
    );
    expect(sharpReason(new Error('VipsJpeg: Corrupt JPEG data: 12 extraneous bytes'))).toMatch(/^corrupt image data .*tolerateWarnings$/);
    expect(sharpReason(new Error('Input buffer contains unsupported image format'))).toMatch(/^not an image in a supported format/);
  });
});
