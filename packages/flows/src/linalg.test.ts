import { describe, expect, it } from 'vitest';
import { invertUnitLower, invertUpper, logAbsDet, luDecompose, matMul64, randomOrthogonal } from './linalg.js';
import { seededRandom } from './random.js';

/** Determinant by cofactor expansion: the direct computation the LU route is checked against. */
function cofactorDet(a: number[][]): number {
  const n = a.length;
  if (n === 1) return a[0]![0]!;
  let det = 0;
  for (let j = 0; j < n; j++) {
    const minor = a.slice(1).map((row) => row.filter((_, k) => k !== j));
    det += (j % 2 === 0 ? 1 : -1) * a[0]![j]! * cofactorDet(minor);
  }
  return det;
}

function randomMatrix(n: number, seed: number): number[][] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => Array.from({ length: n }, () => 2 * r() - 1));
}

const flat = (m: number[][]): Float64Array => Float64Array.from(m.flat());

describe('float64 linear algebra for the invertible 1×1 convolution', () => {
  it.each([2, 3, 4, 5, 6])('LU with pivoting reconstructs a random %i×%i matrix and gives its log|det|', (n) => {
    const a = randomMatrix(n, n);
    const { rows, lower, upper } = luDecompose(flat(a), n);
    const lu = matMul64(lower, upper, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) expect(lu[i * n + j]).toBeCloseTo(a[rows[i]!]![j]!, 12);
      for (let j = i + 1; j < n; j++) expect(lower[i * n + j]).toBe(0);
      for (let j = 0; j < i; j++) expect(upper[i * n + j]).toBe(0);
      expect(lower[i * n + i]).toBe(1);
    }
    expect(logAbsDet(flat(a), n)).toBeCloseTo(Math.log(Math.abs(cofactorDet(a))), 10);
  });

  it('pivots (a zero in the top-left corner) and rejects singular matrices', () => {
    const a = [0, 1, 2, 1, 0, 3, 4, -3, 8];
    const { rows, lower, upper } = luDecompose(a, 3);
    const lu = matMul64(lower, upper, 3);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) expect(lu[i * 3 + j]).toBeCloseTo(a[rows[i]! * 3 + j]!, 12);
    expect(() => luDecompose([1, 2, 2, 4], 2)).toThrow(/singular/);
  });

  it('triangular inverses are inverses', () => {
    const n = 5;
    const { lower, upper } = luDecompose(flat(randomMatrix(n, 11)), n);
    const li = matMul64(lower, invertUnitLower(lower, n), n);
    const ui = matMul64(invertUpper(upper, n), upper, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        expect(li[i * n + j]).toBeCloseTo(i === j ? 1 : 0, 12);
        expect(ui[i * n + j]).toBeCloseTo(i === j ? 1 : 0, 12);
      }
    }
  });

  it('random orthogonal matrices are orthogonal and reproducible from the seed', () => {
    const n = 6;
    const q = randomOrthogonal(n, seededRandom(3));
    const qt = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) qt[j * n + i] = q[i * n + j]!;
    const qqt = matMul64(q, qt, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(qqt[i * n + j]).toBeCloseTo(i === j ? 1 : 0, 12);
    expect(Array.from(randomOrthogonal(n, seededRandom(3)))).toEqual(Array.from(q));
    expect(Math.abs(logAbsDet(q, n))).toBeLessThan(1e-12);
  });
});
