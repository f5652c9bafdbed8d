import { histogramChart, lineChart, prChart, rocChart, type LineSeries } from './charts.js';
import { prCurve, rocCurve } from '@aeflow/metrics';
import { pngDataUri } from './images.js';

/** 0 = normal, 1 = anomalous, null = not known. */
export type Label = 0 | 1 | null;

/** One scored image as the report shows it (a row of scores.csv; @aeflow/eval's ScoreRow is one). */
export interface ReportRow {
  id: string;
  label: Label;
  /** The flow part of the score (a kNN distance for the kNN model). */
  flow: number;
  /** The reconstruction part (−SSIM). */
  recon: number;
  total: number;
}

/** The metrics the report shows (the content of metrics.json; @aeflow/eval's ScoreMetrics is one). */
export interface ReportMetrics {
  auroc: number | null;
  aurocCI: { low: number; high: number } | null;
  ap: number | null;
  threshold: number | null;
  f1: number | null;
  accuracy: number | null;
  sensitivity: number | null;
  specificity: number | null;
  counts: { images: number; normal: number; anomalous: number; unlabeled: number; tp: number | null; fp: number | null; tn: number | null; fn: number | null };
  thresholdRule: string;
  beta: number | null;
  betaRule: string | null;
  betaSweep: readonly { beta: number; auroc: number }[] | null;
  crossValidation?: ReportCrossValidation;
  /** What was chosen on these very images (epoch, beta, threshold): the headline numbers are then optimistic. */
  chosenOnTheseImages?: readonly string[];
  /** How many of the scored images those choices were made on, when not all. */
  chosenOnImages?: number;
}

type FoldMetrics = { auroc: number; ap: number; f1: number; accuracy: number; sensitivity: number; specificity: number };

/** The cross-validation the report tabulates (metrics.json's `crossValidation`). */
export interface ReportCrossValidation {
  k: number;
  seed: number;
  chooseBeta: boolean;
  images: number;
  folds: readonly (FoldMetrics & { fold: number; beta: number | null; threshold: number; val: { normal: number; anomalous: number }; test: { normal: number; anomalous: number } })[];
  mean: FoldMetrics & { beta: number | null };
  std: FoldMetrics & { beta: number | null };
}

/** Curves for the report (not written to metrics.json). */
export interface ScoreCurves {
  roc: { fpr: number[]; tpr: number[] } | null;
  pr: { recall: number[]; precision: number[]; prevalence: number } | null;
}

function countLabels(rows: readonly ReportRow[]): { normal: number; anomalous: number } {
  let normal = 0;
  let anomalous = 0;
  for (const r of rows) {
    if (r.label === 0) normal++;
    else if (r.label === 1) anomalous++;
  }
  return { normal, anomalous };
}

/** ROC and PR curves of the total score over the labelled rows (null without both classes). */
export function scoreCurves(rows: readonly ReportRow[]): ScoreCurves {
  const { normal, anomalous } = countLabels(rows);
  if (normal === 0 || anomalous === 0) return { roc: null, pr: null };
  const kept = rows.filter((r) => r.label !== null);
  const labels = Uint8Array.from(kept, (r) => r.label as number);
  const scores = Float64Array.from(kept, (r) => r.total);
  const roc = rocCurve(labels, scores);
  const pr = prCurve(labels, scores);
  return {
    roc: { fpr: Array.from(roc.fpr), tpr: Array.from(roc.tpr) },
    pr: { recall: Array.from(pr.recall), precision: Array.from(pr.precision), prevalence: anomalous / (normal + anomalous) },
  };
}

/** One image of the report's grid: original | reconstruction | residual, as PNG bytes. */
export interface ReportExample {
  id: string;
  label: Label;
  total: number;
  original: Uint8Array;
  reconstruction: Uint8Array | null;
  residual: Uint8Array | null;
}

export interface ReportGroup {
  title: string;
  note: string;
  examples: ReportExample[];
}

export interface SkippedEntry {
  path: string;
  reason: string;
}

