// Collects the finished runs of the reproduction into docs/RESULTS.md. Every number is computed
// here from a run's own files (scores.csv, validation/scores.csv, config.json, history.jsonl,
// repro.json) with @aeflow/metrics and @aeflow/datasets (their built dist/, so `pnpm build` first).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { auroc, aurocConfidence, averagePrecision, bestF1, atThreshold, delongTest } from '../../packages/metrics/dist/index.js';
import { valTestFolds } from '../../packages/datasets/dist/index.js';
import { PRIMARY_SCORE_COLUMNS } from '../../packages/model/dist/index.js';

/** β grid of the sweep and of the "honest β" choice (the paper's Fig. 7 grid). */
export const BETAS = Array.from({ length: 11 }, (_, i) => i / 10);
/** Folds of the cross-validation (the paper's appendix: 5 folds, validation : test = 2 : 8). */
export const FOLDS = 5;
export const FOLD_SEED = 0;

// ---------------------------------------------------------------------------------------------
// Reading a run

/** scores.csv → rows {id, label, flow, recon, total}; ids never contain commas in our datasets, but quoted fields are handled. */
export function readScores(file) {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const header = lines[0].split(',');
  // the score parts under any of their names: this release's (named for what they hold; a part the
  // model lacks has no column and is 0) or the previous release's (flow/recon, flow_score/…)
  const col = (names, optional = false) => {
    const i = header.findIndex((h) => names.includes(h));
    if (i < 0 && !optional) throw new Error(`${file}: no "${names[0]}" column (header: ${lines[0]})`);
    return i;
  };
  const [ci, cl, ct] = [['id'], ['label'], ['total', 'total_score']].map((n) => col(n));
  const cf = col([...PRIMARY_SCORE_COLUMNS, 'flow_score'], true);
  const cr = col(['recon', 'recon_score', 'neg_ssim'], true);
  return lines.slice(1).map((line) => {
    const f = splitCsv(line);
    return { id: f[ci], label: f[cl] === '' ? null : Number(f[cl]), flow: cf < 0 ? 0 : Number(f[cf]), recon: cr < 0 ? 0 : Number(f[cr]), total: Number(f[ct]) };
  });
}

function splitCsv(line) {
  const out = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') out.push(cur), (cur = '');
    else cur += ch;
  }
  out.push(cur);
  return out;
}

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const readJsonl = (file) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);

export function loadRun(dir) {
  const config = readJson(join(dir, 'config.json'));
  const test = readScores(join(dir, 'scores.csv')).filter((r) => r.label === 0 || r.label === 1);
  const valFile = join(dir, 'validation/scores.csv');
  const val = existsSync(valFile) ? readScores(valFile).filter((r) => r.label === 0 || r.label === 1) : null;
  const history = readJsonl(join(dir, 'history.jsonl')).filter((h) => h.kind === 'epoch');
  const repro = existsSync(join(dir, 'repro.json')) ? readJson(join(dir, 'repro.json')) : null;
  const split = existsSync(join(dir, 'split.json')) ? readJson(join(dir, 'split.json')) : null;
  // β and the threshold chosen on validation: calibration.json (runs of this release) or threshold.json (earlier runs)
  const calibrationFile = ['calibration.json', 'threshold.json'].map((f) => join(dir, f)).find((f) => existsSync(f));
  const threshold = calibrationFile ? readJson(calibrationFile) : null;
  // score.beta 'auto': the β the run chose on validation (calibration.json / metrics.json record it)
  const metricsFile = join(dir, 'metrics.json');
  const chosenBeta = threshold?.beta ?? (existsSync(metricsFile) ? readJson(metricsFile).beta : undefined);
  const beta = config.score?.beta === 'auto' ? chosenBeta : (config.score?.beta ?? 0.5);
  if (typeof beta !== 'number' || !Number.isFinite(beta)) throw new Error(`${dir}: score.beta is ${JSON.stringify(config.score?.beta)} and no chosen β is recorded (calibration.json / metrics.json)`);
  // The stored total must be β·flow + (1 − β)·recon: the β sweep below relies on it.
  for (const r of test.slice(0, 20)) {
    const t = beta * r.flow + (1 - beta) * r.recon;
    if (Math.abs(t - r.total) > 1e-4 * Math.max(1, Math.abs(t))) {
      throw new Error(`${dir}/scores.csv: total ${r.total} of ${r.id} is not β·flow + (1 − β)·recon = ${t} (β = ${beta}); the β sweep would be wrong`);
    }
  }
  // Does the validation part differ from the scored part? (MedMNIST here: the trainer validates on and scores `val`.)
  const sameParts = !val || (val.length === test.length && val.every((r, i) => r.id === test[i].id));
  return { dir, config, test, val: sameParts ? null : val, history, repro, split, threshold, beta };
}

