import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathExists } from '@aeflow/tensor/node';
import { invalid } from './folder.js';
import { loadFileItem } from './image.js';
import type { ImageDataset, ImageItem, SkippedFile } from './types.js';

export interface Isic2018Options {
  /** `train` (Training), `val` (Validation: the paper's test set) or `test` (Test). */
  split: 'train' | 'val' | 'test';
  /** Image folder (default `<root>/ISIC2018_Task3_<Split>_Input`). */
  imagesDir?: string;
  /** Ground-truth CSV (default `<root>/ISIC2018_Task3_<Split>_GroundTruth/ISIC2018_Task3_<Split>_GroundTruth.csv`). */
  groundTruthCsv?: string;
  /** Classes that are normal (default `['NV']`, melanocytic nevi; every other class is anomalous). */
  normalClasses?: string[];
  skipInvalid?: boolean;
  maxPixels?: number;
}

const SPLIT_DIR = { train: 'Training', val: 'Validation', test: 'Test' } as const;

/** Parses one CSV line (RFC 4180 quotes). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}


/**
 * ISIC 2018 Task 3 (HAM10000): images plus the ground-truth CSV (`image,MEL,NV,BCC,AKIEC,BKL,DF,VASC`,
 * one-hot). NV is normal, every other class anomalous; the paper trains on the training NV images
 * and tests on the official validation set. A CSV row whose image is missing is invalid.
 */
export async function isic2018Dataset(root: string, options: Isic2018Options): Promise<ImageDataset> {
  const splitName = SPLIT_DIR[options.split];
  if (!splitName) throw new Error(`isic2018Dataset: split must be "train", "val" or "test", got ${JSON.stringify(options.split)}`);
  const imagesDir = resolve(options.imagesDir ?? join(root, `ISIC2018_Task3_${splitName}_Input`));
  const csvPath = resolve(options.groundTruthCsv ?? join(root, `ISIC2018_Task3_${splitName}_GroundTruth`, `ISIC2018_Task3_${splitName}_GroundTruth.csv`));
  let text: string;
  try {
    text = await readFile(csvPath, 'utf8');
  } catch {
    throw new Error(`isic2018Dataset: ground-truth CSV ${csvPath} not found; pass groundTruthCsv or check the root`);
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = csvFields(lines[0] ?? '');
  if (header.length < 3 || header[0]!.toLowerCase() !== 'image') {
    throw new Error(`isic2018Dataset: ${csvPath} does not start with an "image,<class>,…" header (got "${lines[0] ?? ''}")`);
  }
  const classes = header.slice(1);
  const normalClasses = options.normalClasses ?? ['NV'];
  const unknown = normalClasses.filter((c) => !classes.includes(c));
  if (unknown.length > 0) throw new Error(`isic2018Dataset: normal class ${unknown.join(', ')} is not a column of ${csvPath} (columns: ${classes.join(', ')})`);
  const skipped: SkippedFile[] = [];
  const skipInvalid = options.skipInvalid ?? false;
  const items: ImageItem[] = [];
  for (let r = 1; r < lines.length; r++) {
    const f = csvFields(lines[r]!);
    const image = f[0]!;
    const values = f.slice(1).map(Number);
    if (values.length !== classes.length || values.some((v) => !Number.isFinite(v))) {
      throw new Error(`isic2018Dataset: ${csvPath} line ${r + 1} has no ${classes.length} numeric class columns: "${lines[r]}"`);
    }
    let best = 0;
    for (let k = 1; k < values.length; k++) if (values[k]! > values[best]!) best = k;
    const className = classes[best]!;
    let path = join(imagesDir, `${image}.jpg`);
    if (!(await pathExists(path))) {
      const png = join(imagesDir, `${image}.png`);
      if (await pathExists(png)) path = png;
      else {
        invalid(skipped, skipInvalid, path, `image listed in ${csvPath} is missing`);
        continue;
      }
    }
    items.push({ id: image, label: normalClasses.includes(className) ? 0 : 1, className, source: { kind: 'file', path } });
  }
  if (!items.some((i) => i.label === 0) && options.split === 'train') {
    throw new Error(`isic2018Dataset: no normal (${normalClasses.join(', ')}) images in ${csvPath}; nothing to train on`);
  }
  const maxPixels = options.maxPixels;
  return {
    name: `isic2018/${options.split}`,
    items,
    skipped,
    skipInvalid,
    load: (item, loadOptions) => loadFileItem(item, loadOptions.maxPixels === undefined && maxPixels !== undefined ? { ...loadOptions, maxPixels } : loadOptions),
  };
}
