import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WEB_MANIFEST_FILE, WEB_RUN_DIR, parseWebManifest, type WebManifest, type WebManifestFile } from './manifest.js';
import { encoderFilesOf, readRunForWeb, type EncoderFile, type RunForWeb } from './run-files.js';
import { pathExists } from '@aeflow/tensor/node';

/** Thrown for a run or output folder that cannot be exported; the message names the path and the fix. */
export class WebExportError extends Error {}

export interface ExportWebOptions {
  /** The trained run folder (config.json, model.safetensors, calibration). */
  run: string;
  /** The folder to write: created; it must not exist, or be empty, unless `overwrite`. */
  out: string;
  /** Replace a non-empty `out` (only a folder this function wrote before: one holding run/manifest.json). */
  overwrite?: boolean;
  /** The built page (default: this package's `dist/page`). */
  page?: string;
  /** The asset cache holding the pretrained encoder (default: `AEFLOW_HOME` as everywhere else). */
  assetHome?: string;
}

export interface ExportWebResult {
  out: string;
  manifest: WebManifest;
  /** Files written and their total size (page + run). */
  files: number;
  bytes: number;
}

/** This package's root (the folder holding its package.json), from src/ or dist/. */
function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..');
}

/** The built page: `dist/page` of this package (`pnpm --filter @aeflow/web build` makes it). */
export function builtPageDir(): string {
  return join(packageRoot(), 'dist', 'page');
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

async function checkOut(out: string, overwrite: boolean): Promise<void> {
  let st;
  try {
    st = await stat(out);
  } catch {
    const parent = dirname(out);
    if (!(await pathExists(parent))) throw new WebExportError(`--web ${out}: its parent folder ${parent} does not exist; create it first`);
    return;
  }
  if (!st.isDirectory()) throw new WebExportError(`--web ${out}: is a file, not a folder; name a new folder`);
  const entries = await readdir(out);
  if (entries.length === 0) return;
  if (!overwrite) throw new WebExportError(`--web ${out}: the folder is not empty; name a new folder, or replace an earlier export with --overwrite`);
  if (!(await pathExists(join(out, WEB_RUN_DIR, WEB_MANIFEST_FILE)))) {
    throw new WebExportError(`--web ${out}: not an earlier web export (no ${WEB_RUN_DIR}/${WEB_MANIFEST_FILE}); refusing to replace it — name a new folder`);
  }
}

/** Everything an export needs, checked: the built page, the output folder, the run and its encoder files. */
async function planExport(options: ExportWebOptions): Promise<{ runDir: string; out: string; page: string; run: RunForWeb; encoder: EncoderFile[] }> {
  const runDir = resolve(options.run);
  const out = resolve(options.out);
  const page = resolve(options.page ?? builtPageDir());
  if (!(await pathExists(join(page, 'index.html')))) {
    throw new WebExportError(`the web page is not built (${join(page, 'index.html')} is missing); run pnpm --filter @aeflow/web build`);
  }
  if (out === runDir || out.startsWith(runDir + sep)) {
    // the export would copy itself into itself on a second run
    throw new WebExportError(`--web ${out}: is inside the run folder ${runDir}; write the export elsewhere`);
  }
  await checkOut(out, options.overwrite ?? false);
  const run = await readRunForWeb(runDir);
  const encoder = await encoderFilesOf(run.config, options.assetHome);
  return { runDir, out, page, run, encoder };
}

/**
 * The checks `exportWebFolder` makes before it writes anything (page built, output folder usable,
 * run readable, encoder files present), without writing: a CLI that writes several targets checks
 * them all first.
 */
export async function checkWebExport(options: ExportWebOptions): Promise<void> {
  await planExport(options);
}

/**
 * Writes a folder any static file server can host: the built page (`index.html` at its root, its
 * scripts, styles and the TensorFlow.js wasm files) plus `run/` — the run's config, weights and
 * calibration and the pretrained encoder's weight files the run names, listed in
 * `run/manifest.json`. Everything the page loads is in the folder: it makes no request elsewhere.
 *
 * The folder appears whole or not at all: it is written beside `out` under a temporary name and
 * renamed into place.
 */
export async function exportWebFolder(options: ExportWebOptions): Promise<ExportWebResult> {
  const { runDir, out, page, run, encoder } = await planExport(options);

  const tmp = await mkdtemp(join(dirname(out), `.${basename(out)}.tmp-`));
  try {
    await cp(page, tmp, { recursive: true });
    const runOut = join(tmp, WEB_RUN_DIR);
    await mkdir(join(runOut, 'encoder'), { recursive: true });
    const entry = async (path: string, bytes: Uint8Array | string): Promise<WebManifestFile> => {
      await writeFile(join(runOut, path), bytes);
      return { path, bytes: typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength };
    };
    const copied = async (path: string, from: string): Promise<WebManifestFile> => {
      await mkdir(dirname(join(runOut, path)), { recursive: true });
      await copyFile(from, join(runOut, path));
      return { path, bytes: (await stat(from)).size };
    };
    const manifest: WebManifest = {
      format: 'aeflow-web-run',
      version: 1,
      name: basename(runDir),
      exportedAt: new Date().toISOString(),
      config: await entry('config.json', run.configText),
      weights: await copied('model.safetensors', run.weightsPath),
      calibration: run.calibrationText === null ? null : await entry('calibration.json', run.calibrationText),
      encoder: { files: [] },
      encoderBatchNorm: run.batchNormPath === null ? null : await copied('encoder-batchnorm.safetensors', run.batchNormPath),
    };
    for (const f of encoder) manifest.encoder.files.push(await copied(`encoder/${f.name}`, f.path));
    parseWebManifest(manifest); // what the page will read must parse
    await writeFile(join(runOut, WEB_MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
    const files = await listFiles(tmp);
    let bytes = 0;
    for (const f of files) bytes += (await stat(f)).size;
    if (await pathExists(out)) {
      // overwrite (checked above): move the old export aside, the new one in, then drop the old
      const old = `${tmp}-old`;
      await rename(out, old);
      await rename(tmp, out);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, out);
    }
    return { out, manifest, files: files.length, bytes };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** The manifest of an exported folder (for checks and the serve script). */
export async function readWebManifest(exportDir: string): Promise<WebManifest> {
  const path = join(exportDir, WEB_RUN_DIR, WEB_MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new WebExportError(`${path}: missing; ${exportDir} is not a web export (write one with aeflow-score export --web)`);
  }
  return parseWebManifest(JSON.parse(text), relative(process.cwd(), path) || path);
}
