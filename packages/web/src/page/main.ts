import { backendFromQuery, startBackend, type BackendChoice } from './backend.js';
import { decodeFile, PageImageError, toModelInput } from './decode.js';
import { openRun, type RunSession, type PageScore } from './engine.js';
import { makeFigures, type Figures } from './figures.js';

/** One scored image: its numbers (kept at full precision in data-* attributes for checks), its pictures. */
interface Row {
  index: number;
  name: string;
  score: PageScore;
  verdict: 'anomalous' | 'normal' | null;
  input: Float32Array;
  figures: Figures | null;
  thumb: string;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page: #${id} is missing from index.html`);
  return el as T;
};

const state: { session: RunSession | null; rows: Row[]; sort: { key: string; dir: 'ascending' | 'descending' }; queue: File[]; busy: boolean; selected: number | null } = {
  session: null,
  rows: [],
  sort: { key: 'index', dir: 'ascending' },
  queue: [],
  busy: false,
  selected: null,
};

/** `data-state` on <body>: loading → ready ⇄ scoring, or error (tests and assistive checks wait on it). */
function setState(s: 'loading' | 'ready' | 'scoring' | 'error'): void {
  document.body.dataset.state = s;
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(3) : v.toFixed(4);
}

function describeBackend(choice: BackendChoice): void {
  $('backend').textContent = choice.name === 'webgpu' ? 'WebGPU' : choice.name === 'webgl' ? 'WebGL' : 'WebAssembly (wasm)';
  document.body.dataset.backend = choice.name;
  $('backend-note').textContent = choice.skipped.length > 0 ? `(not used: ${choice.skipped.map((s) => `${s.name} — ${s.reason}`).join('; ')})` : '';
}

function showRunInfo(session: RunSession): void {
  const info = session.info;
  const dl = $('run-info');
  dl.replaceChildren();
  const add = (term: string, value: string, id?: string) => {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    if (id) dd.id = id;
    dl.append(dt, dd);
  };
  add('Run', info.name);
  add('Model', info.modelDescription);
  add('Input', `${info.size} × ${info.size} px`);
  add('Score', info.scoreDescription);
  add('Threshold', info.thresholdDescription, 'run-threshold');
  dl.hidden = false;
  $('col-part1').hidden = info.parts[0] === null;
  $('col-part2').hidden = info.parts[1] === null;
  if (info.parts[0]) $('col-part1').querySelector('button')!.textContent = info.parts[0];
  if (info.parts[1]) $('col-part2').querySelector('button')!.textContent = info.parts[1];
  $('run-status').textContent = 'Ready: choose or drop images to score.';
}

function addError(message: string): void {
  const li = document.createElement('li');
  li.textContent = message;
  $('errors').append(li);
}

function sortValue(row: Row, key: string): number | string {
  switch (key) {
    case 'name':
      return row.name.toLowerCase();
    case 'total':
      return row.score.total;
    case 'verdict':
      return row.verdict === 'anomalous' ? 1 : row.verdict === 'normal' ? 0 : -1;
    case 'part1':
      return row.score.parts[0] ?? 0;
    case 'part2':
      return row.score.parts[1] ?? 0;
    default:
      return row.index;
  }
}

function renderTable(): void {
  const table = $<HTMLTableElement>('results');
  const body = table.tBodies[0]!;
  const { key, dir } = state.sort;
  const rows = [...state.rows].sort((a, b) => {
    const va = sortValue(a, key);
    const vb = sortValue(b, key);
    const c = va < vb ? -1 : va > vb ? 1 : a.index - b.index;
    return dir === 'ascending' ? c : -c;
  });
  const info = state.session!.info;
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement('tr');
      tr.dataset.name = row.name;
      tr.dataset.total = String(row.score.total);
      tr.dataset.part1 = String(row.score.parts[0] ?? '');
      tr.dataset.part2 = String(row.score.parts[1] ?? '');
      tr.dataset.verdict = row.verdict ?? '';
      if (state.selected === row.index) tr.className = 'selected';
      const cell = (text: string, cls?: string) => {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls) td.className = cls;
        return td;
      };
      const nameCell = document.createElement('td');
      const img = document.createElement('img');
      img.src = row.thumb;
      img.alt = '';
      img.width = 48;
      img.height = 48;
      const nameWrap = document.createElement('span');
      nameWrap.textContent = row.name;
      const nameFlex = document.createElement('div');
      nameFlex.className = 'name-cell';
      nameFlex.append(img, nameWrap);
      nameCell.append(nameFlex);
      const verdict = cell(row.verdict === null ? 'no threshold' : row.verdict === 'anomalous' ? 'Anomalous' : 'Normal', row.verdict ? `verdict-${row.verdict}` : undefined);
      const p1 = cell(row.score.parts[0] === null ? '' : fmt(row.score.parts[0]), 'num');
      p1.hidden = info.parts[0] === null;
      const p2 = cell(row.score.parts[1] === null ? '' : fmt(row.score.parts[1]), 'num');
      p2.hidden = info.parts[1] === null;
      const show = document.createElement('td');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Show';
      button.setAttribute('aria-label', `Show the heat map of ${row.name}`);
      button.addEventListener('click', () => void select(row.index));
      show.append(button);
      tr.append(cell(String(row.index + 1), 'num'), nameCell, cell(fmt(row.score.total), 'num'), verdict, p1, p2, show);
      return tr;
    }),
  );
  table.hidden = state.rows.length === 0;
  $('results-empty').hidden = state.rows.length > 0;
  for (const th of table.tHead!.querySelectorAll<HTMLTableCellElement>('th[data-key]')) {
    th.setAttribute('aria-sort', th.dataset.key === key ? dir : 'none');
  }
}

