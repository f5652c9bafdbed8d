import { describe, expect, it } from 'vitest';
import { convertChannels, cropRegion, resampleTaps, resizeRaster, type Raster } from './raster.js';

function taps(length: number, out: number): number[][] {
  const t = resampleTaps(length, out);
  const rows: number[][] = [];
  for (let o = 0; o < out; o++) {
    const row = new Array<number>(length).fill(0);
    for (let k = 0; k < t.count[o]!; k++) row[t.first[o]! + k] = t.weights[t.offset[o]! + k]!;
    rows.push(row);
  }
  return rows;
}

function gray(width: number, height: number, f: (x: number, y: number) => number): Raster {
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = f(x, y);
  return { width, height, channels: 1, data, scale: 1 };
}

describe('resampling weights', () => {
  it('area when shrinking: whole and partial pixels weighted by overlap', () => {
    expect(taps(4, 2)).toEqual([
      [0.5, 0.5, 0, 0],
      [0, 0, 0.5, 0.5],
    ]);
    const t = taps(3, 2);
    expect(t[0]![0]).toBeCloseTo(2 / 3, 6);
    expect(t[0]![1]).toBeCloseTo(1 / 3, 6);
    expect(t[1]![1]).toBeCloseTo(1 / 3, 6);
    expect(t[1]![2]).toBeCloseTo(2 / 3, 6);
    for (const row of taps(17, 5)) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });

  it('bilinear with half-pixel centres when growing, edges clamped; identity at the same size', () => {
    // 2 → 4: sources at −0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
    expect(taps(2, 4)).toEqual([
      [1, 0],
      [0.75, 0.25],
      [0.25, 0.75],
      [0, 1],
    ]);
    expect(taps(3, 3)).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
  });
});

describe('resizeRaster', () => {
  it('area-averages 4×4 → 2×2 exactly', () => {
    const r = gray(4, 4, (x, y) => (y * 4 + x) / 15);
    const out = resizeRaster(r, { size: 2, channels: 1 });
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length / 15;
    expect(out[0]).toBeCloseTo(mean([0, 1, 4, 5]), 6);
    expect(out[1]).toBeCloseTo(mean([2, 3, 6, 7]), 6);
    expect(out[2]).toBeCloseTo(mean([8, 9, 12, 13]), 6);
    expect(out[3]).toBeCloseTo(mean([10, 11, 14, 15]), 6);
  });

  it('grows a linear ramp linearly (bilinear) and keeps the mean of a shrink', () => {
    const ramp = gray(4, 1, (x) => x / 3);
    const up = resizeRaster(ramp, { size: 8, channels: 1 });
    // Row 0 of 8×8: sources (o + 0.5)/2 − 0.5 = −0.25, 0.25, …, 3.25 → clamped ends.
    const expected = [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3].map((s) => s / 3);
    for (let i = 0; i < 8; i++) expect(up[i]).toBeCloseTo(expected[i]!, 6);
    const noise = gray(30, 30, (x, y) => ((x * 7 + y * 13) % 11) / 10);
    const down = resizeRaster(noise, { size: 10, channels: 1 });
    const m = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
    expect(m(down)).toBeCloseTo(m(noise.data), 5);
  });

  it('centre crop takes the central square before resizing', () => {
    expect(cropRegion(10, 4, true)).toEqual({ x: 3, y: 0, width: 4, height: 4 });
    expect(cropRegion(4, 9, true)).toEqual({ x: 0, y: 2, width: 4, height: 4 });
    // Columns 0–2 and 7–9 are 1, the centre 0: the crop sees only zeros, the full resize does not.
    const r = gray(10, 4, (x) => (x < 3 || x > 6 ? 1 : 0));
    expect(Math.max(...resizeRaster(r, { size: 4, channels: 1, centerCrop: true }))).toBe(0);
    expect(Math.max(...resizeRaster(r, { size: 4, channels: 1 }))).toBeGreaterThan(0.5);
  });

  it('reads 8- and 16-bit data through its scale, clamps to [0, 1], converts channels', () => {
    const u8: Raster = { width: 2, height: 1, channels: 1, data: Uint8Array.from([0, 255]), scale: 1 / 255 };
    expect(Array.from(resizeRaster(u8, { size: 2, channels: 1 }))).toEqual([0, 1, 0, 1]);
    const u16: Raster = { width: 1, height: 1, channels: 1, data: Uint16Array.from([32768]), scale: 1 / 65535 };
    expect(resizeRaster(u16, { size: 1, channels: 1 })[0]).toBeCloseTo(32768 / 65535, 6);
    const over: Raster = { width: 1, height: 1, channels: 1, data: Float32Array.from([1.7]), scale: 1 };
    expect(resizeRaster(over, { size: 1, channels: 1 })[0]).toBe(1);
    const g3 = resizeRaster(u8, { size: 2 });
    expect(Array.from(g3.slice(0, 6))).toEqual([0, 0, 0, 1, 1, 1]);
    const rgb = convertChannels(Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1]), 3, 3, 1);
    expect(Array.from(rgb).map((v) => +v.toFixed(6))).toEqual([0.299, 0.587, 0.114]);
    expect(() => resizeRaster(u8, { size: 0 })).toThrow(/size must be a positive whole number/);
  });
});