export interface ReportInput {
  /** Page title, e.g. the run's name. */
  title: string;
  /** One line under the title: what was scored, with what. */
  subtitle?: string;
  /** The run's resolved settings (config.json); nested objects are shown as dotted keys. */
  settings: Record<string, unknown> | null;
  /** The run's `config.model` ('aeflow', 'ae', 'fastflow', 'knn'): which score parts and maps it has. Default 'aeflow'. */
  model?: string;
  rows: readonly ReportRow[];
  metrics: ReportMetrics;
  /** Lines of history.jsonl, parsed. */
  history: readonly Record<string, unknown>[];
  groups: readonly ReportGroup[];
  skipped: readonly SkippedEntry[];
  /** ISO time shown in the footer (default: now). */
  generatedAt?: string;
  /** Which calibration (β and threshold) the scores use, one line (shown under the summary). */
  calibration?: string;
}

/** The ids to show in the report's grid: the most and least anomalous normals and anomalies. */
export function selectExamples(rows: readonly ReportRow[], perGroup: number): { title: string; note: string; ids: string[] }[] {
  const byScore = (label: Label) => rows.filter((r) => r.label === label && Number.isFinite(r.total)).sort((a, b) => b.total - a.total);
  const normals = byScore(0);
  const anomalies = byScore(1);
  const unlabeled = byScore(null);
  const groups: { title: string; note: string; ids: string[] }[] = [];
  const take = (list: ReportRow[], fromTop: boolean): string[] => (fromTop ? list.slice(0, perGroup) : list.slice(-perGroup).reverse()).map((r) => r.id);
  if (anomalies.length > 0) {
    groups.push({ title: 'Anomalies scored most anomalous', note: 'true positives at the top of the ranking', ids: take(anomalies, true) });
    groups.push({ title: 'Anomalies scored least anomalous', note: 'the anomalies the model finds hardest (likely misses)', ids: take(anomalies, false) });
  }
  if (normals.length > 0) {
    groups.push({ title: 'Normals scored most anomalous', note: 'normal images the model finds unusual (likely false alarms)', ids: take(normals, true) });
    groups.push({ title: 'Normals scored least anomalous', note: 'the most typical normal images', ids: take(normals, false) });
  }
  if (unlabeled.length > 0) {
    groups.push({ title: 'Unlabelled images scored most anomalous', note: '', ids: take(unlabeled, true) });
    groups.push({ title: 'Unlabelled images scored least anomalous', note: '', ids: take(unlabeled, false) });
  }
  // A group can overlap another when a class has fewer than 2·perGroup images; keep each once.
  const seen = new Set<string>();
  return groups
    .map((g) => ({ ...g, ids: g.ids.filter((id) => (seen.has(id) ? false : (seen.add(id), true))) }))
    .filter((g) => g.ids.length > 0);
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function fmt(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(3);
  return String(Number(v.toFixed(digits)));
}

/** Nested settings as [dotted key, shown value] rows. */
export function flattenSettings(value: unknown, prefix = ''): [string, string][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix) return [[prefix, '{}']];
    return entries.flatMap(([k, v]) => flattenSettings(v, prefix ? `${prefix}.${k}` : k));
  }
  let shown: string;
  if (typeof value === 'string') shown = value;
  else if (Array.isArray(value) && value.length > 12) shown = `[${value.slice(0, 12).map((v) => JSON.stringify(v)).join(', ')}, … ${value.length} items]`;
  else shown = JSON.stringify(value) ?? String(value);
  return [[prefix, shown]];
}

function numericKeys(history: readonly Record<string, unknown>[]): string[] {
  const keys = new Set<string>();
  for (const h of history) for (const [k, v] of Object.entries(h)) if (typeof v === 'number' && Number.isFinite(v)) keys.add(k);
  return [...keys];
}

const X_KEYS = ['step', 'epoch'];
const NOT_PLOTTED = /^(step|epoch|time|timestamp|t|wall.*|elapsed.*|seed|batch.*|images|.*_ms|.*Ms|.*seconds)$/i;

interface CurveGroup {
  title: string;
  yName: string;
  match: (key: string) => boolean;
  logY?: boolean;
}

