import { describe, expect, it } from 'vitest';
import { SeededRandom } from './random.js';

describe('SeededRandom', () => {
  it('gives the same stream for the same seed and another for another seed', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const c = new SeededRandom(43);
    const xa = Array.from({ length: 100 }, () => a.uniform());
    expect(Array.from({ length: 100 }, () => b.uniform())).toEqual(xa);
    expect(Array.from({ length: 100 }, () => c.uniform())).not.toEqual(xa);
  });

  it('draws uniform and normal values with the right moments', () => {
    const r = new SeededRandom(7);
    const n = 20000;
    const u = Array.from({ length: n }, () => r.uniform());
    const mean = u.reduce((s, v) => s + v, 0) / n;
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(mean).toBeCloseTo(0.5, 1);
    const z = Array.from({ length: n }, () => r.normal());
    const zm = z.reduce((s, v) => s + v, 0) / n;
    const zv = z.reduce((s, v) => s + (v - zm) ** 2, 0) / n;
    expect(Math.abs(zm)).toBeLessThan(0.03);
    expect(Math.abs(zv - 1)).toBeLessThan(0.05);
  });

  it('shuffles into a permutation', () => {
    const p = new SeededRandom(1).permutation(50);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(p).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('continues the same stream after saving and restoring its state (through JSON)', () => {
    const r = new SeededRandom(99);
    r.uniform();
    r.normal(); // leaves a spare normal in the state
    const saved = JSON.parse(JSON.stringify(r.getState())) as number[];
    const expected = [r.normal(), r.uniform(), r.int(10)];
    const back = SeededRandom.fromState(saved);
    expect([back.normal(), back.uniform(), back.int(10)]).toEqual(expected);
  });

  it('rejects bad seeds and bad states', () => {
    expect(() => new SeededRandom(Number.NaN)).toThrow(/finite/);
    expect(() => SeededRandom.fromState([1, 2])).toThrow(/getState/);
    expect(() => new SeededRandom(1).int(0)).toThrow(/positive integer/);
  });
});
