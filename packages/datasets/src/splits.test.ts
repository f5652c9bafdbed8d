import { describe, expect, it } from 'vitest';
import { chestXrayDataset } from './folder.js';
import { holdOutSplit, shuffleItems, splitItems, stratifiedKFold, trainValSplit, valTestFolds } from './splits.js';
import type { ImageItem, Label } from './types.js';

const HOME = process.env.AEFLOW_HOME;

function items(normal: number, anomalous: number): ImageItem[] {
  const make = (n: number, label: Label, prefix: string) =>
    Array.from({ length: n }, (_, i): ImageItem => ({ id: `${prefix}${String(i).padStart(4, '0')}`, label, source: { kind: 'file', path: `/x/${prefix}${i}.png` } }));
  return [...make(normal, 0, 'n'), ...make(anomalous, 1, 'a')];
}

const ids = (xs: readonly ImageItem[]) => xs.map((x) => x.id);
const count = (xs: readonly ImageItem[], label: Label) => xs.filter((x) => x.label === label).length;

function expectDisjointCover(parts: ImageItem[][], all: ImageItem[]): void {
  const seen = parts.flatMap(ids);
  expect(new Set(seen).size).toBe(seen.length);
  expect([...seen].sort()).toEqual(ids(all).sort());
}

describe('seeded splits', () => {
  it('shuffleItems does not depend on the input order', () => {
    const xs = items(30, 10);
    expect(ids(shuffleItems(xs, 7))).toEqual(ids(shuffleItems([...xs].reverse(), 7)));
    expect(ids(shuffleItems(xs, 7))).not.toEqual(ids(shuffleItems(xs, 8)));
  });

  it('trainValSplit uses normal items only', () => {
    const xs = items(100, 40);
    const s = trainValSplit(xs, { seed: 1, valFraction: 0.2 });
    expect(s.train).toHaveLength(80);
    expect(s.val).toHaveLength(20);
    expect([...s.train, ...s.val].every((x) => x.label === 0)).toBe(true);
    expect(s.excluded).toHaveLength(40);
    expectDisjointCover([s.train, s.val, s.excluded], xs);
    expect(ids(trainValSplit([...xs].reverse(), { seed: 1, valFraction: 0.2 }).val)).toEqual(ids(s.val));
    expect(trainValSplit(xs, { seed: 1, valCount: 5 }).val).toHaveLength(5);
    expect(() => trainValSplit(items(0, 3), { seed: 1 })).toThrow(/no normal/);
    expect(() => trainValSplit(xs, {} as { seed: number })).toThrow(/seed is required/);
  });

  it('splitItems: fractions or counts, stratified by label, remainder in rest', () => {
    const xs = items(73, 27);
    const s = splitItems(xs, { seed: 5, sizes: { a: 0.5, b: 0.3 } });
    expect(s.a).toHaveLength(50);
    expect(s.b).toHaveLength(30);
    expect(s.rest).toHaveLength(20);
    expectDisjointCover([s.a!, s.b!, s.rest!], xs);
    // Class ratio 73:27 kept within one item per label.
    expect(Math.abs(count(s.a!, 1) - 27 * 0.5)).toBeLessThanOrEqual(1);
    expect(Math.abs(count(s.b!, 1) - 27 * 0.3)).toBeLessThanOrEqual(1);
    const c = splitItems(xs, { seed: 5, sizes: { a: 10, b: 20 } });
    expect([c.a!.length, c.b!.length, c.rest!.length]).toEqual([10, 20, 70]);
    expect(() => splitItems(xs, { seed: 5, sizes: { a: 0.7, b: 0.4 } })).toThrow(/sum to 1\.1/);
    expect(() => splitItems(xs, { seed: 5, sizes: { a: 101 } })).toThrow(/ask for 101 items, there are 100/);
  });

  it('stratifiedKFold: disjoint folds covering everything, class ratios kept, reproducible', () => {
    const xs = items(61, 19);
    const folds = stratifiedKFold(xs, 5, 42);
    expectDisjointCover(folds, xs);
    for (const f of folds) {
      expect(f.length).toBeGreaterThanOrEqual(16);
      expect(f.length).toBeLessThanOrEqual(16);
      expect(Math.abs(count(f, 1) - 19 / 5)).toBeLessThan(1);
    }
    expect(stratifiedKFold(xs, 5, 42).map(ids)).toEqual(folds.map(ids));
    expect(stratifiedKFold(xs, 5, 43).map(ids)).not.toEqual(folds.map(ids));
  });

  it("valTestFolds: the paper's protocol, validation:test 2:8 five times, each item validation exactly once", () => {
    const xs = items(100, 50);
    const folds = valTestFolds(xs, { seed: 0 });
    expect(folds).toHaveLength(5);
    for (const f of folds) {
      expect(f.val).toHaveLength(30);
      expect(f.test).toHaveLength(120);
      expect(count(f.val, 1)).toBe(10);
      expect(count(f.test, 1)).toBe(40);
      expectDisjointCover([f.val, f.test], xs);
    }
    expect(folds.flatMap((f) => ids(f.val)).sort()).toEqual(ids(xs).sort());
  });

  it('holdOutSplit: N normal + N anomalous held back, never in train', () => {
    const xs = items(200, 300);
    const s = holdOutSplit(xs, { seed: 9, normal: 50, anomalous: 50 });
    expect(s.train).toHaveLength(150);
    expect(s.train.every((x) => x.label === 0)).toBe(true);
    expect(s.val).toHaveLength(20);
    expect(s.test).toHaveLength(80);
    expect(count(s.val, 0)).toBe(10);
    expect(count(s.test, 1)).toBe(40);
    expect(s.unused).toHaveLength(250);
    expectDisjointCover([s.train, s.val, s.test, s.unused], xs);
    expect(() => holdOutSplit(xs, { seed: 9, normal: 200, anomalous: 5 })).toThrow(/normal must be a whole number from 1 to 199/);
  });
});

describe('the honest Chest X-ray split on the shared train folder', () => {
  it.skipIf(!HOME)('1341 normal + 3875 pneumonia; 200 + 200 held back, never trained on (needs AEFLOW_HOME: set it to the shared folder)', async () => {
    const ds = await chestXrayDataset(`${HOME}/data/chest-xray`, { split: 'train' });
    expect(count(ds.items, 0)).toBe(1341);
    expect(count(ds.items, 1)).toBe(3875);
    expect(ds.skipped).toEqual([]);
    const s = holdOutSplit(ds.items, { seed: 2023, normal: 200, anomalous: 200 });
    expect(s.train).toHaveLength(1141);
    const trained = new Set(ids(s.train));
    expect([...s.val, ...s.test].some((x) => trained.has(x.id))).toBe(false);
    expect([s.val.length, s.test.length]).toEqual([80, 320]);
    expect([count(s.val, 0), count(s.val, 1), count(s.test, 0), count(s.test, 1)]).toEqual([40, 40, 160, 160]);
    // Reproducible from the seed alone.
    expect(ids(holdOutSplit([...ds.items].reverse(), { seed: 2023, normal: 200, anomalous: 200 }).test)).toEqual(ids(s.test));
  });
});
