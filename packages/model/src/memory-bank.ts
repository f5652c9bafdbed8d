import * as tf from '@tensorflow/tfjs-core';

/**
 * |q − m|² of every query row to every memory row, [N, M] (inside the caller's tidy), as
 * |q|² + |m|² − 2·q·m, clipped at 0 against rounding; `unit`: every row has length 1, so 2 − 2·q·m.
 */
function squaredDistances(queries: tf.Tensor2D, bank: tf.Tensor2D, unit: boolean): tf.Tensor2D {
  const twice = tf.mul(tf.matMul(queries, bank, false, true), 2);
  const lengths = unit ? tf.scalar(2) : tf.add(tf.sum(tf.square(queries), 1, true), tf.reshape(tf.sum(tf.square(bank), 1), [1, -1]));
  return tf.relu(tf.sub<tf.Tensor2D>(lengths, twice));
}

/** The mean Euclidean distance of each row to its k nearest columns of squared distances [N, M], after skipping the `skip` nearest (inside the caller's tidy). */
function meanOfNearest(squared: tf.Tensor2D, k: number, skip: number): { distance: tf.Tensor1D; indices: tf.Tensor2D } {
  const top = tf.topk(tf.neg(squared), k + skip, true);
  const values = skip > 0 ? tf.slice(top.values, [0, skip], [-1, k]) : top.values;
  return { distance: tf.mean<tf.Tensor1D>(tf.sqrt(tf.neg(values)), 1), indices: top.indices };
}

/**
 * A memory of training images, one row per image (as anomalib's memory-bank mixin): the `knn`
 * model's pooled encoder features, or a flow's pooled z′ (`score.flow: 'knn'`). Rows are added in
 * batches and concatenated when first needed; queries are scored by the mean distance to their k
 * nearest rows. Saved with the weights as `memory.bank` [images, C].
 *
 * A row may hold several regions of an image, each pooled on its own (`knn.regions: 'left-right'`:
 * the left half's C channels, then the right half's): {@link regionDistance} then finds the nearest
 * rows per region, so each half of a chest is compared with the same half of its own nearest
 * normals, and a one-sided finding is not averaged away with the other side.
 */
export class MemoryBank {
  private chunks: tf.Tensor2D[] = [];
  private concatenated: tf.Tensor2D | undefined;
  /** {@link leaveOneOut}'s result for a k, until the memory changes. */
  private looCache: { k: number; mean: number; sd: number } | undefined;

  constructor(
    /** Row width: the channels of what is remembered (all regions together). */
    readonly channels: number,
    /** Who owns it, for error messages (e.g. 'the "knn" model'). */
    private readonly owner: string,
    /** Equal blocks of a row's columns, each one region of the image ({@link regionDistance}). */
    readonly regions = 1,
  ) {
    if (!Number.isInteger(regions) || regions < 1 || channels % regions !== 0) {
      throw new Error(`MemoryBank (${owner}): ${regions} regions do not split rows of ${channels} channels into equal blocks; give a whole number of regions that divides the channels`);
    }
  }

  /** Rows (images) in the memory. */
  get size(): number {
    return this.chunks.reduce((s, c) => s + c.shape[0], 0);
  }

  /** Adds rows [n, C]; the memory keeps them (the caller's tensor becomes the memory's). */
  add(rows: tf.Tensor2D): void {
    this.chunks.push(tf.keep(rows));
    this.concatenated?.dispose();
    this.concatenated = undefined;
    this.looCache = undefined;
  }

  /** Empties the memory. */
  clear(): void {
    tf.dispose(this.chunks);
    this.chunks = [];
    this.concatenated?.dispose();
    this.concatenated = undefined;
    this.looCache = undefined;
  }

  /** The memory as one [images, C] tensor (kept: it may be built inside a caller's tidy and outlives it). */
  tensor(fn: string): tf.Tensor2D {
    if (this.chunks.length === 0) throw new Error(`${fn}: the memory is empty; fill it with trainRun (or addToMemory), or load a trained run`);
    this.concatenated ??= tf.keep(this.chunks.length === 1 ? tf.clone(this.chunks[0]!) : tf.concat(this.chunks, 0));
    return this.concatenated;
  }

