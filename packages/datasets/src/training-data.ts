import { DataError, openData } from './kinds.js';
import { holdOutSplit, trainValSplit } from './splits.js';
import type { ImageDataset, ImageItem, SkippedFile } from './types.js';

/** A dataset and the items of it used for one purpose. */
export interface Part {
  dataset: ImageDataset;
  items: ImageItem[];
  /** Shown to people: where the items come from. */
  name: string;
}

/** What a training run uses: normals to train on, a validation part (model selection, threshold), a part to score at the end. */
export interface TrainingData {
  train: Part;
  validation: Part | null;
  /** Scored at the end into the run (null: nothing to score). */
  final: Part | null;
  /** How the parts were formed, for the run's split.json. */
  how: string;
  skipped: SkippedFile[];
}

export interface TrainingDataOptions {
  data: string;
  dataset: string;
  normalClasses: readonly string[];
  skipInvalid: boolean;
  /** Normal (and as many anomalous) images held out for validation + test when the data has no such split. */
  holdout: number;
  seed: number;
}

const withLabel = (items: readonly ImageItem[], label: 0 | 1) => items.filter((i) => i.label === label).length;

function part(dataset: ImageDataset, items: readonly ImageItem[], name: string): Part {
  return { dataset, items: [...items], name };
}

async function tryOpen(options: TrainingDataOptions, split: string): Promise<ImageDataset | null> {
  try {
    return await openData({ data: options.data, dataset: options.dataset, split, normalClasses: options.normalClasses, skipInvalid: options.skipInvalid });
  } catch (err) {
    // A MedMNIST file without a test array, an ISIC folder without its test set: not there.
    if (err instanceof DataError) throw err;
    if (split === 'train') throw err;
    return null;
  }
}

/**
 * The training / validation / final parts from `--data`: the data's own `val` (or `validation`)
 * and `test` splits when it has them; otherwise an honest hold-out carved from the training split
 * (normals and anomalies never trained on: 20 % validation, 80 % scored at the end), seeded.
 */
export async function trainingData(options: TrainingDataOptions): Promise<TrainingData> {
  const trainDs = await tryOpen(options, 'train');
  if (!trainDs) throw new DataError(`--data ${options.data}: no training images found`);
  const skipped = [...trainDs.skipped];
  const single = options.dataset === 'brats2021';
  const folderLike = ['folder', 'miic', 'chest-xray', 'oct2017'].includes(options.dataset);
  const val = single ? null : ((await tryOpen(options, 'val')) ?? (folderLike ? await tryOpen(options, 'validation') : null));
  const test = single ? null : await tryOpen(options, 'test');
  for (const d of [val, test]) if (d) skipped.push(...d.skipped);
  // openData falls back to the root for folder data without splits: make sure a split is a different folder.
  const distinct = (d: ImageDataset | null) => (d && d.name !== trainDs.name ? d : null);
  const valDs = distinct(val);
  const testDs = distinct(test);
  const normals = trainDs.items.filter((i) => i.label !== 1);
  if (normals.length === 0) throw new DataError(`${trainDs.name}: no normal images to train on (check --normal)`);

  if (valDs || testDs) {
    const v = part(valDs ?? testDs!, (valDs ?? testDs!).items, (valDs ?? testDs!).name);
    // One object when validation and final are the same images: the caller scores them once.
    const f = testDs && valDs ? part(testDs, testDs.items, testDs.name) : v;
    return {
      train: part(trainDs, normals, `${trainDs.name} (normals)`),
      validation: v,
      final: f,
      how: valDs && testDs ? `train on ${trainDs.name}, validate on ${valDs.name}, score ${testDs.name}` : `train on ${trainDs.name}, validate on and score ${v.name}`,
      skipped,
    };
  }

  const anomalies = withLabel(trainDs.items, 1);
  const normalCount = withLabel(trainDs.items, 0);
  const held = Math.max(1, Math.min(options.holdout, Math.floor(normalCount * 0.2)));
  if (anomalies > 0 && normalCount > 1) {
    const s = holdOutSplit(trainDs.items, { seed: options.seed, normal: held, anomalous: Math.min(held, anomalies), valFraction: 0.2 });
    return {
      train: part(trainDs, s.train, `${trainDs.name} (normals not held out)`),
      validation: part(trainDs, s.val, `${trainDs.name} held-out validation`),
      final: part(trainDs, s.test, `${trainDs.name} held-out test`),
      how: `no val/test split in the data: held out ${held} normal + ${Math.min(held, anomalies)} anomalous images (seed ${options.seed}), 20 % validation, 80 % scored at the end`,
      skipped,
    };
  }
  // Normals only: a validation part of normals (model selection by loss), scored at the end.
  if (normals.length < 2) return { train: part(trainDs, normals, trainDs.name), validation: null, final: null, how: 'too few images to hold any out', skipped };
  const s = trainValSplit(trainDs.items.filter((i) => i.label === 0), { seed: options.seed, valCount: held });
  const heldOut = part(trainDs, s.val, `${trainDs.name} held-out normals`);
  return {
    train: part(trainDs, s.train, `${trainDs.name} (normals)`),
    validation: heldOut,
    final: heldOut,
    how: `no anomalies and no val/test split: held out ${held} normal images (seed ${options.seed}) for validation by loss`,
    skipped,
  };
}
