import { SeededRandom } from '@aeflow/tensor';
import type { ImageItem, Label } from './types.js';

/** Items sorted by id, so a split depends on the seed and the ids, never on listing order. */
function byId<T extends ImageItem>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** A seeded shuffle of the items (sorted by id first, so it is reproducible across machines). */
export function shuffleItems<T extends ImageItem>(items: readonly T[], seed: number): T[] {
  return new SeededRandom(seed).shuffle(byId(items));
}

function checkSeed(seed: unknown, where: string): asserts seed is number {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new Error(`${where}: seed is required (a number), so the split can be reproduced`);
}

function labelKey(label: Label): string {
  return label === null ? 'null' : String(label);
}

/** Groups by label, each group in its seeded order; groups in order 0, 1, null. */
function groupsByLabel<T extends ImageItem>(items: readonly T[], rng: SeededRandom): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of byId(items)) {
    const k = labelKey(item.label);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(item);
  }
  return ['0', '1', 'null'].filter((k) => groups.has(k)).map((k) => rng.shuffle(groups.get(k)!));
}

/** Splits `total` into parts proportional to `weights` with the largest-remainder rule (parts sum to total). */
function apportion(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, w) => a + w, 0);
  if (sum === 0) return weights.map(() => 0);
  const exact = weights.map((w) => (total * w) / sum);
  const out = exact.map(Math.floor);
  let left = total - out.reduce((a, v) => a + v, 0);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) out[order[k]!.i]!++;
  return out;
}

export interface SplitItemsOptions {
  seed: number;
  /**
   * Part name → fraction of the items (fractions summing to at most 1; whatever is left goes to
   * `rest`) or, when all values are whole numbers and one is > 1, counts of items.
   */
  sizes: Record<string, number>;
  /** Keep the label ratio in every part (default true). */
  stratify?: boolean;
}

/**
 * Seeded split of items into named parts. Stratified (default): every part keeps the label ratio
 * of the whole within one item per label. Parts are disjoint; items not assigned go to `rest`.
 */
export function splitItems<T extends ImageItem>(items: readonly T[], options: SplitItemsOptions): Record<string, T[]> {
  checkSeed(options.seed, 'splitItems');
  const names = Object.keys(options.sizes);
  if (names.length === 0) throw new Error('splitItems: sizes is empty; e.g. { train: 0.8, val: 0.2 }');
  if (names.includes('rest')) throw new Error('splitItems: "rest" is reserved for the items left over');
  const values = names.map((n) => options.sizes[n]!);
  if (values.some((v) => !Number.isFinite(v) || v < 0)) throw new Error(`splitItems: sizes must be non-negative numbers, got ${JSON.stringify(options.sizes)}`);
  const counts = values.every((v) => Number.isInteger(v)) && values.some((v) => v > 1);
  const n = items.length;
  let targets: number[];
  if (counts) {
    targets = values;
  } else {
    const sum = values.reduce((a, v) => a + v, 0);
    if (sum > 1 + 1e-9) throw new Error(`splitItems: fractions sum to ${sum}, more than 1`);
    // Cumulative rounding: part boundaries at round(n · cumulative fraction).
    let cum = 0;
    let prev = 0;
    targets = values.map((v) => {
      cum += v;
      const b = Math.round(n * cum);
      const t = b - prev;
      prev = b;
      return t;
    });
  }
  const need = targets.reduce((a, v) => a + v, 0);
  if (need > n) throw new Error(`splitItems: the parts ask for ${need} items, there are ${n}`);
  const rng = new SeededRandom(options.seed);
  const out: Record<string, T[]> = {};
  for (const name of names) out[name] = [];
  out.rest = [];
  if (options.stratify ?? true) {
    const groups = groupsByLabel(items, rng);
    const sizes = groups.map((g) => g.length);
    // Per part: apportion its count over the label groups by their size, capped by what is left.
    const taken = groups.map(() => 0);
    names.forEach((name, p) => {
      const share = apportion(targets[p]!, sizes);
      let deficit = 0;
      share.forEach((s, g) => {
        const can = Math.min(s, sizes[g]! - taken[g]!);
        deficit += s - can;
        share[g] = can;
      });
      for (let g = 0; deficit > 0 && g < groups.length; g++) {
        const extra = Math.min(deficit, sizes[g]! - taken[g]! - share[g]!);
        share[g]! += extra;
        deficit -= extra;
      }
      share.forEach((s, g) => {
        out[name]!.push(...groups[g]!.slice(taken[g], taken[g]! + s));
        taken[g]! += s;
      });
    });
    groups.forEach((g, i) => out.rest!.push(...g.slice(taken[i])));
    for (const name of [...names, 'rest']) out[name] = rng.shuffle(out[name]!);
  } else {
    const order = rng.shuffle(byId(items));
    let at = 0;
    names.forEach((name, p) => {
      out[name] = order.slice(at, at + targets[p]!);
      at += targets[p]!;
    });
    out.rest = order.slice(at);
  }
  return out;
}

