import { describe, expect, it } from 'vitest';
import { TestRandom } from '../test/helpers.js';
import { argsortFloat64, sortFloat64 } from './sort.js';

function reference(values: Float64Array): Float64Array {
  return values.slice().sort();
}

function expectSameBits(actual: Float64Array, expected: Float64Array): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) expect(`${i}: ${actual[i]}`).toBe(`${i}: ${expected[i]}`);
  }
}

describe('sortFloat64 / argsortFloat64', () => {
  const random = new TestRandom(12);
  const special = [0, -0, 1, -1, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072014e-308, 1e-300, -1e300];
  const inputs: Record<string, Float64Array> = {
    'small (native path)': Float64Array.from({ length: 500 }, () => random.normal()),
    'large normals (radix path)': Float64Array.from({ length: 20_000 }, () => random.normal() * 1e3),
    'large, few distinct values, signed zeros and extremes': Float64Array.from({ length: 10_000 }, () => special[random.int(special.length)]!),
    'large float32-valued (skipped low-digit passes)': Float64Array.from(Float32Array.from({ length: 10_000 }, () => random.normal())),
    'large all equal': new Float64Array(5000).fill(3.25),
  };

  it.each(Object.entries(inputs))('sorts like the engine does: %s', (_name, values) => {
    const copy = values.slice();
    expectSameBits(sortFloat64(values), reference(values));
    expectSameBits(values, copy); // input untouched
  });

  it.each(Object.entries(inputs))('argsort is the stable permutation: %s', (_name, values) => {
    const { sorted, order } = argsortFloat64(values);
    expectSameBits(sorted, reference(values));
    for (let k = 0; k < order.length; k++) {
      expect(Object.is(values[order[k]!], sorted[k])).toBe(true);
      if (k > 0 && Object.is(sorted[k], sorted[k - 1])) expect(order[k]!).toBeGreaterThan(order[k - 1]!);
    }
  });

  it('sorts a subarray view (non-zero byte offset)', () => {
    const backing = Float64Array.from({ length: 9000 }, () => random.normal());
    const view = backing.subarray(1000, 8000);
    expectSameBits(sortFloat64(view), reference(view));
  });
});
