import { auroc } from '@aeflow/metrics';
import { combineScores } from './model.js';

/** The paper's β (S = β·S_flow + (1 − β)·S_recon): the default, and the tie-breaker of {@link chooseBeta}. */
export const PAPER_BETA = 0.9;

/** β ∈ {0, 0.05, …, 1}: the grid `chooseBeta` searches (and the scorer's β sweep). */
export const BETA_GRID: readonly number[] = Array.from({ length: 21 }, (_, i) => i / 20);

export interface BetaChoice {
  beta: number;
  /** AUROC of the total at `beta` on the images it was chosen on. */
  auroc: number;
  /** AUROC at every β of the grid. */
  sweep: { beta: number; auroc: number }[];
}

/**
 * Chooses β honestly: on labelled images other than those it will be applied to (a validation
 * split), the β of the grid whose total β·flow + (1 − β)·recon has the highest AUROC; ties go to
 * the β closest to `prefer` (default the paper's 0.9). Needs normal (0) and anomalous (1) images.
 */
export function chooseBeta(
  labels: ArrayLike<number>,
  flow: ArrayLike<number>,
  recon: ArrayLike<number>,
  options: { grid?: readonly number[]; prefer?: number } = {},
): BetaChoice {
  const n = labels.length;
  if (flow.length !== n || recon.length !== n) throw new Error(`chooseBeta: ${n} labels but ${flow.length} flow and ${recon.length} recon scores; give one of each per image`);
  let normals = 0;
  let anomalies = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] === 1) anomalies++;
    else if (labels[i] === 0) normals++;
    else throw new Error(`chooseBeta: label ${labels[i]} of image ${i} is not 0 (normal) or 1 (anomalous)`);
  }
  if (normals === 0 || anomalies === 0) {
    throw new Error(`chooseBeta: choosing β by AUROC needs normal and anomalous images (got ${normals} normal, ${anomalies} anomalous); give β as a number instead (the paper: ${PAPER_BETA})`);
  }
  const grid = options.grid ?? BETA_GRID;
  const prefer = options.prefer ?? PAPER_BETA;
  const y = Array.from(labels);
  const sweep = grid.map((beta) => {
    const total = new Float64Array(n);
    for (let i = 0; i < n; i++) total[i] = combineScores(flow[i]!, recon[i]!, beta);
    return { beta, auroc: auroc(y, total) };
  });
  let best: { beta: number; auroc: number } | null = null;
  for (const s of sweep) {
    if (!Number.isFinite(s.auroc)) continue;
    if (best === null || s.auroc > best.auroc + 1e-12 || (Math.abs(s.auroc - best.auroc) <= 1e-12 && Math.abs(s.beta - prefer) < Math.abs(best.beta - prefer))) best = s;
  }
  if (!best) throw new Error('chooseBeta: the AUROC is not finite at any β (are the scores NaN?)');
  return { beta: best.beta, auroc: best.auroc, sweep };
}
