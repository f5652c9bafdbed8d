import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidImageError, messageOf } from './errors.js';
import { invalid } from './folder.js';
import { toDecodedImage } from './image.js';
import { readNiftiVolume, type Volume } from './nifti.js';
import { checkPixelLimit, DEFAULT_MAX_PIXELS } from './raster.js';
import type { ImageDataset, ImageItem, SkippedFile } from './types.js';

export type BratsModality = 'flair' | 't1' | 't1ce' | 't2';

export interface Brats2021Options {
  /** MRI sequence to read (default `flair`). */
  modality?: BratsModality;
  /** How many central axial slices of each volume to take (default 10). */
  centralSlices?: number;
  /** Leave out slices with no brain (all voxels 0) — default true. */
  skipEmptySlices?: boolean;
  /** A slice is anomalous when its seg mask has at least this many tumour voxels (default 1). */
  minTumourVoxels?: number;
  /** Per-volume normalisation: intensities are divided by this percentile of the non-zero voxels, then clipped to [0, 1] (default 99.5). */
  percentile?: number;
  skipInvalid?: boolean;
  maxPixels?: number;
}

/** Finds `<case>_<suffix>.nii.gz` (or `.nii`) in a case folder. */
async function findVolume(dir: string, files: string[], suffix: string): Promise<string | undefined> {
  const hit = files.find((f) => f.endsWith(`_${suffix}.nii.gz`)) ?? files.find((f) => f.endsWith(`_${suffix}.nii`));
  if (!hit) return undefined;
  const p = join(dir, hit);
  return (await stat(p)).isFile() ? p : undefined;
}

/** The given percentile of the non-zero voxels (0 when there are none). */
export function nonZeroPercentile(data: Float32Array, percentile: number): number {
  let count = 0;
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) count++;
  if (count === 0) return 0;
  const values = new Float32Array(count);
  let k = 0;
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) values[k++] = data[i]!;
  values.sort();
  const idx = Math.min(count - 1, Math.max(0, Math.round((percentile / 100) * (count - 1))));
  return values[idx]!;
}

/**
 * BraTS 2021: one folder per case with `*_flair.nii.gz`, `*_t1.nii.gz`, `*_t1ce.nii.gz`,
 * `*_t2.nii.gz` and `*_seg.nii.gz`. Takes the central axial slices (third volume axis) of the chosen
 * modality; a slice is anomalous when its seg mask has tumour voxels. Listing reads each case's seg
 * and modality volumes once (labels, empty slices, the per-volume scale). A slice is an image with
 * width = the volume's first axis and height = its second, as stored (no reorientation).
 */
