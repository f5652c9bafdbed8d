import { readdir, readlink, realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { IMAGE_EXTENSIONS } from './decode.js';
import { InvalidImageError, messageOf } from './errors.js';
import { loadFileItem } from './image.js';
import type { ImageDataset, ImageItem, Label, SkippedFile } from './types.js';

export interface FolderDatasetOptions {
  /** Sub-folder of the root holding the class folders (`train`, `test`, …); none: classes sit in the root. */
  split?: string;
  /** Class folders whose images are normal (label 0), e.g. `['NORMAL']`. At least one must hold images. */
  normalClasses: string[];
  /**
   * Class folders whose images are anomalous (label 1). Default: every other class folder. When
   * given, folders in neither list are left out and listed in `skipped`.
   */
  anomalyClasses?: string[];
  /** Skip (and list in `skipped`) files that cannot be used instead of stopping with an error. */
  skipInvalid?: boolean;
  /** Pixel limit for `load` (default 100 Mpx). */
  maxPixels?: number;
  /** Dataset name (default: the root folder's name, plus the split). */
  name?: string;
}

/** One entry found under a dataset folder: a regular file, or something that is not one and why. */
type ListedEntry = { path: string; kind: 'file'; size: number } | { path: string; kind: 'bad'; reason: string } | { path: string; kind: 'ignored'; reason: string };

/** What a non-regular directory entry is, in words. */
function describeSpecial(s: Stats): string {
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** Why a symlink cannot be followed, from the error of `stat` on it (never the raw code alone). */
async function brokenLinkReason(path: string, err: unknown): Promise<string> {
  const code = (err as NodeJS.ErrnoException).code;
  let target = '';
  try {
    target = ` → ${await readlink(path)}`;
  } catch {
    // the link itself vanished: the reason below still holds
  }
  if (code === 'ENOENT') return `dangling symlink${target}: its target does not exist`;
  if (code === 'ELOOP') return `symlink loop${target}: the link resolves back to itself`;
  if (code === 'EACCES' || code === 'EPERM') return `symlink${target} cannot be followed: permission denied`;
  return `symlink${target} cannot be followed (${messageOf(err)})`;
}

/**
 * Lists every entry under `dir`, recursively, in name order: regular files with their size, and
 * each entry that is not one (a dangling symlink, a symlink loop, a FIFO, a folder that links back
 * to one of its ancestors) with the reason. Symlinks are followed, to files and to folders;
 * `ancestors` holds the real paths of the folders above, so a link back up is reported, not walked.
 */
async function listEntries(dir: string, ancestors: ReadonlySet<string>): Promise<ListedEntry[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: ListedEntry[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue; // .DS_Store, ._* resource forks, hidden folders
    const p = join(dir, e.name);
    let s: Stats;
    try {
      s = await stat(p); // follows symlinks
    } catch (err) {
      out.push({ path: p, kind: 'bad', reason: e.isSymbolicLink() ? await brokenLinkReason(p, err) : `cannot be read (${messageOf(err)})` });
      continue;
    }
    if (s.isDirectory()) {
      const real = await realpath(p);
      if (ancestors.has(real)) {
        out.push({ path: p, kind: 'bad', reason: `symlink loop: the folder links back to ${real}, which holds it` });
        continue;
      }
      if ((IMAGE_EXTENSIONS as readonly string[]).includes(extname(e.name).toLowerCase())) {
        out.push({ path: p, kind: 'ignored', reason: 'ignored: a folder named like an image file (its files, if any, are listed with the class)' });
      }
      out.push(...(await listEntries(p, new Set([...ancestors, real]))));
    } else if (s.isFile()) {
      out.push({ path: p, kind: 'file', size: s.size });
    } else {
      out.push({ path: p, kind: 'bad', reason: `${describeSpecial(s)}, not a regular file: it cannot be read as an image` });
    }
  }
  return out;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** What to do with one invalid file: stop (throw) or record it. */
export function invalid(skipped: SkippedFile[], skipInvalid: boolean, path: string, reason: string): void {
  if (!skipInvalid) throw new InvalidImageError(path, reason);
  skipped.push({ path, reason });
}

/**
 * Lists the image files under `dir` (recursively, following symlinks) as items: image extensions
 * are kept; zero-byte files, dangling symlinks, symlink loops and image-named FIFOs or devices are
 * invalid (stop, or are skipped and listed under `skipInvalid`); anything else (notes, CSVs, a FIFO
 * without an image name) is listed in `skipped` as ignored.
 */
export async function listImageFiles(
  dir: string,
  idRoot: string,
  label: Label,
  className: string | undefined,
  skipped: SkippedFile[],
  skipInvalid: boolean,
): Promise<ImageItem[]> {
  const items: ImageItem[] = [];
  const exts: readonly string[] = IMAGE_EXTENSIONS;
  for (const entry of await listEntries(dir, new Set([await realpath(dir)]))) {
    const { path } = entry;
    const name = basename(path);
    if (name === 'Thumbs.db' || name === 'desktop.ini') continue;
    const imageNamed = exts.includes(extname(path).toLowerCase());
    if (entry.kind === 'ignored') {
      skipped.push({ path, reason: entry.reason });
      continue;
    }
    if (entry.kind === 'bad') {
      // a link that cannot be followed may well point at an image: it is a bad file either way
      if (imageNamed || /symlink/.test(entry.reason)) invalid(skipped, skipInvalid, path, entry.reason);
      else skipped.push({ path, reason: `ignored: ${entry.reason}` });
      continue;
    }
    if (!imageNamed) {
      skipped.push({ path, reason: `ignored: ${extname(path) || 'no extension'} is not an image type (${IMAGE_EXTENSIONS.join(' ')})` });
      continue;
    }
    if (entry.size === 0) {
      invalid(skipped, skipInvalid, path, 'empty file (0 bytes)');
      continue;
    }
    const item: ImageItem = { id: relative(idRoot, path).split(sep).join('/'), label, source: { kind: 'file', path } };
    if (className !== undefined) item.className = className;
    items.push(item);
  }
  return items;
}

/**
 * The class folders in `dir`: real folders and symlinks to folders (a common way to lay out a
 * dataset), in name order. A class-level link that cannot be followed is one bad entry.
 */
async function listClassFolders(dir: string, skipped: SkippedFile[], skipInvalid: boolean): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory()) out.push(e.name);
    else if (e.isSymbolicLink()) {
      const p = join(dir, e.name);
      try {
        if ((await stat(p)).isDirectory()) out.push(e.name);
      } catch (err) {
        invalid(skipped, skipInvalid, p, `class folder ${await brokenLinkReason(p, err)}`);
      }
    }
  }
  return out.sort();
}

