/**
 * Small dense linear algebra in float64 on the JS side, for what tfjs lacks (no LU, det, solve
 * in tf.linalg): the LU initialisation and the inverse of the invertible 1×1 convolution.
 * Matrices are row-major Float64Arrays of n×n.
 */
import { normalFrom, type UniformRandom } from './random.js';

export interface LuDecomposition {
  /** Row permutation: row i of L·U is row `rows[i]` of A (P·A = L·U with P from `rows`). */
  rows: number[];
  /** Unit lower-triangular L (ones on the diagonal). */
  lower: Float64Array;
  /** Upper-triangular U (with its diagonal). */
  upper: Float64Array;
}

/** LU decomposition with partial pivoting (Doolittle): P·A = L·U. Throws if A is singular. */
export function luDecompose(a: ArrayLike<number>, n: number): LuDecomposition {
  const m = Float64Array.from(a);
  const rows = Array.from({ length: n }, (_, i) => i);
  for (let k = 0; k < n; k++) {
    let pivot = k;
    let best = Math.abs(m[k * n + k]!);
    for (let i = k + 1; i < n; i++) {
      const v = Math.abs(m[i * n + k]!);
      if (v > best) {
        best = v;
        pivot = i;
      }
    }
    if (best === 0) throw new Error(`luDecompose: the matrix is singular (column ${k} has no pivot)`);
    if (pivot !== k) {
      for (let j = 0; j < n; j++) {
        const t = m[k * n + j]!;
        m[k * n + j] = m[pivot * n + j]!;
        m[pivot * n + j] = t;
      }
      const r = rows[k]!;
      rows[k] = rows[pivot]!;
      rows[pivot] = r;
    }
    const d = m[k * n + k]!;
    for (let i = k + 1; i < n; i++) {
      const f = m[i * n + k]! / d;
      m[i * n + k] = f;
      if (f !== 0) for (let j = k + 1; j < n; j++) m[i * n + j] = m[i * n + j]! - f * m[k * n + j]!;
    }
  }
  const lower = new Float64Array(n * n);
  const upper = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (j < i) lower[i * n + j] = m[i * n + j]!;
      else upper[i * n + j] = m[i * n + j]!;
    }
    lower[i * n + i] = 1;
  }
  return { rows, lower, upper };
}

/** log |det A| through the LU decomposition. */
export function logAbsDet(a: ArrayLike<number>, n: number): number {
  const { upper } = luDecompose(a, n);
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.log(Math.abs(upper[i * n + i]!));
  return s;
}

/** The inverse of a unit lower-triangular matrix (forward substitution, column by column). */
export function invertUnitLower(l: ArrayLike<number>, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let col = 0; col < n; col++) {
    // Solve L·x = e_col; x[i] = 0 for i < col.
    inv[col * n + col] = 1;
    for (let i = col + 1; i < n; i++) {
      let s = 0;
      for (let k = col; k < i; k++) s += l[i * n + k]! * inv[k * n + col]!;
      inv[i * n + col] = -s;
    }
  }
  return inv;
}

/** The inverse of an upper-triangular matrix (back substitution, column by column). */
export function invertUpper(u: ArrayLike<number>, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let col = 0; col < n; col++) {
    // Solve U·x = e_col; x[i] = 0 for i > col.
    for (let i = col; i >= 0; i--) {
      let s = i === col ? 1 : 0;
      for (let k = i + 1; k <= col; k++) s -= u[i * n + k]! * inv[k * n + col]!;
      const d = u[i * n + i]!;
      if (d === 0) throw new Error(`invertUpper: zero on the diagonal at ${i}: the matrix is singular`);
      inv[i * n + col] = s / d;
    }
  }
  return inv;
}

/** A·B for n×n matrices. */
export function matMul64(a: ArrayLike<number>, b: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] = out[i * n + j]! + aik * b[k * n + j]!;
    }
  }
  return out;
}

/** A random orthogonal matrix: Gram–Schmidt (twice, for stability) on a Gaussian matrix. */
export function randomOrthogonal(n: number, random: UniformRandom): Float64Array {
  for (;;) {
    const q = new Float64Array(n * n);
    for (let i = 0; i < n * n; i++) q[i] = normalFrom(random);
    let ok = true;
    // Orthonormalise the rows.
    for (let i = 0; i < n && ok; i++) {
      for (let pass = 0; pass < 2; pass++) {
        for (let j = 0; j < i; j++) {
          let dot = 0;
          for (let k = 0; k < n; k++) dot += q[i * n + k]! * q[j * n + k]!;
          for (let k = 0; k < n; k++) q[i * n + k] = q[i * n + k]! - dot * q[j * n + k]!;
        }
      }
      let norm = 0;
      for (let k = 0; k < n; k++) norm += q[i * n + k]! ** 2;
      norm = Math.sqrt(norm);
      if (norm < 1e-8) ok = false;
      else for (let k = 0; k < n; k++) q[i * n + k] = q[i * n + k]! / norm;
    }
    if (ok) return q;
  }
}
