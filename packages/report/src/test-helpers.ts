import { atThreshold, auroc, aurocConfidence, averagePrecision, bestF1 } from '@aeflow/metrics';
import { SeededRandom } from '@aeflow/tensor';
import type { FloatImage, PixelMap } from './images.js';
import type { ReportMetrics, ReportRow } from './report.js';

/** A seeded uniform [0, 1) generator for test data (@aeflow/tensor's SeededRandom). */
function rng(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.uniform();
}

/** Score rows where anomalies score higher on average in both parts. */
export function syntheticRows(normal: number, anomalous: number, seed = 1): ReportRow[] {
  const r = rng(seed);
  const rows: ReportRow[] = [];
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  for (let i = 0; i < normal + anomalous; i++) {
    const label = i < normal ? 0 : 1;
    const flow = -Math.exp(-1.2 + 0.3 * gauss() - (label ? 0.5 : 0));
    const recon = -0.8 + 0.05 * gauss() + (label ? 0.07 : 0);
    rows.push({ id: `${label ? 'PNEUMONIA' : 'NORMAL'}/img ${i}.png`, label, flow, recon, total: 0.9 * flow + 0.1 * recon });
  }
  return rows;
}

/** A gray image with soft structure and, when `blob`, a bright spot; and its "reconstruction" without the spot. */
export function syntheticImage(size: number, blob: boolean, seed = 1): { original: FloatImage; reconstruction: FloatImage; residual: PixelMap } {
  const r = rng(seed);
  const cx = 0.3 + 0.4 * r();
  const cy = 0.3 + 0.4 * r();
  const orig = new Float32Array(size * size);
  const rec = new Float32Array(size * size);
  const res = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / size;
      const v = y / size;
      const base = 0.35 + 0.25 * Math.sin(6 * u) * Math.cos(4 * v) + 0.03 * r();
      const spot = blob ? 0.5 * Math.exp(-((u - cx) ** 2 + (v - cy) ** 2) / 0.004) : 0;
      const i = y * size + x;
      orig[i] = base + spot;
      rec[i] = base + 0.02 * (r() - 0.5);
      res[i] = Math.abs(orig[i] - rec[i]);
    }
  }
  return {
    original: { width: size, height: size, channels: 1, data: orig },
    reconstruction: { width: size, height: size, channels: 1, data: rec },
    residual: { width: size, height: size, data: res },
  };
}

export function syntheticHistory(epochs: number, stepsPerEpoch: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let step = 0;
  for (let e = 1; e <= epochs; e++) {
    for (let s = 0; s < stepsPerEpoch; s++) {
      step++;
      out.push({ type: 'step', epoch: e, step, loss: 2 / Math.sqrt(step) + 0.5, flowNll: 1.5 / Math.sqrt(step), recon: 0.4 / step + 0.1, lr: 2e-4, imagesPerSecond: 30 + (step % 5) });
    }
    out.push({ type: 'epoch', epoch: e, step, valAuroc: 0.6 + 0.3 * (1 - Math.exp(-e / 3)) });
  }
  return out;
}

/**
 * The metrics of rows at their best-F1 threshold, with a β sweep of β·flow + (1 − β)·recon: what
 * @aeflow/eval's evaluateScores writes to metrics.json (the report package cannot use eval, which
 * depends on it).
 */
export function syntheticMetrics(rows: readonly ReportRow[], beta = 0.9): ReportMetrics {
  const kept = rows.filter((r) => r.label !== null);
  const labels = Uint8Array.from(kept, (r) => r.label as number);
  const scores = Float64Array.from(kept, (r) => r.total);
  const normal = kept.filter((r) => r.label === 0).length;
  const anomalous = kept.length - normal;
  const both = normal > 0 && anomalous > 0;
  const threshold = both ? bestF1(labels, scores).threshold : null;
  const at = threshold !== null ? atThreshold(labels, scores, threshold) : null;
  const ci = both ? aurocConfidence(labels, scores, 0.95) : null;
  const sweep = both
    ? Array.from({ length: 21 }, (_, i) => {
        const b = i / 20;
        return { beta: b, auroc: auroc(labels, Float64Array.from(kept, (r) => b * r.flow + (1 - b) * r.recon)) };
      })
    : null;
  return {
    auroc: both ? auroc(labels, scores) : null,
    aurocCI: ci ? { low: ci.low, high: ci.high } : null,
    ap: both ? averagePrecision(labels, scores) : null,
    threshold,
    f1: at?.f1 ?? null,
    accuracy: at?.accuracy ?? null,
    sensitivity: at?.sensitivity ?? null,
    specificity: at?.specificity ?? null,
    counts: { images: rows.length, normal, anomalous, unlabeled: rows.length - kept.length, tp: at?.tp ?? null, fp: at?.fp ?? null, tn: at?.tn ?? null, fn: at?.fn ?? null },
    thresholdRule: 'best-f1',
    beta,
    betaRule: 'run',
    betaSweep: sweep,
  };
}