// ---------------------------------------------------------------------------------------------
// Metrics

const labelsOf = (rows) => rows.map((r) => r.label);
const combine = (rows, beta) => rows.map((r) => beta * r.flow + (1 - beta) * r.recon);
const varies = (xs) => xs.some((x) => x !== xs[0]);

/** Which β values make sense for this run: both parts must vary (the AE has no flow part, FastFlow no recon part). */
function betaGrid(run) {
  // kNN rows store one score in all three columns: nothing to sweep.
  if (run.test.every((r) => r.flow === r.recon)) return null;
  const f = varies(run.test.map((r) => r.flow));
  const r = varies(run.test.map((r) => r.recon));
  return f && r ? BETAS : null;
}

/** β with the best AUROC on `rows`; ties go to the β closest to the run's own. */
function chooseBeta(rows, grid, fallback) {
  let best = { beta: fallback, auroc: -1 };
  for (const b of grid) {
    const a = auroc(labelsOf(rows), combine(rows, b));
    if (a > best.auroc + 1e-12 || (Math.abs(a - best.auroc) <= 1e-12 && Math.abs(b - fallback) < Math.abs(best.beta - fallback))) best = { beta: b, auroc: a };
  }
  return best;
}

/** Threshold-free metrics and the metrics at the threshold chosen (best F1) on `valRows`, on `testRows`, at β. */
function evaluate(valRows, testRows, beta) {
  const yt = labelsOf(testRows);
  const st = combine(testRows, beta);
  const ci = aurocConfidence(yt, st);
  const chosen = bestF1(labelsOf(valRows), combine(valRows, beta));
  const at = atThreshold(yt, st, chosen.threshold);
  return { beta, auroc: ci.auroc, low: ci.low, high: ci.high, ap: averagePrecision(yt, st), threshold: chosen.threshold, at, paper: bestF1(yt, st), n: testRows.length, positives: yt.filter((y) => y === 1).length };
}

/** The paper's appendix protocol on stored scores: 5 stratified folds of the scored images, each fold in turn the validation 20 %. */
function crossValidate(rows, run, chooseB) {
  const grid = betaGrid(run);
  const folds = valTestFolds(rows, { seed: FOLD_SEED, k: FOLDS });
  const per = folds.map(({ val, test }) => {
    const beta = chooseB && grid ? chooseBeta(val, grid, run.beta).beta : run.beta;
    const e = evaluate(val, test, beta);
    return { beta, auroc: e.auroc, ap: e.ap, f1: e.at.f1, accuracy: e.at.accuracy, sensitivity: e.at.sensitivity, specificity: e.at.specificity };
  });
  const stat = (k) => {
    const xs = per.map((p) => p[k]);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
    return { mean, sd };
  };
  return Object.fromEntries(['beta', 'auroc', 'ap', 'f1', 'accuracy', 'sensitivity', 'specificity'].map((k) => [k, stat(k)]));
}

