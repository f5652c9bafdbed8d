import { describe, expect, it } from 'vitest';
import { mse, psnr } from './pixel-error.js';

describe('mse and psnr', () => {
  it('compute the mean squared error over all values and PSNR in dB', () => {
    // Differences 0.1, −0.2, 0, 0.1 → squares 0.01 + 0.04 + 0 + 0.01 = 0.06 → mse 0.015.
    const a = [0.5, 0.2, 0.9, 0.4];
    const b = [0.4, 0.4, 0.9, 0.3];
    expect(mse(a, b)).toBeCloseTo(0.015, 15);
    expect(psnr(a, b, { dataRange: 1 })).toBeCloseTo(10 * Math.log10(1 / 0.015), 12);
    // 8-bit: one value off by 255 of 4 → mse 255²/4 → PSNR = 10·log10(4) dB.
    expect(psnr(Uint8Array.of(0, 0, 0, 0), Uint8Array.of(255, 0, 0, 0), { dataRange: 255 })).toBeCloseTo(10 * Math.log10(4), 12);
    expect(psnr(a, a, { dataRange: 1 })).toBe(Infinity);
    expect(mse(a, a)).toBe(0);
  });

  it('rejects mismatched sizes, non-finite values and a missing dataRange', () => {
    expect(() => mse([1, 2], [1])).toThrow(/a has 2 values but b has 1/);
    expect(() => mse([], [])).toThrow(/empty/);
    expect(() => mse([1, NaN], [1, 2])).toThrow(/NaN or infinite/);
    expect(() => psnr([1, 2], [1, 2], { dataRange: -1 })).toThrow(/options.dataRange is -1/);
  });
});
