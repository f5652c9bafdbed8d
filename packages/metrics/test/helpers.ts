import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The golden files, copied from $AEFLOW_HOME/golden into this package's fixtures (as issue 4 allows). */
export const fixturesDir = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface MetricsCase {
  labels: number[];
  scores: number[];
  auroc: number;
  average_precision: number;
  roc: { fpr: number[]; tpr: number[] };
  best_f1: {
    threshold: number;
    f1: number;
    accuracy: number;
    sensitivity: number;
    specificity: number;
    tp: number;
    fp: number;
    tn: number;
    fn: number;
  };
}

export interface SsimCase {
  height: number;
  width: number;
  channels: number;
  a: number[];
  b: number[];
  ssim: number;
  ssim_map_center: number;
}

export interface Golden<T> {
  source: string;
  convention: string;
  cases: T[];
}

export function readGolden<T>(name: 'metrics.json' | 'ssim.json'): Golden<T> {
  return JSON.parse(readFileSync(`${fixturesDir}${name}`, 'utf8')) as Golden<T>;
}

/** Small seeded generator (mulberry32) so property and bootstrap tests are reproducible. */
export class TestRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Labels (first `positives` are 1) and scores: normals shifted by `separation` for the positives. */
export function syntheticScores(random: TestRandom, positives: number, negatives: number, separation: number): { labels: number[]; scores: number[] } {
  const labels: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < positives + negatives; i++) {
    const positive = i < positives;
    labels.push(positive ? 1 : 0);
    scores.push(random.normal() + (positive ? separation : 0));
  }
  return { labels, scores };
}