export interface TrainValSplitOptions {
  seed: number;
  /** Fraction of the normal items kept for validation (default 0.1), or … */
  valFraction?: number;
  /** … a count of normal items for validation. */
  valCount?: number;
}

/**
 * Training and validation sets from the normal items only (the model never sees an anomaly in
 * training). Anomalous and unlabelled items are returned apart in `excluded`.
 */
export function trainValSplit<T extends ImageItem>(items: readonly T[], options: TrainValSplitOptions): { train: T[]; val: T[]; excluded: T[] } {
  checkSeed(options.seed, 'trainValSplit');
  const normals = items.filter((i) => i.label === 0);
  const excluded = items.filter((i) => i.label !== 0);
  if (normals.length === 0) throw new Error('trainValSplit: no normal (label 0) items to split');
  let valCount: number;
  if (options.valCount !== undefined) {
    if (!Number.isInteger(options.valCount) || options.valCount < 0 || options.valCount >= normals.length) {
      throw new Error(`trainValSplit: valCount must be a whole number from 0 to ${normals.length - 1}, got ${options.valCount}`);
    }
    valCount = options.valCount;
  } else {
    const f = options.valFraction ?? 0.1;
    if (!(f >= 0 && f < 1)) throw new Error(`trainValSplit: valFraction must be in [0, 1), got ${f}`);
    valCount = Math.round(normals.length * f);
  }
  const order = shuffleItems(normals, options.seed);
  return { val: order.slice(0, valCount), train: order.slice(valCount), excluded };
}

/**
 * Stratified k-fold: k disjoint folds covering every item, each with the label ratio of the whole
 * (within one item per label) and sizes within one of each other.
 */
export function stratifiedKFold<T extends ImageItem>(items: readonly T[], k: number, seed: number): T[][] {
  checkSeed(seed, 'stratifiedKFold');
  if (!Number.isInteger(k) || k < 2) throw new Error(`stratifiedKFold: k must be a whole number >= 2, got ${k}`);
  if (items.length < k) throw new Error(`stratifiedKFold: ${items.length} items cannot fill ${k} folds`);
  const rng = new SeededRandom(seed);
  const folds: T[][] = Array.from({ length: k }, () => []);
  // Deal the label groups one after another round-robin, continuing where the last group stopped.
  let at = 0;
  for (const group of groupsByLabel(items, rng)) {
    for (const item of group) {
      folds[at % k]!.push(item);
      at++;
    }
  }
  return folds.map((f) => rng.shuffle(f));
}

/**
 * The paper's evaluation protocol: split the test items into validation and test 2:8 keeping the
 * class ratio, k times (default 5) — fold i is the validation set, the other folds the test set.
 */
export function valTestFolds<T extends ImageItem>(items: readonly T[], options: { seed: number; k?: number }): { val: T[]; test: T[] }[] {
  const folds = stratifiedKFold(items, options.k ?? 5, options.seed);
  return folds.map((val, i) => ({ val, test: folds.filter((_, j) => j !== i).flat() }));
}

export interface HoldOutSplitOptions {
  seed: number;
  /** Normal items held back from training for validation + test. */
  normal: number;
  /** Anomalous items held back for validation + test. */
  anomalous: number;
  /** Fraction of the held-back items that is validation (default 0.2, the rest is test: the paper's 2:8). */
  valFraction?: number;
}

/**
 * The honest split when a dataset ships only a training folder (the shared Chest X-ray copy):
 * hold back `normal` normal and `anomalous` anomalous items for validation and test (split
 * stratified by `valFraction`), train on the remaining normals only. Held-back items are never in
 * `train`; anomalous items not held back are returned in `unused`.
 */
export function holdOutSplit<T extends ImageItem>(items: readonly T[], options: HoldOutSplitOptions): { train: T[]; val: T[]; test: T[]; unused: T[] } {
  checkSeed(options.seed, 'holdOutSplit');
  const normals = shuffleItems(
    items.filter((i) => i.label === 0),
    options.seed,
  );
  const anomalies = shuffleItems(
    items.filter((i) => i.label === 1),
    options.seed + 1,
  );
  if (!Number.isInteger(options.normal) || options.normal < 1 || options.normal >= normals.length) {
    throw new Error(`holdOutSplit: normal must be a whole number from 1 to ${normals.length - 1} (there are ${normals.length} normal items), got ${options.normal}`);
  }
  if (!Number.isInteger(options.anomalous) || options.anomalous < 1 || options.anomalous > anomalies.length) {
    throw new Error(`holdOutSplit: anomalous must be a whole number from 1 to ${anomalies.length} (there are ${anomalies.length} anomalous items), got ${options.anomalous}`);
  }
  const held = [...normals.slice(0, options.normal), ...anomalies.slice(0, options.anomalous)];
  const parts = splitItems(held, { seed: options.seed + 2, sizes: { val: options.valFraction ?? 0.2 } });
  return {
    train: normals.slice(options.normal),
    val: parts.val!,
    test: parts.rest!,
    unused: [...anomalies.slice(options.anomalous), ...items.filter((i) => i.label === null)],
  };
}