/**
 * A dataset laid out as `<root>/<split>/<CLASS>/*.{png,jpg,jpeg,bmp,tif,tiff,webp,dcm}` (Kermany's Chest
 * X-ray and OCT2017, MIIC, most ImageFolder datasets). Files are listed, not decoded: a corrupt file
 * is found when it is loaded. Ids are paths relative to the root with `/`.
 */
export async function folderDataset(root: string, options: FolderDatasetOptions): Promise<ImageDataset> {
  const absRoot = resolve(root);
  const dir = options.split ? join(absRoot, options.split) : absRoot;
  if (!(await isDirectory(dir))) {
    const there = (await isDirectory(absRoot)) ? (await readdir(absRoot)).filter((n) => !n.startsWith('.')).join(', ') : undefined;
    throw new Error(
      options.split
        ? `folderDataset: ${dir} is not a folder${there !== undefined ? ` (${absRoot} holds: ${there || 'nothing'})` : ` (${absRoot} does not exist)`}; check the root and the split`
        : `folderDataset: ${dir} is not a folder; check the root`,
    );
  }
  if (!options.normalClasses || options.normalClasses.length === 0) {
    throw new Error('folderDataset: normalClasses is required: name the class folder(s) holding normal images, e.g. ["NORMAL"]');
  }
  const skipped: SkippedFile[] = [];
  const skipInvalid = options.skipInvalid ?? false;
  const classDirs = await listClassFolders(dir, skipped, skipInvalid);
  const missing = options.normalClasses.filter((c) => !classDirs.includes(c));
  if (missing.length === options.normalClasses.length) {
    throw new Error(`folderDataset: no normal class folder ${options.normalClasses.map((c) => `"${c}"`).join(' or ')} in ${dir} (class folders there: ${classDirs.join(', ') || 'none'}); set normalClasses to the folder holding normal images`);
  }
  const items: ImageItem[] = [];
  let normals = 0;
  for (const cls of classDirs) {
    let label: Label;
    if (options.normalClasses.includes(cls)) label = 0;
    else if (options.anomalyClasses === undefined || options.anomalyClasses.includes(cls)) label = 1;
    else {
      skipped.push({ path: join(dir, cls), reason: `ignored: class folder "${cls}" is in neither normalClasses nor anomalyClasses` });
      continue;
    }
    const found = await listImageFiles(join(dir, cls), absRoot, label, cls, skipped, skipInvalid);
    if (label === 0) normals += found.length;
    items.push(...found);
  }
  if (normals === 0) {
    throw new Error(`folderDataset: the normal class folder(s) ${options.normalClasses.map((c) => join(dir, c)).join(', ')} hold no usable images (${IMAGE_EXTENSIONS.join(' ')}); nothing to train on`);
  }
  const maxPixels = options.maxPixels;
  return {
    name: options.name ?? (options.split ? `${basename(absRoot)}/${options.split}` : basename(absRoot)),
    items,
    skipped,
    skipInvalid,
    load: (item, loadOptions) => loadFileItem(item, loadOptions.maxPixels === undefined && maxPixels !== undefined ? { ...loadOptions, maxPixels } : loadOptions),
  };
}