  /**
   * The k nearest memory rows of each row of `queries` [N, C]: their mean Euclidean distance [N]
   * and their indices [N, k]. `unit`: every row has length 1, so |q − m|² = 2 − 2·q·m.
   */
  nearest(queries: tf.Tensor2D, kNearest: number, unit: boolean, fn: string): { distance: tf.Tensor1D; indices: tf.Tensor2D } {
    const bank = this.tensor(fn);
    return tf.tidy(() => meanOfNearest(squaredDistances(queries, bank, unit), Math.min(kNearest, bank.shape[0]), 0));
  }

  /**
   * Per region (equal blocks of columns), the mean Euclidean distance of each query row's block to
   * its k nearest memory rows' same block; averaged over the regions, [N]. With one region this is
   * {@link nearest}'s distance.
   */
  regionDistance(queries: tf.Tensor2D, kNearest: number, fn: string): tf.Tensor1D {
    const bank = this.tensor(fn);
    if (queries.shape[1] !== this.channels) throw new Error(`${fn}: query rows of ${queries.shape[1]} channels against a memory of ${this.channels} (${this.owner})`);
    return tf.tidy(() => this.meanOverRegions(queries, bank, Math.min(kNearest, bank.shape[0]), 0));
  }

  /** Mean over regions of {@link meanOfNearest} between the same blocks of queries and bank (inside the caller's tidy). */
  private meanOverRegions(queries: tf.Tensor2D, bank: tf.Tensor2D, k: number, skip: number): tf.Tensor1D {
    const width = this.channels / this.regions;
    const block = (x: tf.Tensor2D, r: number): tf.Tensor2D => (this.regions === 1 ? x : tf.slice(x, [0, r * width], [-1, width]));
    const perRegion = Array.from({ length: this.regions }, (_, r) => meanOfNearest(squaredDistances(block(queries, r), block(bank, r), false), k, skip).distance);
    return perRegion.length === 1 ? perRegion[0]! : tf.div<tf.Tensor1D>(tf.addN(perRegion), perRegion.length);
  }

  /**
   * Mean and standard deviation, over the memory's rows, of each row's mean Euclidean distance to
   * its k nearest *other* rows (per region, averaged: as {@link regionDistance}): what a training
   * image's kNN score would be had it not been remembered. A score standardised with them is
   * comparable with another standardised score (`score.synthetic`). Derived from the memory, so
   * never stored; computed once per memory.
   */
  leaveOneOut(kNearest: number, fn: string): { mean: number; sd: number } {
    if (this.looCache?.k === kNearest) return this.looCache;
    const bank = this.tensor(fn);
    const m = bank.shape[0];
    if (m < 2) throw new Error(`${fn}: a memory of ${m} row has no other rows to measure distances to; remember at least 2 training images`);
    const k = Math.min(kNearest, m - 1);
    const distances = new Float64Array(m);
    const rows = 256;
    for (let start = 0; start < m; start += rows) {
      // the nearest is the row itself (distance 0, in every region): skip it
      const d = tf.tidy(() => this.meanOverRegions(tf.slice(bank, [start, 0], [Math.min(rows, m - start), -1]), bank, k, 1));
      distances.set(d.dataSync(), start);
      d.dispose();
    }
    const mean = distances.reduce((s, v) => s + v, 0) / m;
    const sd = Math.sqrt(distances.reduce((s, v) => s + (v - mean) ** 2, 0) / (m - 1));
    this.looCache = { k: kNearest, mean, sd: sd > 0 ? sd : 1 };
    return this.looCache;
  }

  /** `{ 'memory.bank': [images, C] }` (a new tensor), or nothing while empty. */
  getWeights(): Record<string, tf.Tensor> {
    return this.chunks.length > 0 ? { 'memory.bank': tf.concat(this.chunks, 0) } : {};
  }

  /** Replaces the memory with a copy of `bank` [images, C]; without one, empties it (a checkpoint before the first batch). */
  setWeights(bank: tf.Tensor | undefined, fn: string): void {
    if (bank && (bank.rank !== 2 || bank.shape[1] !== this.channels)) {
      throw new Error(`${fn}: memory.bank must be [images, ${this.channels}] (${this.owner}), got [${bank.shape.join(', ')}]`);
    }
    this.clear();
    if (bank) this.chunks = [tf.keep(tf.clone(bank) as tf.Tensor2D)];
  }
}