const CURVE_GROUPS: CurveGroup[] = [
  { title: 'Training losses', yName: 'loss', match: (k) => /loss|nll|mse|recon|flow|total/i.test(k) && !/val|auroc|\bap\b/i.test(k) },
  { title: 'Validation', yName: 'value', match: (k) => /val|auroc|\bap\b|f1/i.test(k) },
  { title: 'Throughput', yName: 'images/s', match: (k) => /images?[_ ]?per|img.?s|per_?s(ec)?$|PerS(econd)?$/i.test(k) },
  { title: 'Learning rate', yName: 'learning rate', match: (k) => /^lr$|learning.?rate/i.test(k), logY: true },
];

/** Training-curve charts from history.jsonl records (each chart uses the records that carry its keys). */
export function historyCharts(historyInput: readonly Record<string, unknown>[]): string[] {
  // A nested validation result ({metric, value}, as @aeflow/model writes it) becomes val_<metric>.
  const history = historyInput.map((h) => {
    const v = h.validation as { metric?: unknown; value?: unknown } | undefined;
    return v && typeof v === 'object' && typeof v.metric === 'string' && typeof v.value === 'number' ? { ...h, [`val_${v.metric}`]: v.value } : h;
  });
  const keys = numericKeys(history).filter((k) => !X_KEYS.includes(k) && !NOT_PLOTTED.test(k));
  const used = new Set<string>();
  const charts: string[] = [];
  for (const group of CURVE_GROUPS) {
    const groupKeys = keys.filter((k) => !used.has(k) && group.match(k));
    if (groupKeys.length === 0) continue;
    groupKeys.forEach((k) => used.add(k));
    const records = history.filter((h) => groupKeys.some((k) => typeof h[k] === 'number'));
    // Per-epoch records plot against the epoch; per-step ones (epochs repeat) against the step.
    const distinct = (x: string) => new Set(records.map((h) => h[x])).size === records.length;
    const xKey = X_KEYS.slice().reverse().find((x) => records.every((h) => typeof h[x] === 'number') && distinct(x)) ?? X_KEYS.find((x) => records.every((h) => typeof h[x] === 'number'));
    const series: LineSeries[] = groupKeys.map((k) => ({
      name: k,
      points: records
        .map((h, i): [number, number] => [xKey ? (h[xKey] as number) : i, h[k] as number])
        .filter(([, y]) => typeof y === 'number' && Number.isFinite(y) && (!group.logY || y > 0)),
    }));
    charts.push(lineChart(series.filter((s) => s.points.length > 0), { title: group.title, xName: xKey ?? 'record', yName: group.yName, logY: group.logY ?? false }));
  }
  return charts;
}

function labelName(label: Label): string {
  return label === 1 ? 'anomalous' : label === 0 ? 'normal' : 'unlabelled';
}

function headline(metrics: ReportMetrics): string {
  const ci = metrics.aurocCI ? ` <span class="ci">(95% CI ${fmt(metrics.aurocCI.low, 3)}–${fmt(metrics.aurocCI.high, 3)})</span>` : '';
  const cells: [string, string][] = [
    ['AUROC', `${fmt(metrics.auroc)}${ci}`],
    ['AP', fmt(metrics.ap)],
    ['F1', fmt(metrics.f1)],
    ['accuracy', fmt(metrics.accuracy)],
    ['sensitivity', fmt(metrics.sensitivity)],
    ['specificity', fmt(metrics.specificity)],
    ['threshold', `${fmt(metrics.threshold, 6)} <span class="ci">(${escapeHtml(metrics.thresholdRule)})</span>`],
    ['β', `${fmt(metrics.beta)}${metrics.betaRule === 'auto' ? ' <span class="ci">(chosen on validation)</span>' : metrics.betaRule === 'fit' ? ' <span class="ci">(fitted on these images)</span>' : ''}`],
  ];
  const c = metrics.counts;
  const counts = `${c.images} images: ${c.normal} normal, ${c.anomalous} anomalous${c.unlabeled ? `, ${c.unlabeled} unlabelled` : ''}` +
    (c.tp !== null ? ` · at the threshold TP ${c.tp}, FP ${c.fp}, TN ${c.tn}, FN ${c.fn}` : '');
  const chosen = metrics.chosenOnTheseImages ?? [];
  const warning =
    chosen.length > 0
      ? `<p class="counts"><b>Optimistic:</b> ${escapeHtml(chosen.map((c) => (c === 'beta' ? 'β' : c)).join(', '))} chosen on ${metrics.chosenOnImages !== undefined ? `${metrics.chosenOnImages} of these ${c.images} images` : 'these very images'}.` +
        (metrics.crossValidation ? ` The cross-validation below (choices made on 1/${metrics.crossValidation.k}, measured on the rest) is the honest estimate.` : ' Score a part held out from every choice for an honest estimate.') +
        '</p>'
      : '';
  return `<div class="cards">${cells.map(([k, v]) => `<div class="card"><div class="k">${k}</div><div class="v">${v}</div></div>`).join('')}</div><p class="counts">${escapeHtml(counts)}</p>${warning}`;
}

