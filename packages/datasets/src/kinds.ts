import { stat, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { brats2021Dataset } from './brats.js';
import { filesDataset, folderDataset } from './folder.js';
import { isic2018Dataset } from './isic.js';
import { medmnistDataset } from './medmnist.js';
import type { ImageDataset } from './types.js';

/** Dataset kinds the CLIs know (`--dataset`). */
export const DATASET_KINDS = ['folder', 'chest-xray', 'oct2017', 'isic2018', 'brats2021', 'miic', 'medmnist:<name>'] as const;

/** A `--dataset` / `--data` mistake the user can fix (shown without a stack trace). */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

export interface OpenDataOptions {
  /** `--data`: a dataset root (`<root>/<split>/<CLASS>/…` or `<root>/<CLASS>/…`), a `.npz` file, or image files. */
  data: string | readonly string[];
  /** `--dataset` (default `folder`; `medmnist:<name>` for MedMNIST, where `--data` may be the `.npz`). */
  dataset?: string;
  /** `--split` (`train`, `val`, `test`, …); for folders used when `<root>/<split>` exists. */
  split?: string;
  /** Class folders of normal images for `folder` and `miic` (default `NORMAL`). */
  normalClasses?: readonly string[];
  skipInvalid?: boolean;
}

async function kindOf(path: string): Promise<'dir' | 'file' | 'missing'> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : 'file';
  } catch {
    return 'missing';
  }
}

/** The splits a folder root offers (sub-folders that hold class folders), e.g. ['test', 'train']. */
export async function folderSplits(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of ['train', 'val', 'validation', 'test']) {
    if ((await kindOf(join(root, name))) === 'dir') out.push(name);
  }
  return out;
}

/**
 * Opens what `--data`/`--dataset`/`--split` name as an `ImageDataset` of `@aeflow/datasets`.
 * Returns null when a folder root has no such split (the caller decides whether that is an error).
 */
export async function openData(options: OpenDataOptions): Promise<ImageDataset | null> {
  const kind = options.dataset ?? 'folder';
  const skipInvalid = options.skipInvalid ?? false;
  const list = typeof options.data === 'string' ? [options.data] : [...options.data];
  if (list.length === 0) throw new DataError('--data: give a dataset folder, a .npz file or image files');

  if (kind.startsWith('medmnist:') || kind === 'medmnist') {
    const name = kind.slice('medmnist:'.length);
    const split = options.split ?? 'train';
    if (split !== 'train' && split !== 'val' && split !== 'test') throw new DataError(`--split: MedMNIST has train, val and test; got "${split}"`);
    // --data may be the .npz itself, or a folder holding <name>.npz
    const given = list[0]!;
    let source: string;
    if (given.endsWith('.npz')) source = given;
    else if ((await kindOf(given)) === 'dir' && name) source = join(given, `${name}.npz`);
    else if (name) source = name;
    else throw new DataError('--dataset medmnist:<name>: name the MedMNIST dataset, e.g. medmnist:pneumoniamnist');
    if (source.endsWith('.npz') && (await kindOf(source)) !== 'file') throw new DataError(`--data: ${source} does not exist`);
    return medmnistDataset(source, { split });
  }

  // Files (not folders): score exactly these, labels unknown.
  const kinds = await Promise.all(list.map((p) => kindOf(p)));
  if (list.length > 1 || kinds[0] === 'file') {
    return filesDataset(list, { skipInvalid, name: 'files' });
  }
  const root = resolve(list[0]!);
  if (kinds[0] === 'missing') throw new DataError(`--data: ${root} does not exist`);

  switch (kind) {
    case 'isic2018': {
      const split = (options.split ?? 'train') as 'train' | 'val' | 'test';
      if (!['train', 'val', 'test'].includes(split)) throw new DataError(`--split: ISIC2018 has train, val and test; got "${split}"`);
      return isic2018Dataset(root, { split, skipInvalid });
    }
    case 'brats2021':
      // BraTS ships cases, not splits: the caller carves splits from the slices.
      return brats2021Dataset(root, { skipInvalid });
    case 'folder':
    case 'miic':
    case 'chest-xray':
    case 'oct2017': {
      const normalClasses = kind === 'chest-xray' || kind === 'oct2017' ? ['NORMAL'] : [...(options.normalClasses ?? ['NORMAL'])];
      const anomalyClasses = kind === 'chest-xray' ? ['PNEUMONIA'] : kind === 'oct2017' ? ['CNV', 'DME', 'DRUSEN'] : undefined;
      const splits = await folderSplits(root);
      let split: string | undefined;
      if (options.split) {
        if (splits.length === 0 && options.split === 'train') split = undefined; // class folders in the root
        else if ((await kindOf(join(root, options.split))) === 'dir') split = options.split;
        else return null;
      } else {
        split = splits.length > 0 ? (splits.includes('test') ? 'test' : splits[0]) : undefined;
      }
      const name = `${kind === 'folder' ? (root.split(/[\\/]/).pop() ?? 'data') : kind}${split ? `/${split}` : ''}`;
      return folderDataset(root, { ...(split ? { split } : {}), normalClasses, ...(anomalyClasses ? { anomalyClasses } : {}), skipInvalid, name });
    }
    default:
      throw new DataError(`--dataset: unknown dataset "${kind}"; use one of ${DATASET_KINDS.join(', ')}`);
  }
}

/** Class folders found in a folder root (for error messages). */
export async function classFolders(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  } catch {
    return [];
  }
}
