import * as tf from '@tensorflow/tfjs-core';

/**
 * A small seeded generator (xoshiro128**, seeded through splitmix32) for everything that must be
 * reproducible: initialisers, shuffles, permutations, splits. Its state can be saved and restored,
 * so a resumed run draws the same numbers as an uninterrupted one.
 */
export class SeededRandom {
  private s: Uint32Array;
  private spareNormal: number | null = null;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`SeededRandom: seed must be a finite number, got ${seed}`);
    this.s = new Uint32Array(4);
    let x = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
    for (let i = 0; i < 4; i++) {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A whole number in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`SeededRandom.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller, the second value kept for the next call). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles in place (Fisher–Yates) and returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** A float32 tensor of normals × std (+ mean), drawn from this generator. */
  normalTensor(shape: number[], std = 1, mean = 0): tf.Tensor {
    const n = shape.reduce((a, d) => a * d, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = mean + std * this.normal();
    return tf.tensor(v, shape, 'float32');
  }

  /** A float32 tensor uniform in [low, high). */
  uniformTensor(shape: number[], low = 0, high = 1): tf.Tensor {
    const n = shape.reduce((a, d) => a * d, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = low + (high - low) * this.uniform();
    return tf.tensor(v, shape, 'float32');
  }

  /** A new generator whose stream does not overlap in practice with this one (for sub-tasks). */
  fork(): SeededRandom {
    return new SeededRandom(this.nextUint32());
  }

  /** The state as numbers (JSON turns the last, a NaN when empty, into null; both restore): `SeededRandom.fromState(r.getState())` continues the stream. */
  getState(): number[] {
    return [...this.s, this.spareNormal === null ? Number.NaN : this.spareNormal];
  }

  static fromState(state: readonly (number | null)[]): SeededRandom {
    if (state.length !== 5 || !state.slice(0, 4).every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) {
      throw new Error('SeededRandom.fromState: expected the 5 numbers returned by getState()');
    }
    const r = new SeededRandom(0);
    r.s = Uint32Array.from(state.slice(0, 4) as number[]);
    const spare = state[4];
    r.spareNormal = spare === null || spare === undefined || Number.isNaN(spare) ? null : spare;
    return r;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
