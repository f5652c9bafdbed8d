import { decode } from 'fast-png';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { base64, imageToPng, infernoColour, mapScale, mapToPng, overlayToPng, pngDataUri } from './images.js';

describe('images', () => {
  it('maps 0 to black-ish and 1 to light yellow, clamping outside and NaN', () => {
    expect(infernoColour(0)).toEqual([0, 0, 4]);
    expect(infernoColour(1)).toEqual([252, 255, 164]);
    expect(infernoColour(7)).toEqual(infernoColour(1));
    expect(infernoColour(Number.NaN)).toEqual(infernoColour(0));
    // brighter with the value (luma increases monotonically)
    const luma = (c: number[]) => 0.299 * c[0]! + 0.587 * c[1]! + 0.114 * c[2]!;
    for (let v = 0; v < 1; v += 0.05) expect(luma(infernoColour(v + 0.05))).toBeGreaterThan(luma(infernoColour(v)));
  });

  it('scales a map by its 99.5th percentile, ignoring non-finite values', () => {
    const data = new Float32Array(1000).map((_, i) => i / 1000);
    data[0] = Number.POSITIVE_INFINITY;
    expect(mapScale({ width: 1000, height: 1, data })).toBeCloseTo(0.994, 3);
    expect(mapScale({ width: 2, height: 1, data: new Float32Array([0, 0]) })).toBe(1e-12);
  });

  it('encodes images, maps and overlays as PNGs of the right size, and checks shapes', async () => {
    const image = { width: 5, height: 3, channels: 3 as const, data: new Float32Array(45).fill(0.5) };
    const map = { width: 5, height: 3, data: new Float32Array(15).map((_, i) => i) };
    for (const png of [await imageToPng(image), await mapToPng(map), await overlayToPng(image, map)]) {
      const meta = await sharp(png).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 5, 3]);
    }
    const { data } = await sharp(await imageToPng(image)).raw().toBuffer({ resolveWithObject: true });
    expect(data[0]).toBe(128);
    // the pixels round-trip exactly (lossless 8-bit), read back by another decoder too
    const map8 = decode(await mapToPng(map, 14));
    expect([map8.width, map8.height, map8.channels, map8.depth]).toEqual([5, 3, 3, 8]);
    expect(Array.from(map8.data.slice(0, 3))).toEqual(infernoColour(0));
    expect(Array.from(map8.data.slice(-3))).toEqual(infernoColour(1));
    await expect(imageToPng({ ...image, data: new Float32Array(10) })).rejects.toThrow(/expected 5×3×3 = 45/);
    await expect(overlayToPng(image, { width: 4, height: 3, data: new Float32Array(12) })).rejects.toThrow(/image is 5×3 but the map is 4×3/);
  });

  it('base64-encodes PNG bytes for data URIs exactly as Node does, at every padding length', () => {
    for (let n = 0; n < 10; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 97 + 13) % 256);
      expect(base64(bytes)).toBe(Buffer.from(bytes).toString('base64'));
    }
    expect(pngDataUri(new Uint8Array([137, 80, 78, 71]))).toBe('data:image/png;base64,iVBORw==');
  });
});
