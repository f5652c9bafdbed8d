import * as tf from '@tensorflow/tfjs-core';

/**
 * A memory of training images, one row per image (as anomalib's memory-bank mixin): the `knn`
 * model's pooled encoder features, or a flow's pooled z′ (`score.flow: 'knn'`). Rows are added in
 * batches and concatenated when first needed; queries are scored by the mean distance to their k
 * nearest rows. Saved with the weights as `memory.bank` [images, C].
 */
export class MemoryBank {
  private chunks: tf.Tensor2D[] = [];
  private concatenated: tf.Tensor2D | undefined;

  constructor(
    /** Row width: the channels of what is remembered. */
    readonly channels: number,
    /** Who owns it, for error messages (e.g. 'the "knn" model'). */
    private readonly owner: string,
  ) {}

  /** Rows (images) in the memory. */
  get size(): number {
    return this.chunks.reduce((s, c) => s + c.shape[0], 0);
  }

  /** Adds rows [n, C]; the memory keeps them (the caller's tensor becomes the memory's). */
  add(rows: tf.Tensor2D): void {
    this.chunks.push(tf.keep(rows));
    this.concatenated?.dispose();
    this.concatenated = undefined;
  }

  /** Empties the memory. */
  clear(): void {
    tf.dispose(this.chunks);
    this.chunks = [];
    this.concatenated?.dispose();
    this.concatenated = undefined;
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
    return tf.tidy(() => {
      const k = Math.min(kNearest, bank.shape[0]);
      const twice = tf.mul(tf.matMul(queries, bank, false, true), 2);
      // |q − m|² = |q|² + |m|² − 2·q·m
      const lengths = unit ? tf.scalar(2) : tf.add(tf.sum(tf.square(queries), 1, true), tf.reshape(tf.sum(tf.square(bank), 1), [1, -1]));
      const top = tf.topk(tf.neg(tf.relu(tf.sub(lengths, twice))), k, true);
      return { distance: tf.mean<tf.Tensor1D>(tf.sqrt(tf.neg(top.values)), 1), indices: top.indices as tf.Tensor2D };
    });
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