async function select(index: number): Promise<void> {
  const row = state.rows.find((r) => r.index === index);
  const session = state.session;
  if (!row || !session) return;
  state.selected = index;
  const size = session.info.size;
  if (!row.figures) {
    row.figures = await makeFigures(
      { width: size, height: size, channels: 3, data: row.input },
      { width: row.score.mapWidth, height: row.score.mapHeight, data: row.score.map },
      row.score.reconstruction ? { width: size, height: size, channels: 3, data: row.score.reconstruction } : null,
    );
  }
  const f = row.figures;
  $<HTMLImageElement>('fig-image').src = f.image;
  $<HTMLImageElement>('fig-overlay').src = f.overlay;
  $<HTMLImageElement>('fig-overlay').alt = `Heat map of ${row.name}: ${session.info.mapDescription}, brighter where higher`;
  $('fig-overlay-caption').textContent = `Heat map: ${session.info.mapDescription}`;
  $('fig-recon-figure').hidden = f.reconstruction === null;
  if (f.reconstruction) $<HTMLImageElement>('fig-recon').src = f.reconstruction;
  const verdict = row.verdict === null ? 'no verdict (the run has no calibrated threshold)' : `${row.verdict} at the threshold ${fmt(session.info.threshold!)}`;
  $('detail-title').textContent = row.name;
  $('detail-summary').textContent = `Score ${fmt(row.score.total)}: ${verdict}.`;
  $('legend-text').textContent = `0 (black) to ${fmt(f.scale)} (pale yellow; this image's 99.5th percentile) of the ${session.info.mapDescription}.`;
  $('detail').hidden = false;
  renderTable();
}

async function scoreQueue(): Promise<void> {
  if (state.busy || !state.session) return;
  state.busy = true;
  setState('scoring');
  const progress = $<HTMLProgressElement>('progress');
  const text = $('progress-text');
  let done = 0;
  try {
    while (state.queue.length > 0) {
      const total = done + state.queue.length;
      const file = state.queue.shift()!;
      progress.max = total;
      progress.value = done;
      text.textContent = `Scoring ${done + 1} of ${total}: ${file.name}`;
      try {
        const raster = await decodeFile(file);
        const input = toModelInput(raster, state.session.info.size);
        const score = await state.session.score(input);
        const threshold = state.session.info.threshold;
        const index = state.rows.length;
        state.rows.push({
          index,
          name: file.name,
          score,
          verdict: threshold === null ? null : score.total >= threshold ? 'anomalous' : 'normal',
          input,
          figures: null,
          thumb: '',
        });
        const row = state.rows[index]!;
        row.figures = await makeFigures(
          { width: state.session.info.size, height: state.session.info.size, channels: 3, data: input },
          { width: score.mapWidth, height: score.mapHeight, data: score.map },
          score.reconstruction ? { width: state.session.info.size, height: state.session.info.size, channels: 3, data: score.reconstruction } : null,
        );
        row.thumb = row.figures.image;
        renderTable();
      } catch (err) {
        addError(err instanceof PageImageError ? err.message : `${file.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
      done++;
      progress.value = done;
    }
    text.textContent = `Scored ${state.rows.length} image${state.rows.length === 1 ? '' : 's'}${$('errors').children.length > 0 ? `; ${$('errors').children.length} could not be read (listed below)` : ''}.`;
    if (state.selected === null && state.rows.length > 0) await select(state.rows[0]!.index);
  } finally {
    state.busy = false;
    setState('ready');
  }
}

function enqueue(files: Iterable<File>): void {
  state.queue.push(...files);
  void scoreQueue();
}

function wireInputs(): void {
  const input = $<HTMLInputElement>('files');
  input.addEventListener('change', () => {
    if (input.files) enqueue([...input.files]);
    input.value = '';
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer?.files) enqueue([...e.dataTransfer.files]);
  });
  // a file dropped beside the zone must not make the browser navigate away from the results
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  for (const th of document.querySelectorAll<HTMLTableCellElement>('#results th[data-key]')) {
    th.querySelector('button')!.addEventListener('click', () => {
      const key = th.dataset.key!;
      state.sort = { key, dir: state.sort.key === key && state.sort.dir === 'ascending' ? 'descending' : 'ascending' };
      renderTable();
    });
  }
}

async function main(): Promise<void> {
  setState('loading');
  wireInputs();
  $<HTMLInputElement>('files').disabled = true;
  try {
    const backend = await startBackend(new URL('./wasm/', document.baseURI).href, backendFromQuery(location.search));
    describeBackend(backend);
    state.session = await openRun(new URL('./run/', document.baseURI), backend.name, (loaded, total) => {
      $('run-status').textContent = `Loading the model… ${(loaded / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
    });
    showRunInfo(state.session);
    $<HTMLInputElement>('files').disabled = false;
    setState('ready');
  } catch (err) {
    $('run-status').textContent = `The model could not be loaded: ${err instanceof Error ? err.message : String(err)}`;
    if ($('backend').textContent === 'starting…') $('backend').textContent = 'none';
    setState('error');
  }
}

void main();
