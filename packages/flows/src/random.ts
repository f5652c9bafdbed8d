/**
 * A tiny seeded generator for initialisers and permutations. `@aeflow/flows` must install on its
 * own (its only runtime dependency is tfjs-core), so it cannot use `@aeflow/tensor`'s
 * `SeededRandom`; any `() => number` uniform in [0, 1) can be passed instead (`config.random`).
 */
export type UniformRandom = () => number;

/** mulberry32: a 32-bit state generator, uniform in [0, 1). Enough for weight initialisation. */
export function seededRandom(seed: number): UniformRandom {
  if (!Number.isFinite(seed)) throw new Error(`seededRandom: seed must be a finite number, got ${seed}`);
  let state = (Math.trunc(seed) ^ 0x6d2b79f5) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller) from a uniform generator. */
export function normalFrom(random: UniformRandom): number {
  let u = random();
  while (u <= 0) u = random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A random permutation of 0..n-1 (Fisher–Yates). */
export function randomPermutation(n: number, random: UniformRandom): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    const tmp = p[i]!;
    p[i] = p[j]!;
    p[j] = tmp;
  }
  return p;
}

/** Uniform values in [-bound, bound) as a Float32Array. */
export function uniformArray(n: number, bound: number, random: UniformRandom): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (2 * random() - 1) * bound;
  return v;
}
