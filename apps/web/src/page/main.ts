import { parseWebManifest, WEB_MANIFEST_FILE, type WebManifestFile } from '../manifest.js';
import { backendFromQuery, startBackend, type BackendChoice } from './backend.js';

// First slice of the page: it starts the backend, loads every file of the exported run from its
// own origin (so the privacy and offline checks see the real traffic) and describes the run.
// Scoring is wired when @aeflow/model, @aeflow/datasets and @aeflow/report have browser-safe
// main entries (issue 15); until then the file picker stays disabled and says so.

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page: #${id} is missing from index.html`);
  return el as T;
};

function setState(s: 'loading' | 'ready' | 'error'): void {
  document.body.dataset.state = s;
}

function describeBackend(choice: BackendChoice): void {
  $('backend').textContent = choice.name === 'webgpu' ? 'WebGPU' : choice.name === 'webgl' ? 'WebGL' : 'WebAssembly (wasm)';
  document.body.dataset.backend = choice.name;
  $('backend-note').textContent = choice.skipped.length > 0 ? `(not used: ${choice.skipped.map((s) => `${s.name} — ${s.reason}`).join('; ')})` : '';
}

async function fetchBytes(base: URL, file: WebManifestFile): Promise<Uint8Array> {
  const url = new URL(file.path, base);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status}; the exported folder is incomplete — export the run again`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length !== file.bytes) throw new Error(`${url.pathname}: ${bytes.length} bytes, the manifest says ${file.bytes}; the exported folder is damaged — export the run again`);
  return bytes;
}

async function loadRun(base: URL): Promise<void> {
  const manifestUrl = new URL(WEB_MANIFEST_FILE, base);
  const res = await fetch(manifestUrl);
  if (!res.ok) throw new Error(`${manifestUrl.pathname}: HTTP ${res.status}; this folder holds no exported run (write one with exportWebFolder)`);
  const manifest = parseWebManifest(await res.json(), manifestUrl.pathname);
  const files = [manifest.config, manifest.weights, ...(manifest.calibration ? [manifest.calibration] : []), ...manifest.encoder.files];
  const total = files.reduce((a, f) => a + f.bytes, 0);
  let loaded = 0;
  const texts = new Map<string, string>();
  for (const f of files) {
    const bytes = await fetchBytes(base, f);
    if (f.path.endsWith('.json') && !f.path.startsWith('encoder/')) texts.set(f.path, new TextDecoder().decode(bytes));
    loaded += bytes.length;
    $('run-status').textContent = `Loading the model… ${(loaded / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
  }
  const config = JSON.parse(texts.get(manifest.config.path)!) as { model: string; size: number; encoder: { arch: unknown; tap: string } };
  const dl = $('run-info');
  const add = (term: string, value: string) => {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    dl.append(dt, dd);
  };
  add('Run', manifest.name);
  add('Model', `${config.model}; encoder ${config.encoder.arch === 'mobilenet_v1' ? 'MobileNet V1' : JSON.stringify(config.encoder.arch)} (${config.encoder.tap})`);
  add('Input', `${config.size} × ${config.size} px`);
  add('Loaded', `${files.length} files, ${(total / 1e6).toFixed(1)} MB, all from this page's origin`);
  dl.hidden = false;
  $('run-status').textContent = 'Loaded. Scoring in the page is being wired (issue 16); until then score with aeflow-score.';
}

async function main(): Promise<void> {
  setState('loading');
  $<HTMLInputElement>('files').disabled = true;
  try {
    describeBackend(await startBackend(new URL('./wasm/', document.baseURI).href, backendFromQuery(location.search)));
    await loadRun(new URL('./run/', document.baseURI));
    setState('ready');
  } catch (err) {
    $('run-status').textContent = `The model could not be loaded: ${err instanceof Error ? err.message : String(err)}`;
    if ($('backend').textContent === 'starting…') $('backend').textContent = 'none';
    setState('error');
  }
}

void main();
