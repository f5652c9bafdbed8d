import { describe, expect, it } from 'vitest';
import { rasterFromRgba } from './raster-rgba.js';

describe('rasterFromRgba', () => {
  it('keeps a gray image (R = G = B) as one channel and drops alpha', () => {
    const rgba = new Uint8Array([10, 10, 10, 255, 200, 200, 200, 7]);
    const r = rasterFromRgba(rgba, 2, 1);
    expect(r.channels).toBe(1);
    expect(Array.from(r.data)).toEqual([10, 200]);
    expect(r.scale).toBeCloseTo(1 / 255, 12);
  });

  it('keeps colour as RGB when one pixel differs', () => {
    const rgba = new Uint8ClampedArray([10, 10, 10, 255, 1, 2, 3, 255]);
    const r = rasterFromRgba(rgba, 2, 1);
    expect(r.channels).toBe(3);
    expect(Array.from(r.data)).toEqual([10, 10, 10, 1, 2, 3]);
  });

  it('refuses a buffer that does not match the size, naming both', () => {
    expect(() => rasterFromRgba(new Uint8Array(12), 2, 2)).toThrow(/12 bytes for 2×2 RGBA pixels, expected 16/);
    expect(() => rasterFromRgba(new Uint8Array(0), 0, 2)).toThrow(/positive whole numbers/);
  });
});
