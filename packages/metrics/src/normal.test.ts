import { describe, expect, it } from 'vitest';
import { erfc, normalCdf, normalQuantile } from './normal.js';

describe('standard normal', () => {
  it('reproduces published quantiles and probabilities', () => {
    // Reference values (tables / any statistics package): Φ⁻¹(0.975), Φ⁻¹(0.995), Φ(1.96), erfc(1), erfc(5).
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 14);
    expect(normalQuantile(0.995)).toBeCloseTo(2.5758293035489004, 13); // 1 − 0.995 is not exact in binary
    expect(normalQuantile(0.025)).toBeCloseTo(-1.959963984540054, 14);
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021048517795, 15);
    expect(erfc(1)).toBeCloseTo(0.15729920705028513, 15);
    expect(erfc(5) / 1.5374597944280349e-12).toBeCloseTo(1, 13);
    expect(normalQuantile(0.5)).toBe(0);
  });

  it('inverts Φ across the range, including far tails', () => {
    for (const p of [1e-300, 1e-50, 1e-10, 1e-4, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-10]) {
      const x = normalQuantile(p);
      const back = p > 0.5 ? 1 - normalCdf(-x) : normalCdf(x);
      expect(Math.abs(back - p) / p).toBeLessThan(1e-12);
    }
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(normalQuantile(1)).toBe(Infinity);
    expect(normalQuantile(1.5)).toBeNaN();
  });

  it('is continuous where erfc switches method (x = 2) and symmetric', () => {
    expect(Math.abs(erfc(2 - 1e-12) - erfc(2)) / erfc(2)).toBeLessThan(1e-10);
    expect(erfc(-1.3) + erfc(1.3)).toBeCloseTo(2, 15);
  });
});