/** The cross-validation table: one row per fold, then mean ± sample std. */
function crossValidationTable(cv: ReportCrossValidation): string {
  const cols = ['auroc', 'ap', 'f1', 'accuracy', 'sensitivity', 'specificity'] as const;
  const head = `<tr><th>fold</th><th>β</th><th>threshold</th><th>val (normal / anomalous)</th><th>test (normal / anomalous)</th><th>AUROC</th><th>AP</th><th>F1</th><th>accuracy</th><th>sensitivity</th><th>specificity</th></tr>`;
  const rows = cv.folds
    .map((f) =>
      `<tr><td>${f.fold + 1}</td><td>${fmt(f.beta, 2)}</td><td>${fmt(f.threshold, 6)}</td><td>${f.val.normal} / ${f.val.anomalous}</td><td>${f.test.normal} / ${f.test.anomalous}</td>` +
      cols.map((c) => `<td>${fmt(f[c])}</td>`).join('') + '</tr>',
    )
    .join('');
  const ms = (m: number | null, s: number | null, digits?: number) => `<b>${fmt(m, digits)}</b> <span class="ci">± ${fmt(s, digits)}</span>`;
  const summary = `<tr><td><b>mean ± std</b></td><td>${ms(cv.mean.beta, cv.std.beta, 2)}</td><td></td><td></td><td></td>${cols.map((c) => `<td>${ms(cv.mean[c], cv.std[c])}</td>`).join('')}</tr>`;
  return `<table>${head}${rows}${summary}</table>`;
}

function exampleGrid(groups: readonly ReportGroup[]): string {
  if (groups.length === 0) return '<p class="muted">No images were kept for the grid.</p>';
  return groups
    .map((g) => {
      const rows = g.examples
        .map((e) => {
          const img = (png: Uint8Array | null, alt: string) => (png ? `<img src="${pngDataUri(png)}" alt="${escapeHtml(alt)}">` : '<div class="noimg">—</div>');
          return `<figure class="triplet"><div class="imgs">${img(e.original, 'original')}${img(e.reconstruction, 'reconstruction')}${img(e.residual, 'residual')}</div>` +
            `<figcaption title="${escapeHtml(e.id)}"><b>${fmt(e.total)}</b> · ${labelName(e.label)} · ${escapeHtml(e.id)}</figcaption></figure>`;
        })
        .join('');
      return `<h3>${escapeHtml(g.title)}</h3>${g.note ? `<p class="muted">${escapeHtml(g.note)}</p>` : ''}<div class="grid">${rows}</div>`;
    })
    .join('');
}