/** Kermany et al.'s Chest X-ray (`chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}`): NORMAL is normal, PNEUMONIA anomalous. */
export function chestXrayDataset(root: string, options: Omit<FolderDatasetOptions, 'normalClasses' | 'anomalyClasses'> = {}): Promise<ImageDataset> {
  return folderDataset(root, { ...options, normalClasses: ['NORMAL'], anomalyClasses: ['PNEUMONIA'], name: options.name ?? `chest-xray${options.split ? `/${options.split}` : ''}` });
}

/** Kermany et al.'s OCT2017 (`OCT2017/{train,test}/{NORMAL,CNV,DME,DRUSEN}`): NORMAL is normal, CNV, DME and DRUSEN anomalous. */
export function oct2017Dataset(root: string, options: Omit<FolderDatasetOptions, 'normalClasses' | 'anomalyClasses'> = {}): Promise<ImageDataset> {
  return folderDataset(root, { ...options, normalClasses: ['NORMAL'], anomalyClasses: ['CNV', 'DME', 'DRUSEN'], name: options.name ?? `oct2017${options.split ? `/${options.split}` : ''}` });
}

export interface FilesDatasetOptions {
  /** Labels of the files, in order (default: all unknown, `null`). */
  labels?: Label[];
  /** Skip (and list) missing or empty files instead of stopping. */
  skipInvalid?: boolean;
  maxPixels?: number;
  name?: string;
}

/** A single image or a list of files (for scoring). Ids are the paths as given. */
export async function filesDataset(paths: string | readonly string[], options: FilesDatasetOptions = {}): Promise<ImageDataset> {
  const list = typeof paths === 'string' ? [paths] : [...paths];
  if (options.labels && options.labels.length !== list.length) {
    throw new Error(`filesDataset: ${options.labels.length} labels for ${list.length} files; give one label (0, 1 or null) per file`);
  }
  const skipped: SkippedFile[] = [];
  const skipInvalid = options.skipInvalid ?? false;
  const items: ImageItem[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    const p = list[i]!;
    let size: number;
    try {
      const s = await stat(p);
      if (!s.isFile()) {
        invalid(skipped, skipInvalid, p, 'not a file');
        continue;
      }
      size = s.size;
    } catch {
      invalid(skipped, skipInvalid, p, 'file not found');
      continue;
    }
    if (size === 0) {
      invalid(skipped, skipInvalid, p, 'empty file (0 bytes)');
      continue;
    }
    let id = p;
    for (let k = 2; seen.has(id); k++) id = `${p}#${k}`;
    seen.add(id);
    items.push({ id, label: options.labels?.[i] ?? null, source: { kind: 'file', path: resolve(p) } });
  }
  const maxPixels = options.maxPixels;
  return {
    name: options.name ?? (list.length === 1 ? basename(list[0]!) : 'files'),
    items,
    skipped,
    skipInvalid,
    load: (item, loadOptions) => loadFileItem(item, loadOptions.maxPixels === undefined && maxPixels !== undefined ? { ...loadOptions, maxPixels } : loadOptions),
  };
}