export function analyseRun(run, protocol) {
  const grid = betaGrid(run);
  const sweep = grid ? grid.map((b) => ({ beta: b, auroc: auroc(labelsOf(run.test), combine(run.test, b)) })) : null;
  const out = { grid, sweep };
  if (protocol === 'held-out' && run.val) {
    out.single = evaluate(run.val, run.test, run.beta);
    if (grid) {
      const b = chooseBeta(run.val, grid, run.beta);
      out.honestBeta = { ...evaluate(run.val, run.test, b.beta), valAuroc: b.auroc };
    }
  } else {
    // No separate validation part: threshold-free numbers on the whole scored set, thresholds only through the folds.
    const y = labelsOf(run.test);
    const s = combine(run.test, run.beta);
    const ci = aurocConfidence(y, s);
    out.whole = { beta: run.beta, auroc: ci.auroc, low: ci.low, high: ci.high, ap: averagePrecision(y, s), paper: bestF1(y, s), n: run.test.length, positives: y.filter((v) => v === 1).length };
  }
  out.cv = crossValidate(run.test, run, false);
  if (grid) out.cvBeta = crossValidate(run.test, run, true);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Markdown

const f3 = (x) => (x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(3));
const ms = (s) => `${f3(s.mean)} ± ${f3(s.sd)}`;
const ciText = (e) => `**${f3(e.auroc)}** (${f3(e.low)}–${f3(e.high)})`;
const atText = (m) => `${f3(m.f1)} | ${f3(m.accuracy)} | ${f3(m.sensitivity)} | ${f3(m.specificity)}`;

function runFacts(run) {
  const epochs = run.history.length;
  const trainMin = run.history.reduce((a, h) => a + (h.seconds ?? 0), 0) / 60;
  const wall = run.repro ? run.repro.wallSeconds / 60 : null;
  return { epochs, trainMin, wall, best: run.history.filter((h) => h.best).at(-1)?.epoch };
}

/** Epochs trained and the one whose checkpoint was scored (best validation AUROC). */
const epochsCell = (fx) => (fx.epochs ? `${fx.epochs} (best ${fx.best ?? '–'})` : '–');

/**
 * F1 and accuracy depend on the class ratio, sensitivity and specificity do not: our reported part
 * is balanced, the paper's test split is not. The same operating points (SEN, SPE at the validation
 * threshold) give these F1 / ACC at the paper's ratio.
 */
function atRatio(sensitivity, specificity, { anomalous, normal }) {
  const tp = sensitivity * anomalous;
  const fp = (1 - specificity) * normal;
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const f1 = precision + sensitivity > 0 ? (2 * precision * sensitivity) / (precision + sensitivity) : 0;
  return { f1, accuracy: (tp + specificity * normal) / (anomalous + normal) };
}

function prevalenceLines(ds, entries) {
  const r = ds.paperTestCounts;
  const L = [
    `F1 and accuracy depend on the class ratio; sensitivity and specificity do not. Our reported part is balanced, the paper's test split has ${r.anomalous} pneumonia and ${r.normal} normal images. ` +
      'The same operating points (SEN and SPE at the threshold chosen on validation, from the table above) at the paper\'s ratio give:',
    '',
    '| Model | β | SEN | SPE | F1 at the paper\'s ratio | ACC at the paper\'s ratio |',
    '|---|---|---|---|---|---|',
  ];
  const p = atRatio(ds.paper.sensitivity, ds.paper.specificity, r);
  L.push(`| Paper, AE-FLOW (check: its own SEN/SPE come out close to its reported F1 ${f3(ds.paper.f1)} / ACC ${f3(ds.paper.accuracy)}) | 0.9 | ${f3(ds.paper.sensitivity)} | ${f3(ds.paper.specificity)} | ${f3(p.f1)} | ${f3(p.accuracy)} |`);
  for (const { e, run, a } of entries) {
    for (const [label, x] of [[e.variant, a.single], [`${e.variant}, honest β`, a.honestBeta]]) {
      if (!x) continue;
      const q = atRatio(x.at.sensitivity, x.at.specificity, r);
      L.push(`| ours: ${label} | ${x.beta ?? run.beta} | ${f3(x.at.sensitivity)} | ${f3(x.at.specificity)} | ${f3(q.f1)} | ${f3(q.accuracy)} |`);
    }
  }
  L.push('');
  return L;
}

function datasetSection(key, ds, entries) {
  const L = [];
  L.push(`## ${ds.title}`, '');
  if (entries.length === 0) {
    L.push('_No finished run yet._', '');
    return L;
  }
  const first = entries[0];
  const n = first.a.single?.n ?? first.a.whole.n;
  const pos = first.a.single?.positives ?? first.a.whole.positives;
  if (ds.protocol === 'held-out') {
    L.push(
      `Split (from each run's \`split.json\`): ${first.run.split?.how ?? 'see split.json'}. Reported part: ${n} images (${pos} anomalous). ` +
        `Threshold (and, in the "honest β" rows, β) chosen on the ${first.run.val.length}-image validation part, then applied to the reported part.`,
      '',
    );
    L.push('| Model | β | AUROC (95 % CI, DeLong) | AP | F1 | ACC | SEN | SPE | epochs (scored) | run |', '|---|---|---|---|---|---|---|---|---|---|');
    if (ds.paper) L.push(`| Paper, AE-FLOW (their test split; best-F1 threshold on it) | 0.9 | ${f3(ds.paper.auroc)} | – | ${f3(ds.paper.f1)} | ${f3(ds.paper.accuracy)} | ${f3(ds.paper.sensitivity)} | ${f3(ds.paper.specificity)} | 100 | – |`);
    for (const o of ds.others) L.push(`| ${o.label} | – | ${f3(o.auroc)} | – | – | – | – | – | – | – |`);
    for (const { e, run, a } of entries) {
      const fx = runFacts(run);
      L.push(`| ours: ${e.variant} | ${run.beta} | ${ciText(a.single)} | ${f3(a.single.ap)} | ${atText(a.single.at)} | ${epochsCell(fx)} | \`${e.name}\` |`);
      if (a.honestBeta) L.push(`| ours: ${e.variant}, **honest β** (best AUROC on validation) | ${a.honestBeta.beta} | ${ciText(a.honestBeta)} | ${f3(a.honestBeta.ap)} | ${atText(a.honestBeta.at)} | ${epochsCell(fx)} | \`${e.name}\` |`);
    }
    if (ds.paper) L.push('', `_Paper row: ${ds.paperNote}_`);
    L.push('');
    if (ds.paperTestCounts) L.push(...prevalenceLines(ds, entries));
  } else {
    L.push(
      `The shared \`.npz\` has only \`train\` and \`val\`: the trainer trains on the train normals and validates on and scores \`val\` (${n} images, ${pos} anomalous). ` +
        'So the threshold-free numbers below are on all of `val` (the best epoch was also picked on it: slightly optimistic), and every thresholded number comes from the 5-fold protocol below (threshold on 20 %, reported on 80 %).',
      '',
    );
    L.push('| Model | β | AUROC on val (95 % CI, DeLong) | AP | F1 | ACC | SEN | SPE (5-fold, mean) | epochs (scored) | run |', '|---|---|---|---|---|---|---|---|---|---|');
    for (const { e, run, a } of entries) {
      const fx = runFacts(run);
      const c = a.cv;
      L.push(`| ours: ${e.variant} | ${run.beta} | ${ciText(a.whole)} | ${f3(a.whole.ap)} | ${f3(c.f1.mean)} | ${f3(c.accuracy.mean)} | ${f3(c.sensitivity.mean)} | ${f3(c.specificity.mean)} | ${epochsCell(fx)} | \`${e.name}\` |`);
    }
    L.push('');
  }

  L.push('**Paper convention** (labelled: the threshold with the best F1 on the very data reported — optimistic, shown only to compare with the paper):', '');
  L.push('| Model | β | F1 | ACC | SEN | SPE |', '|---|---|---|---|---|---|');
  for (const { e, run, a } of entries) {
    const p = (a.single ?? a.whole).paper;
    L.push(`| ours: ${e.variant} | ${run.beta} | ${atText(p)} |`);
  }
  L.push('');

  L.push(
    `**Cross-validation** (the paper's appendix protocol on the stored per-image scores: the ${n} scored images in ${FOLDS} stratified folds (seed ${FOLD_SEED}); each fold in turn is the validation 20 % that picks the best-F1 threshold, the other 80 % are reported; mean ± sample std over the folds):`,
    '',
  );
  L.push('| Model | β | AUROC | AP | F1 | ACC | SEN | SPE |', '|---|---|---|---|---|---|---|---|');
  for (const { e, run, a } of entries) {
    const c = a.cv;
    L.push(`| ours: ${e.variant} | ${run.beta} | ${ms(c.auroc)} | ${ms(c.ap)} | ${ms(c.f1)} | ${ms(c.accuracy)} | ${ms(c.sensitivity)} | ${ms(c.specificity)} |`);
    if (a.cvBeta) {
      const b = a.cvBeta;
      L.push(`| ours: ${e.variant}, β also chosen per fold | ${ms(b.beta)} | ${ms(b.auroc)} | ${ms(b.ap)} | ${ms(b.f1)} | ${ms(b.accuracy)} | ${ms(b.sensitivity)} | ${ms(b.specificity)} |`);
    }
  }
  L.push('');

  const swept = entries.filter((x) => x.a.sweep);
  if (swept.length) {
    L.push('**β sweep** (AUROC of β·flow + (1 − β)·recon on the reported part, from the stored scores; β = 1 is the flow part alone, β = 0 the reconstruction part alone):', '');
    L.push(`| Model | ${BETAS.map((b) => `β=${b}`).join(' | ')} |`, `|---|${BETAS.map(() => '---').join('|')}|`);
    for (const { e, a } of swept) L.push(`| ${e.variant} | ${a.sweep.map((s) => f3(s.auroc)).join(' | ')} |`);
    L.push('');
  }
  return L;
}

/** One line per model, one column per dataset: AUROC (95 % CI) at the run's β, and where it differs the AUROC with β chosen on validation data. */
function summarySection(done, datasets) {
  const main = done.filter((x) => x.e.groups.includes('main'));
  if (!main.length) return [];
  const keys = Object.keys(datasets).filter((k) => main.some((x) => x.e.dataset === k));
  const variants = [...new Set(main.map((x) => x.e.variant))];
  const L = ['## Summary: AUROC (95 % CI, DeLong)', ''];
  L.push(
    'Chest X-ray: on the 320 held-out images; MedMNIST: on all of `val`. "β on val" is the AUROC with β chosen on validation data ' +
      '(chest: the 80-image validation part; MedMNIST: per fold, mean of the 5-fold protocol). Details and thresholded metrics per dataset below.',
    '',
  );
  L.push(`| Model | ${keys.map((k) => datasets[k].title.split(' (')[0]).join(' | ')} |`, `|---|${keys.map(() => '---').join('|')}|`);
  for (const v of variants) {
    const cells = keys.map((k) => {
      const x = main.find((m) => m.e.dataset === k && m.e.variant === v);
      if (!x) return '–';
      const w = x.a.single ?? x.a.whole;
      let cell = `${f3(w.auroc)} (${f3(w.low)}–${f3(w.high)})`;
      if (x.a.honestBeta) cell += `; β on val = ${x.a.honestBeta.beta}: ${f3(x.a.honestBeta.auroc)}`;
      else if (x.a.cvBeta && !x.a.single) cell += `; β per fold: ${f3(x.a.cvBeta.auroc.mean)}`;
      return cell;
    });
    L.push(`| ${v} | ${cells.join(' | ')} |`);
  }
  if (keys.some((k) => datasets[k].paper)) L.push(`| _Paper, AE-FLOW (reported, on their test split)_ | ${keys.map((k) => (datasets[k].paper ? f3(datasets[k].paper.auroc) : '–')).join(' | ')} |`);
  const others = [...new Set(keys.flatMap((k) => datasets[k].others.map((o) => o.label)))];
  for (const label of others) L.push(`| _${label}_ | ${keys.map((k) => f3(datasets[k].others.find((o) => o.label === label)?.auroc)).join(' | ')} |`);
  L.push('');
  return L;
}

function gridSection(title, intro, entries, rowLabel) {
  const L = [`### ${title}`, '', intro, ''];
  if (!entries.length) return [...L, '_No finished run yet._', ''];
  L.push(
    '| Setting | AUROC at β of config (95 % CI) | AUROC flow only (β=1) | AUROC recon only (β=0) | best β on the data (AUROC) | CV AUROC, β chosen per fold | CV F1 | epochs (scored) | run |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const { e, run, a } of entries) {
    const w = a.whole ?? a.single;
    const best = a.sweep ? a.sweep.reduce((p, q) => (q.auroc > p.auroc ? q : p)) : null;
    const cvb = a.cvBeta ?? a.cv;
    L.push(
      `| ${rowLabel(e)} | ${ciText(w)} | ${f3(a.sweep?.at(-1).auroc)} | ${f3(a.sweep?.[0].auroc)} | ${best ? `${best.beta} (${f3(best.auroc)})` : '–'} | ${ms(cvb.auroc)} | ${ms(cvb.f1)} | ${epochsCell(runFacts(run))} | \`${e.name}\` |`,
    );
  }
  L.push('');
  return L;
}

/** DeLong's paired test of a run's scores at β against the bar's (kNN) scores on the same images, matched by id. */
function versusBar({ run, beta }, barRun) {
  const bar = new Map(barRun.test.map((r) => [r.id, r]));
  const missing = run.test.filter((r) => !bar.has(r.id));
  if (missing.length || bar.size !== run.test.length) {
    throw new Error(`${run.dir}: its reported images are not the kNN run's (${barRun.dir}); ${missing.length} of ${run.test.length} have no kNN score — rerun both on the same split`);
  }
  return delongTest(labelsOf(run.test), combine(run.test, beta), run.test.map((r) => bar.get(r.id).total));
}

const vsText = (vs) => (vs ? `${vs.difference >= 0 ? '+' : '−'}${f3(Math.abs(vs.difference))} (${pText(vs.pValue)})` : '–');
const pText = (p) => (p < 0.001 ? 'p < 0.001' : `p = ${p < 0.01 ? p.toFixed(3) : p.toFixed(2)}`);

/**
 * Attempts at the kNN bar (group "bar", chest X-ray): each row next to the cpu-preset run and the kNN
 * run, with the AUROC at the run's β, with β = 1 (flow part alone) and with β chosen on validation
 * (the honest number), then the thresholded metrics at that β and the validation threshold.
 */
function barSection(done, datasets) {
  const tries = done.filter((x) => x.e.groups.includes('bar'));
  if (!tries.length) return [];
  const L = [];
  for (const key of [...new Set(tries.map((x) => x.e.dataset))]) {
    const refs = done.filter((x) => x.e.dataset === key && x.e.groups.includes('main') && (x.e.kind === 'knn' || x.e.name.endsWith('-aeflow')));
    const rows = [...refs, ...tries.filter((x) => x.e.dataset === key)];
    L.push(`## Towards the kNN bar: ${datasets[key].title.split(' (')[0]}`, '');
    // MedMNIST here has no test split: all of val is scored, so β can be chosen honestly only inside the 5-fold protocol
    const valOnly = datasets[key].protocol === 'val-only';
    L.push(
      valOnly
        ? 'All of `val` is scored (the shared .npz has no test split). "honest β": the 5-fold protocol of the main table — β (by AUROC) and the best-F1 threshold chosen on one fold, metrics on the other four, mean ± sd over the folds.'
        : 'Reported part and validation part as in the main table. "honest β": β chosen by AUROC on the validation part, threshold (best F1) on the validation part, both applied to the reported part.',
      '',
      valOnly
        ? '"vs the bar": the AUROC at the β of the config (fixed before training, so no choice was made on these images) minus the kNN bar\'s on all of `val`, and the two-sided p-value of DeLong\'s paired test.'
        : '"vs the bar": the AUROC at honest β minus the kNN bar\'s on the same images, and the two-sided p-value of DeLong\'s paired test (the two detectors score the same images, so their errors are correlated).',
      '',
      '"vs the kNN at its size": the same test against the kNN run at the row\'s input size, where there is one (the bar itself reads 224 px images).',
      '',
      '| Model | AUROC at β of config (95 % CI) | AUROC flow only (β=1) | honest β | AUROC at honest β | vs the bar: Δ (p) | vs the kNN at its size: Δ (p) | F1 | ACC | SEN | SPE | epochs (scored) | run |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    const knnAtSize = (x) => rows.find((k) => k.e.kind === 'knn' && k.run.config.size === x.run.config.size && k.e !== x.e);
    const honest = (x) => (valOnly ? (x.a.cvBeta ?? x.a.cv).auroc.mean : (x.a.honestBeta ?? x.a.single ?? x.a.whole).auroc);
    const learned = rows.filter((x) => x.e.kind !== 'knn');
    const knn = rows.filter((x) => x.e.kind === 'knn' && x.e.groups.includes('main'));
    const best = learned.reduce((p, q) => (honest(q) > honest(p) ? q : p), learned[0]);
    for (const { e, run, a } of rows) {
      const w = a.single ?? a.whole;
      let cells;
      if (valOnly) {
        const c = a.cvBeta ?? a.cv;
        const vs = knn.length && knn[0].e !== e ? versusBar({ run, beta: run.beta }, knn[0].run) : null;
        const same = knnAtSize({ e, run });
        const vsSize = same && e.kind !== 'knn' ? versusBar({ run, beta: run.beta }, same.run) : null;
        cells = [a.cvBeta ? 'per fold' : run.beta, ms(c.auroc), vsText(vs), vsText(vsSize), [c.f1, c.accuracy, c.sensitivity, c.specificity].map((m) => f3(m.mean)).join(' | ')];
      } else {
        const h = a.honestBeta ?? a.single ?? a.whole;
        const vs = knn.length && knn[0].e !== e ? versusBar({ run, beta: h.beta }, knn[0].run) : null;
        const same = knnAtSize({ e, run });
        const vsSize = same && e.kind !== 'knn' ? versusBar({ run, beta: h.beta }, same.run) : null;
        cells = [h.beta, ciText(h), vsText(vs), vsText(vsSize), h.at ? atText(h.at) : '– | – | – | –'];
      }
      L.push(`| ${e.variant} | ${ciText(w)} (β ${run.beta}) | ${f3(a.sweep?.at(-1).auroc)} | ${cells.join(' | ')} | ${epochsCell(runFacts(run))} | \`${e.name}\` |`);
    }
    L.push('');
    if (best && knn.length) {
      const bar = honest(knn[0]);
      L.push(
        `Best learned model here: ${best.e.variant} (\`${best.e.name}\`), ${f3(honest(best))} with β chosen on validation${valOnly ? ' (5-fold mean)' : ''}; the kNN bar on the same images: ${f3(bar)}. ` +
          (honest(best) > bar ? `It is above the bar by ${f3(honest(best) - bar)}` : `The bar is **not** cleared (gap ${f3(bar - honest(best))})`) +
          (() => {
            const vs = versusBar({ run: best.run, beta: valOnly ? best.run.beta : (best.a.honestBeta ?? best.a.single ?? best.a.whole).beta }, knn[0].run);
            const sig = vs.pValue < 0.05;
            return `; DeLong's paired test${valOnly ? ' at the β of the config' : ''}: Δ ${vsText(vs)}, ${sig ? (vs.difference > 0 ? 'significantly above' : 'significantly below') : `not significant on these ${best.run.test.length} images`}.`;
          })(),
        '',
      );
    }
    for (const size of [128, 224]) {
      const file = join(dirname(tries[0].run.dir), `feature-probes-${size}.md`);
      if (key !== 'chest-xray' || !existsSync(file)) continue;
      L.push(
        `**Models of the frozen features at ${size} px** (\`scripts/reproduce/probes/\`: features dumped by \`dump-features.mjs\`, then \`probes.py\` in PyTorch; the same split, every choice made on the validation part). ` +
          'Gaussians and the flow alone stay below the bar; a kNN on the *flow\'s* pooled latent z′ (the flow of the cpu preset, trained on L2-normalised features with input noise) is above it at both sizes.',
        '',
        ...readFileSync(file, 'utf8').trim().split('\n'),
        '',
      );
    }
    const probe = join(dirname(tries[0].run.dir), 'position-probe.md');
    if (key === 'chest-xray' && existsSync(probe)) {
      L.push(
        '**Why condition the flow on position** (`node scripts/reproduce/position-probe.mjs`: Gaussian densities of the cpu preset\'s frozen features on the same split, nothing trained). ' +
          'A density shared by all positions scores pneumonia as *more* typical than normal; one density per position separates them. ' +
          '(Our unconditional flow is not such a shared density: its 3×3 convolutions see the zero-padded border of the 8×8 map, and its flow part alone already reaches the per-position Gaussians — likely why conditioning it on position added nothing above.)',
        '',
        ...readFileSync(probe, 'utf8').trim().split('\n'),
        '',
      );
    }
  }
  return L;
}

export async function writeReport({ root, runs, out, experiments, datasets, isFinished, commandLine }) {
  const done = [];
  for (const e of experiments) {
    if (!isFinished(e.name)) continue;
    const run = loadRun(join(runs, e.name));
    done.push({ e, run, a: analyseRun(run, datasets[e.dataset].protocol) });
  }
  const L = [
    '# Results',
    '',
    'Written by `scripts/reproduce/run.mjs` from the run folders under `runs/repro/` (see `scripts/reproduce/README.md`); ' +
      'every number below is computed from a run\'s stored files — the per-image `scores.csv` (reported part) and `validation/scores.csv` — with `@aeflow/metrics`. ' +
      'Rows marked "Paper" or "reported" are other people\'s numbers on other splits, copied for comparison only.',
    '',
    `Finished runs: ${done.length} of ${experiments.length}. Machine: 2 cores, tfjs wasm backend, shared with other jobs. Generated ${new Date().toISOString().slice(0, 16)} UTC.`,
    '',
  ];
  // The transfer section (val/: 20 % of the official test) is written from runs outside this
  // harness (see its own commands); a regeneration keeps it as it is.
  const previous = existsSync(out) ? readFileSync(out, 'utf8') : '';
  const kept = /<!-- transfer:start -->[\s\S]*?<!-- transfer:end -->/.exec(previous);
  if (kept) L.push(kept[0], '');
  L.push(...summarySection(done, datasets));
  for (const [key, ds] of Object.entries(datasets)) {
    L.push(...datasetSection(key, ds, done.filter((x) => x.e.dataset === key && x.e.groups.includes('main'))));
  }
  L.push(...barSection(done, datasets));
  for (const [key, ds] of Object.entries(datasets)) {
    const mine = done.filter((x) => x.e.dataset === key && (x.e.groups.includes('table3') || x.e.groups.includes('alpha')));
    if (!mine.length) continue;
    const epochs = [...new Set(mine.map((x) => runFacts(x.run).epochs))].join('/');
    const heldOut = ds.protocol === 'held-out';
    const where = heldOut ? `on the ${mine[0].run.test.length} reported images` : 'on all of `val`';
    L.push(`## Ablations${heldOut ? '' : ' at reduced epochs'}: ${ds.title.split(' (')[0]} (${epochs} epochs)`, '');
    L.push(
      ...gridSection(
        "The paper's Table 3: flow subnet × reconstruction loss",
        `α = 0.5, β = 0.9 (the cpu preset otherwise), ${epochs} epochs. Threshold-free numbers ${where}; CV as above (β chosen per fold).`,
        mine.filter((x) => x.e.groups.includes('table3')),
        (e) => e.t3Variant ?? e.variant,
      ),
    );
    const alpha = mine.filter((x) => x.e.groups.includes('alpha')).sort((p, q) => p.e.alpha - q.e.alpha);
    L.push(...gridSection("The α grid of the paper's Fig. 7", `conv subnet, MSE, ${epochs} epochs; α weights the flow loss against the reconstruction loss in training.`, alpha, (e) => `α = ${e.alpha}`));
    if (alpha.some((x) => x.a.sweep)) {
      L.push(`AUROC over the α × β grid (rows α, columns β; ${where}; β = 1 flow part only, β = 0 reconstruction part only):`, '');
      L.push(`| α | ${BETAS.map((b) => `β=${b}`).join(' | ')} |`, `|---|${BETAS.map(() => '---').join('|')}|`);
      for (const { e, a } of alpha) if (a.sweep) L.push(`| ${e.alpha} | ${a.sweep.map((s) => f3(s.auroc)).join(' | ')} |`);
      L.push('');
    }
  }
  L.push(
    '## Caveats',
    '',
    '- Our Chest X-ray numbers are on a seeded hold-out of the shared `train/` folder (images of one patient can fall on both sides for normals; pneumonia images are never trained on). ' +
      "The paper's numbers are on Kermany's official test split, which is known to be harder (different acquisition batch); the two are not directly comparable.",
    '- MedMNIST: the shared `.npz` files hold 28 × 28 images (upsampled to the model size) and only `train` and `val`; `val` plays the test set here.',
    '- The kNN bar pools `conv_pw_11_relu` of MobileNet V1 (the deepest layer of the known asset), not a penultimate layer; the "reported bar" row is someone else\'s kNN on another split.',
    '- Ablations run 2–3 epochs on MedMNIST (BreastMNIST has 78 val images) and 5 on Chest X-ray: their confidence intervals are wide and overlap; read them as directions, not rankings.',
    '',
  );
  L.push('## Commands', '', 'Each row\'s run, from the repository root after `pnpm install && pnpm build`, with `AEFLOW_HOME` set to the shared data folder. "train" is the sum of the epochs\' training time from `history.jsonl`; "wall" includes feature caching, validation and scoring.', '');
  L.push('| run | command | epochs (best) | train min | wall min |', '|---|---|---|---|---|');
  for (const { e, run } of done) {
    const fx = runFacts(run);
    L.push(`| \`${e.name}\` | \`${run.repro?.command ?? commandLine(e)}\` | ${fx.epochs} (${fx.best ?? '–'}) | ${fx.trainMin.toFixed(1)} | ${fx.wall === null ? '–' : fx.wall.toFixed(1)} |`);
  }
  const pending = experiments.filter((e) => !isFinished(e.name));
  if (pending.length) {
    L.push('', 'Not run yet (the harness runs them on its next call): ' + pending.map((e) => `\`${e.name}\``).join(', ') + '.');
  }
  L.push('');
  writeFileSync(out, L.join('\n'));
  void relative;
  void root;
}