export async function brats2021Dataset(root: string, options: Brats2021Options = {}): Promise<ImageDataset> {
  const absRoot = resolve(root);
  const modality = options.modality ?? 'flair';
  const central = options.centralSlices ?? 10;
  const minTumour = options.minTumourVoxels ?? 1;
  const percentile = options.percentile ?? 99.5;
  const skipInvalid = options.skipInvalid ?? false;
  if (!Number.isInteger(central) || central < 1) throw new Error(`brats2021Dataset: centralSlices must be a positive whole number, got ${central}`);
  let entries;
  try {
    entries = (await readdir(absRoot, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  } catch {
    throw new Error(`brats2021Dataset: ${absRoot} is not a folder of BraTS case folders`);
  }
  const skipped: SkippedFile[] = [];
  const items: ImageItem[] = [];
  const scale = new Map<string, number>();
  for (const caseName of entries) {
    const dir = join(absRoot, caseName);
    const files = await readdir(dir);
    const volumePath = await findVolume(dir, files, modality);
    if (!volumePath) {
      if (files.some((f) => /\.nii(\.gz)?$/.test(f))) invalid(skipped, skipInvalid, dir, `no *_${modality}.nii.gz volume in this case folder (files: ${files.join(', ')})`);
      continue;
    }
    const segPath = await findVolume(dir, files, 'seg');
    if (!segPath) {
      invalid(skipped, skipInvalid, volumePath, `NIfTI without its segmentation: no *_seg.nii.gz in ${dir}, so slices cannot be labelled`);
      continue;
    }
    let volume: Volume;
    let seg: Volume;
    try {
      volume = await readNiftiVolume(volumePath);
    } catch (err) {
      invalid(skipped, skipInvalid, volumePath, messageOf(err));
      continue;
    }
    try {
      seg = await readNiftiVolume(segPath);
    } catch (err) {
      invalid(skipped, skipInvalid, segPath, messageOf(err));
      continue;
    }
    const [X, Y, Z] = volume.dims;
    if (seg.dims[0] !== X || seg.dims[1] !== Y || seg.dims[2] !== Z) {
      invalid(skipped, skipInvalid, segPath, `segmentation is ${seg.dims.join('×')} but the ${modality} volume is ${X}×${Y}×${Z}`);
      continue;
    }
    scale.set(volumePath, nonZeroPercentile(volume.data, percentile));
    const first = Math.max(0, Math.floor(Z / 2 - central / 2));
    const last = Math.min(Z, first + central);
    const plane = X * Y;
    for (let z = first; z < last; z++) {
      let brain = false;
      let tumour = 0;
      for (let i = z * plane; i < (z + 1) * plane; i++) {
        if (volume.data[i] !== 0) brain = true;
        if (seg.data[i]! > 0) tumour++;
      }
      if (!brain && (options.skipEmptySlices ?? true)) continue;
      items.push({
        id: `${caseName}/${modality}/z${String(z).padStart(3, '0')}`,
        label: tumour >= minTumour ? 1 : 0,
        className: tumour >= minTumour ? 'tumour' : 'healthy',
        source: { kind: 'volume', path: volumePath, slice: z },
      });
    }
  }
  if (items.length > 0 && !items.some((i) => i.label === 0)) {
    throw new Error(`brats2021Dataset: no slice of ${absRoot} is free of tumour, so there are no normal images; widen centralSlices`);
  }
  if (items.length === 0 && skipped.length === 0) throw new Error(`brats2021Dataset: no case folder with *_${modality}.nii.gz in ${absRoot}`);

  // Slices are read from a few cached volumes (a whole .nii.gz must be inflated to read one slice).
  const cache = new Map<string, Promise<Volume>>();
  const getVolume = (path: string): Promise<Volume> => {
    let v = cache.get(path);
    if (v) {
      cache.delete(path);
      cache.set(path, v);
      return v;
    }
    v = readNiftiVolume(path);
    cache.set(path, v);
    while (cache.size > 2) cache.delete(cache.keys().next().value!);
    return v;
  };
  const maxPixelsDefault = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  return {
    name: `brats2021/${modality}`,
    items,
    skipped,
    skipInvalid,
    load: async (item, loadOptions) => {
      const src = item.source;
      if (src.kind !== 'volume') throw new InvalidImageError(item.id, `this dataset loads NIfTI slices, but the item's source is a ${src.kind}`);
      let volume: Volume;
      try {
        volume = await getVolume(src.path);
      } catch (err) {
        cache.delete(src.path);
        throw new InvalidImageError(src.path, messageOf(err));
      }
      const [X, Y, Z] = volume.dims;
      if (src.slice < 0 || src.slice >= Z) throw new InvalidImageError(src.path, `slice ${src.slice} is outside 0..${Z - 1}`);
      const limit = checkPixelLimit(X, Y, loadOptions.maxPixels ?? maxPixelsDefault);
      if (limit) throw new InvalidImageError(src.path, limit);
      const s = scale.get(src.path) ?? nonZeroPercentile(volume.data, percentile);
      const slice = new Float32Array(X * Y);
      const base = src.slice * X * Y;
      for (let i = 0; i < slice.length; i++) {
        const v = s > 0 ? volume.data[base + i]! / s : 0;
        slice[i] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
      return toDecodedImage(item, { width: X, height: Y, channels: 1, data: slice, scale: 1 }, loadOptions);
    },
  };
}