const CSS = `
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1a202c;margin:0;background:#f7fafc}
main{max-width:1180px;margin:0 auto;padding:24px}h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #cbd5e0;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 2px}.muted,.sub{color:#4a5568}.sub{margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:8px}.card{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:8px 12px;min-width:112px}
.card .k{font-size:12px;color:#4a5568;letter-spacing:.02em}.card .v{font-size:18px;font-weight:600}.ci{font-size:12px;font-weight:400;color:#4a5568}
.counts{color:#2d3748}.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:4px}
.chart svg{display:block}.grid{display:flex;flex-wrap:wrap;gap:10px}.triplet{margin:0;background:#fff;border:1px solid #e2e8f0;border-radius:6px;padding:6px;width:366px}
.imgs{display:flex;gap:4px}.imgs img,.noimg{width:116px;height:116px;image-rendering:pixelated;background:#000;object-fit:contain}.noimg{display:flex;align-items:center;justify-content:center;color:#a0aec0}
figcaption{font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;margin-top:4px}.legend{font-size:12px;color:#4a5568}
table{border-collapse:collapse;background:#fff;font-size:13px}td,th{border:1px solid #e2e8f0;padding:3px 8px;text-align:left;vertical-align:top}td.key{font-family:ui-monospace,monospace;color:#2d3748}
td.val{font-family:ui-monospace,monospace;max-width:760px;overflow-wrap:anywhere}details{margin-top:8px}footer{margin-top:32px;color:#718096;font-size:12px}
`;

/**
 * The report as one self-contained HTML page: charts are inline SVG, images are PNG data URIs, no
 * script and no network. Sections: headline metrics; ROC and PR (with the AUROC interval); score
 * distributions per class (total, flow and reconstruction parts); the β sweep; training curves;
 * original | reconstruction | residual grids; settings; skipped files.
 */
