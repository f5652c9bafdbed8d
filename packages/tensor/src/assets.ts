import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import type { AssetFile } from './asset-file.js';
import { pathExists } from './files.js';

export type { AssetFile };

export interface ResolveAssetOptions {
  /** The asset cache (default: `aeflowHome()`). */
  home?: string;
  /** Download when missing (default true, false when `AEFLOW_OFFLINE=1`). */
  download?: boolean;
  /** Check the checksum of a file already in the cache too (downloads are always checked). */
  verify?: boolean;
  /** Progress of a download; default: a progress bar on stderr when it is a terminal. */
  onProgress?: (received: number, total: number | undefined) => void;
  /** fetch implementation (tests pass a local one). */
  fetch?: typeof fetch;
}

/** The asset cache folder: `AEFLOW_HOME`, else `$XDG_CACHE_HOME/aeflow`, else `~/.cache/aeflow`. */
export function aeflowHome(): string {
  const env = process.env.AEFLOW_HOME;
  if (env && env.trim() !== '') return resolve(env);
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.trim() !== '' ? xdg : join(homedir(), '.cache'), 'aeflow');
}

/**
 * Whether aeflow may write into `dir`. A folder with no write bit for anyone counts as read-only
 * even when `access` says otherwise: root passes every `access` check, and the shared data folder
 * (read-only by its mode, as in CI) must never be written to.
 */
export async function isWritableDir(dir: string): Promise<boolean> {
  try {
    const st = await stat(dir);
    if (!st.isDirectory() || (st.mode & 0o222) === 0) return false;
    await access(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A folder aeflow may write caches to (feature caches and the like). `AEFLOW_CACHE` if set; else
 * `<aeflowHome>/cache` when the asset home is writable; else a folder under the system temp dir —
 * the asset home may be a read-only shared copy, and nothing is ever written there then.
 */
export async function writableCacheDir(): Promise<string> {
  const env = process.env.AEFLOW_CACHE;
  let dir: string;
  if (env && env.trim() !== '') dir = resolve(env);
  else {
    const home = aeflowHome();
    let homeOk = false;
    try {
      await mkdir(home, { recursive: true });
      homeOk = await isWritableDir(home);
    } catch {
      homeOk = false;
    }
    dir = homeOk ? join(home, 'cache') : join(tmpdir(), 'aeflow-cache');
  }
  await mkdir(dir, { recursive: true });
  return dir;
}


async function checksum(path: string, algo: 'sha256' | 'md5'): Promise<string> {
  const hash = createHash(algo);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function expected(file: AssetFile): { algo: 'sha256' | 'md5'; hex: string } | undefined {
  if (file.sha256) return { algo: 'sha256', hex: file.sha256.toLowerCase() };
  if (file.md5) return { algo: 'md5', hex: file.md5.toLowerCase() };
  return undefined;
}

/** Verifies a local file against the asset's checksum; throws naming both values on mismatch. */
export async function verifyAsset(path: string, file: AssetFile): Promise<void> {
  const exp = expected(file);
  if (!exp) return;
  const got = await checksum(path, exp.algo);
  if (got !== exp.hex) {
    throw new Error(`${path}: ${exp.algo} is ${got}, expected ${exp.hex} for ${file.url}. Delete the file to download it again.`);
  }
}

function defaultProgress(label: string): ResolveAssetOptions['onProgress'] {
  if (!process.stderr.isTTY) {
    let lastTenth = -1;
    return (received, total) => {
      if (!total) return;
      const tenth = Math.floor((10 * received) / total);
      if (tenth !== lastTenth) {
        lastTenth = tenth;
        process.stderr.write(`aeflow: ${label} ${tenth * 10}%\n`);
      }
    };
  }
  let bar: SingleBar | undefined;
  return (received, total) => {
    if (!bar) {
      bar = new SingleBar({ format: `${label} [{bar}] {percentage}% {value}/{total} bytes`, stream: process.stderr }, Presets.shades_classic);
      bar.start(total ?? 0, 0);
    }
    bar.update(received);
    if (total !== undefined && received >= total) bar.stop();
  };
}

/**
 * Returns the local path of an asset, downloading it into the cache (checksum verified) when it is
 * missing. Offline or when the cache is read-only, the error names the file and where to put it.
 */
export async function resolveAsset(file: AssetFile, options: ResolveAssetOptions = {}): Promise<string> {
  const home = options.home ?? aeflowHome();
  const target = join(home, ...file.path.split('/'));
  if (await pathExists(target)) {
    if (options.verify) await verifyAsset(target, file);
    return target;
  }
  const allowDownload = options.download ?? process.env.AEFLOW_OFFLINE !== '1';
  const where = `Put the file at ${target} (or set AEFLOW_HOME to a folder holding ${file.path}).`;
  if (!allowDownload) throw new Error(`${file.path} is not in the asset cache ${home} and downloads are off (AEFLOW_OFFLINE=1). ${where}`);
  try {
    await mkdir(home, { recursive: true });
    if (!(await isWritableDir(home))) throw new Error('the folder is read-only');
    await mkdir(dirname(target), { recursive: true });
  } catch (err) {
    throw new Error(`${file.path} is not in the asset cache ${home}, which cannot be written (${(err as Error).message}). ${where}`);
  }
  const fetchImpl = options.fetch ?? fetch;
  let res: Response;
  try {
    res = await fetchImpl(file.url);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`could not download ${file.url} (${cause?.code ?? cause?.message ?? (err as Error).message}). ${where}`);
  }
  if (!res.ok || !res.body) throw new Error(`could not download ${file.url} (HTTP ${res.status}). ${where}`);
  const lenHeader = res.headers.get('content-length');
  const total = lenHeader ? Number(lenHeader) : file.bytes;
  const progress = options.onProgress ?? defaultProgress(file.path);
  const exp = expected(file);
  const hash = createHash(exp?.algo ?? 'sha256');
  const tmp = `${target}.${process.pid}.download`;
  const fh = await open(tmp, 'w');
  let received = 0;
  try {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      await fh.write(value);
      received += value.length;
      progress?.(received, total);
    }
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw new Error(`download of ${file.url} failed after ${received} bytes (${(err as Error).message}). ${where}`);
  }
  await fh.close();
  const got = hash.digest('hex');
  if (exp && got !== exp.hex) {
    await rm(tmp, { force: true });
    throw new Error(`download of ${file.url} has ${exp.algo} ${got}, expected ${exp.hex}; nothing was kept. ${where}`);
  }
  await rename(tmp, target);
  return target;
}