export function renderReport(input: ReportInput): string {
  const { metrics, rows } = input;
  const curves = scoreCurves(rows);
  const sections: string[] = [];

  const calibration = `<p class="calibration"><strong>Calibration:</strong> ${escapeHtml(input.calibration ?? `none stored; threshold rule ${metrics.thresholdRule}`)}</p>`;
  sections.push(`<h2>Summary</h2>${headline(metrics)}${calibration}`);

  if (curves.roc && curves.pr) {
    const ci = metrics.aurocCI ? ` (95% CI ${fmt(metrics.aurocCI.low, 3)}–${fmt(metrics.aurocCI.high, 3)}, DeLong)` : '';
    sections.push(
      `<h2>ROC and precision–recall</h2><div class="charts">` +
        `<div class="chart">${rocChart(curves.roc, `ROC · AUROC ${fmt(metrics.auroc, 4)}${ci}`)}</div>` +
        `<div class="chart">${prChart(curves.pr, `Precision–recall · AP ${fmt(metrics.ap, 4)}`)}</div></div>`,
    );
  } else {
    const { normal, anomalous } = countLabels(rows);
    sections.push(`<h2>ROC and precision–recall</h2><p class="muted">Not available: these need labelled normal and anomalous images (here ${normal} normal, ${anomalous} anomalous).</p>`);
  }

  const classes: Label[] = [0, 1, null];
  const present = classes.filter((l) => rows.some((r) => r.label === l));
  const dist = (pick: (r: ReportRow) => number, title: string, xName: string, withThreshold: boolean) =>
    histogramChart(
      present.map((l) => ({ name: labelName(l), values: rows.filter((r) => r.label === l).map(pick) })),
      { title, xName, width: 356, height: 320, marker: withThreshold && metrics.threshold !== null ? { value: metrics.threshold, label: 'threshold' } : null },
    );
  // What the model's parts are (older or foreign runs: AE-FLOW's two parts)
  const kind = input.model ?? 'aeflow';
  const flowPart = kind !== 'ae';
  const reconPart = kind === 'aeflow' || kind === 'ae';
  const flowTitle = kind === 'knn' ? 'kNN distance' : 'Flow part';
  sections.push(
    `<h2>Score distributions per class</h2><p class="legend">Density of each class's scores (higher = more anomalous); the dashed line is the decision threshold.</p><div class="charts">` +
      `<div class="chart">${dist((r) => r.total, 'Total score', 'total score', true)}</div>` +
      (flowPart && reconPart ? `<div class="chart">${dist((r) => r.flow, flowTitle, 'flow score', false)}</div>` : '') +
      (flowPart && reconPart ? `<div class="chart">${dist((r) => r.recon, 'Reconstruction part (−SSIM)', 'recon score', false)}</div>` : '') +
      '</div>',
  );

  // a β sweep needs both parts (the baselines and the kNN have one)
  if (flowPart && reconPart && metrics.betaSweep && metrics.betaSweep.length > 0) {
    const sweep = metrics.betaSweep;
    const best = sweep.reduce((a, b) => (b.auroc > a.auroc ? b : a));
    sections.push(
      `<h2>β sweep</h2><p class="legend">AUROC of β·flow + (1 − β)·recon over β ∈ [0, 1], from the stored per-image parts (β = 0: reconstruction only, β = 1: flow only). Best: β = ${fmt(best.beta, 2)}, AUROC ${fmt(best.auroc)}.</p>` +
        `<div class="charts"><div class="chart">${lineChart([{ name: 'AUROC', points: sweep.map((s): [number, number] => [s.beta, s.auroc]) }], {
          title: 'AUROC over β',
          xName: 'β',
          yName: 'AUROC',
          xMin: 0,
          xMax: 1,
          marker: metrics.beta !== null ? { value: metrics.beta, label: `β = ${fmt(metrics.beta, 2)}` } : null,
        }, )}</div></div>`,
    );
  }

  if (metrics.crossValidation) {
    const cv = metrics.crossValidation;
    sections.push(
      `<h2>Cross-validation (${cv.k} folds)</h2><p class="legend">The paper's appendix protocol on the ${cv.images} labelled images: ${cv.k} stratified folds (seed ${cv.seed}); ` +
        `each fold in turn is the validation part (1/${cv.k}) that picks the best-F1 threshold${cv.chooseBeta ? ' and β (by AUROC over 0, 0.05, …, 1)' : ''}, the other folds are the test part the metrics are reported on. ` +
        `Mean ± sample standard deviation over the folds.</p>${crossValidationTable(cv)}`,
    );
  }

  const hist = historyCharts(input.history);
  sections.push(
    `<h2>Training curves</h2>` +
      (hist.length > 0 ? `<div class="charts">${hist.map((c) => `<div class="chart">${c}</div>`).join('')}</div>` : '<p class="muted">No training history (history.jsonl) was found.</p>'),
  );

  const mapLegend: Record<string, string> = {
    aeflow: 'Residual |x − x′| in the inferno colours (black = same, yellow = different)',
    ae: 'Residual |x − x′| in the inferno colours (black = same, yellow = different)',
    fastflow: 'The flow map −exp(−½·mean of z′² over channels) per feature position, upsampled, in the inferno colours (yellow = less likely under the flow); no reconstruction',
    knn: "Each feature position's share of the squared distance to the nearest normal images, upsampled, in the inferno colours (yellow = pulls the image away from them); no reconstruction",
  };
  sections.push(
    `<h2>Images: original | reconstruction | ${reconPart ? 'residual' : 'map'}</h2><p class="legend">${mapLegend[kind] ?? mapLegend.aeflow!}, on one scale for all images shown. Caption: total score · class · id.</p>${exampleGrid(input.groups)}`,
  );

  if (input.settings) {
    const flat = flattenSettings(input.settings);
    sections.push(`<h2>Settings</h2><table>${flat.map(([k, v]) => `<tr><td class="key">${escapeHtml(k)}</td><td class="val">${escapeHtml(v)}</td></tr>`).join('')}</table>`);
  }

  if (input.skipped.length > 0) {
    sections.push(
      `<h2>Skipped files (${input.skipped.length})</h2><table><tr><th>file</th><th>reason</th></tr>${input.skipped
        .map((s) => `<tr><td class="val">${escapeHtml(s.path)}</td><td>${escapeHtml(s.reason)}</td></tr>`)
        .join('')}</table>`,
    );
  }

  const when = input.generatedAt ?? new Date().toISOString();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)} · aeflow report</title><style>${CSS}</style></head>
<body><main><h1>${escapeHtml(input.title)}</h1>${input.subtitle ? `<p class="sub">${escapeHtml(input.subtitle)}</p>` : ''}
${sections.join('\n')}
<footer>aeflow report · generated ${escapeHtml(when)} · self-contained (charts: Apache ECharts, rendered to SVG)</footer></main></body></html>
`;
}
