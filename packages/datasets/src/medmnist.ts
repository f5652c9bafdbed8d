import { basename } from 'node:path';
import { type AssetFile } from '@aeflow/tensor';
import { resolveAsset, type ResolveAssetOptions } from '@aeflow/tensor/node';
import { InvalidImageError } from './errors.js';
import { toDecodedImage } from './image.js';
import type { NpyArray } from './npy.js';
import { readNpz } from './npz-file.js';
import type { ImageDataset, ImageItem, Label } from './types.js';

/** Image sizes MedMNIST publishes (v2 at 28 px; MedMNIST+ at 64, 128 and 224 px). */
export type MedmnistSize = 28 | 64 | 128 | 224;

export interface MedmnistInfo {
  /** Class names by label value, as the MedMNIST docs give them. */
  labels: string[];
  /** Labels that are normal, where the docs make it clear; otherwise the caller must name them. */
  normalClasses?: number[];
  /** Multi-label (ChestMNIST): an image is normal when none of its labels is set. */
  multiLabel?: boolean;
  channels: 1 | 3;
  /** MD5 of the published file per image size (MedMNIST publishes MD5, not SHA-256). */
  md5: Record<MedmnistSize, string>;
  license: string;
}

const RECORD = 'https://zenodo.org/records/10519652/files';

/**
 * The 2-D MedMNIST datasets (medmnist 3.0.2 `INFO`: Zenodo record 10519652). Normal classes:
 * PneumoniaMNIST 0 (normal); BreastMNIST 1 (normal or benign, against 0 malignant); OCTMNIST 3
 * (normal); RetinaMNIST 0 (no diabetic retinopathy, grades 1–4 anomalous); ChestMNIST no finding
 * (all 14 labels 0). DermaMNIST, Path, Blood, Tissue and Organ{A,C,S} name no normal class: pass
 * `normalClasses` (for DermaMNIST the ISIC 2018 convention of the paper is `[5]`, melanocytic nevi).
 */
export const MEDMNIST_INFO: Record<string, MedmnistInfo> = {
  pathmnist: {
    labels: ['adipose', 'background', 'debris', 'lymphocytes', 'mucus', 'smooth muscle', 'normal colon mucosa', 'cancer-associated stroma', 'colorectal adenocarcinoma epithelium'],
    channels: 3,
    md5: { 28: 'a8b06965200029087d5bd730944a56c1', 64: '55aa9c1e0525abe5a6b9d8343a507616', 128: 'ac42d08fb904d92c244187169d1fd1d9', 224: '2c51a510bcdc9cf8ddb2af93af1eadec' },
    license: 'CC BY 4.0',
  },
  chestmnist: {
    labels: ['atelectasis', 'cardiomegaly', 'effusion', 'infiltration', 'mass', 'nodule', 'pneumonia', 'pneumothorax', 'consolidation', 'edema', 'emphysema', 'fibrosis', 'pleural', 'hernia'],
    multiLabel: true,
    channels: 1,
    md5: { 28: '02c8a6516a18b556561a56cbdd36c4a8', 64: '9de6cd0b934ebb5b7426cfba5efbae16', 128: 'db107e5590b27930b62dbaf558aebee3', 224: '45bd33e6f06c3e8cdb481c74a89152aa' },
    license: 'CC BY 4.0',
  },
  dermamnist: {
    labels: ['actinic keratoses and intraepithelial carcinoma', 'basal cell carcinoma', 'benign keratosis-like lesions', 'dermatofibroma', 'melanoma', 'melanocytic nevi', 'vascular lesions'],
    channels: 3,
    md5: { 28: '0744692d530f8e62ec473284d019b0c7', 64: 'b70a2f5635c6199aeaa28c31d7202e1f', 128: '2defd784463fa5243564e855ed717de1', 224: '8974907d8e169bef5f5b96bc506ae45d' },
    license: 'CC BY-NC 4.0',
  },
  octmnist: {
    labels: ['choroidal neovascularization', 'diabetic macular edema', 'drusen', 'normal'],
    normalClasses: [3],
    channels: 1,
    md5: { 28: 'c68d92d5b585d8d81f7112f81e2d0842', 64: 'e229e9440236b774d9f0dfef9d07bdaf', 128: '0a97e76651ace45c5d943ee3f65b63ae', 224: 'abc493b6d529d5de7569faaef2773ba3' },
    license: 'CC BY 4.0',
  },
  pneumoniamnist: {
    labels: ['normal', 'pneumonia'],
    normalClasses: [0],
    channels: 1,
    md5: { 28: '28209eda62fecd6e6a2d98b1501bb15f', 64: '8f4eceb4ccffa70c672198ea285246c6', 128: '05b46931834c231683c68f40c47b2971', 224: 'd6a3c71de1b945ea11211b03746c1fe1' },
    license: 'CC BY 4.0',
  },
  retinamnist: {
    labels: ['0', '1', '2', '3', '4'],
    normalClasses: [0],
    channels: 3,
    md5: { 28: 'bd4c0672f1bba3e3a89f0e4e876791e4', 64: 'afda852cc34dcda56f86ad2b2457dbcc', 128: 'e48e916a24454daf90583d4e6efb1a18', 224: 'eae7e3b6f3fcbda4ae613ebdcbe35348' },
    license: 'CC BY 4.0',
  },
  breastmnist: {
    labels: ['malignant', 'normal, benign'],
    normalClasses: [1],
    channels: 1,
    md5: { 28: '750601b1f35ba3300ea97c75c52ff8f6', 64: '742edef2a1fd1524b2efff4bd7ba9364', 128: '363e4b3f8d712e9b5de15470a2aaadf1', 224: 'b56378a6eefa9fed602bb16d192d4c8b' },
    license: 'CC BY 4.0',
  },
  bloodmnist: {
    labels: ['basophil', 'eosinophil', 'erythroblast', 'immature granulocytes(myelocytes, metamyelocytes and promyelocytes)', 'lymphocyte', 'monocyte', 'neutrophil', 'platelet'],
    channels: 3,
    md5: { 28: '7053d0359d879ad8a5505303e11de1dc', 64: '2b94928a2ae4916078ca51e05b6b800b', 128: 'adace1e0ed228fccda1f39692059dd4c', 224: 'b718ff6835fcbdb22ba9eacccd7b2601' },
    license: 'CC BY 4.0',
  },
  tissuemnist: {
    labels: ['Collecting Duct, Connecting Tubule', 'Distal Convoluted Tubule', 'Glomerular endothelial cells', 'Interstitial endothelial cells', 'Leukocytes', 'Podocytes', 'Proximal Tubule Segments', 'Thick Ascending Limb'],
    channels: 1,
    md5: { 28: 'ebe78ee8b05294063de985d821c1c34b', 64: '123ece2eba09d0aa5d698fda57103344', 128: '61b955355d7425a89687b06cca3ce0c2', 224: 'b077128c4a949f0a4eb01517f9037b9c' },
    license: 'CC BY 4.0',
  },
  organamnist: {
    labels: ORGANS(),
    channels: 1,
    md5: { 28: '68e3f8846a6bd62f0c9bf841c0d9eacc', 64: '2dcccc29b88e6da5a01161ef20cda288', 128: 'eeae80d0a227a8d099027e1b3cfd3b60', 224: '50747347e05c87dd3aaf92c49f9f3170' },
    license: 'CC BY 4.0',
  },
  organcmnist: {
    labels: ORGANS(),
    channels: 1,
    md5: { 28: 'b9ceb9546e10131b32923c5bbeaea2b1', 64: '3ce34a8724ea6f548e6db4744d03b6a9', 128: '773c1f009daa3fe5d9a2a201b2a7ed94', 224: '050f5e875dc056f6768abf94ec9995d1' },
    license: 'CC BY 4.0',
  },
  organsmnist: {
    labels: ORGANS(),
    channels: 1,
    md5: { 28: '9ab87b696fb54e2a387ebe992d6ed5f1', 64: '53a6d115339d874c25e309a994ff46d3', 128: 'ded0c5fa01a95dc4978b956f613e9b8e', 224: 'b354719e553fbbb2513d5533f52a4cb1' },
    license: 'CC BY 4.0',
  },
};

function ORGANS(): string[] {
  return ['bladder', 'femur-left', 'femur-right', 'heart', 'kidney-left', 'kidney-right', 'liver', 'lung-left', 'lung-right', 'pancreas', 'spleen'];
}

/** The asset-cache entry of a MedMNIST file: `data/medmnist/<name>[_<size>].npz`, its Zenodo URL and MD5. */
export function medmnistAsset(name: string, size: MedmnistSize = 28): AssetFile {
  const info = MEDMNIST_INFO[name];
  if (!info) throw new Error(`medmnist: unknown dataset "${name}"; known: ${Object.keys(MEDMNIST_INFO).join(', ')} (or pass a path to a .npz file)`);
  if (!(size in info.md5)) throw new Error(`medmnist: size ${size} is not published; use 28, 64, 128 or 224`);
  const file = size === 28 ? `${name}.npz` : `${name}_${size}.npz`;
  return { path: `data/medmnist/${file}`, url: `${RECORD}/${file}?download=1`, md5: info.md5[size], license: info.license };
}

export interface MedmnistDatasetOptions {
  split: 'train' | 'val' | 'test';
  /** Published image size to fetch (default 28); only for names, a path is used as it is. */
  imageSize?: MedmnistSize;
  /** Label values that are normal (default: the table in `MEDMNIST_INFO`; required where it has none). */
  normalClasses?: number[];
  /** Asset-cache options (home, download, verify, fetch). */
  asset?: ResolveAssetOptions;
}

/**
 * A MedMNIST split from its `.npz` (`<split>_images` uint8 N×H×W or N×H×W×3, `<split>_labels`).
 * A name (`pneumoniamnist`) resolves through the asset cache (`data/medmnist/<name>.npz`,
 * downloaded from Zenodo with its MD5 when missing); a path is read as is. The split's arrays are
 * held in memory (28 px files are a few MB; a 224 px file of a large dataset is not small).
 */
export async function medmnistDataset(nameOrPath: string, options: MedmnistDatasetOptions): Promise<ImageDataset> {
  const split = options.split;
  if (split !== 'train' && split !== 'val' && split !== 'test') throw new Error(`medmnistDataset: split must be "train", "val" or "test", got ${JSON.stringify(split)}`);
  const isPath = nameOrPath.endsWith('.npz') || nameOrPath.includes('/') || nameOrPath.includes('\\');
  let path: string;
  let name: string;
  if (isPath) {
    path = nameOrPath;
    name = basename(nameOrPath).replace(/\.npz$/, '').replace(/_(64|128|224)$/, '');
  } else {
    name = nameOrPath.toLowerCase();
    path = await resolveAsset(medmnistAsset(name, options.imageSize ?? 28), options.asset);
  }
  const info = MEDMNIST_INFO[name];
  const imagesName = `${split}_images`;
  const labelsName = `${split}_labels`;
  const npz = await readNpz(path, [imagesName, labelsName]);
  const images = npz.arrays.get(imagesName);
  const labels = npz.arrays.get(labelsName);
  if (!images || !labels) {
    const missing = [!images ? imagesName : undefined, !labels ? labelsName : undefined].filter(Boolean).join(' and ');
    throw new Error(`medmnistDataset: ${path} has no ${missing} array, so it has no "${split}" split (arrays present: ${npz.names.join(', ') || 'none'})`);
  }
  const n = images.shape[0] ?? 0;
  if (!(images.data instanceof Uint8Array) || (images.shape.length !== 3 && !(images.shape.length === 4 && (images.shape[3] === 3 || images.shape[3] === 1)))) {
    throw new Error(`medmnistDataset: ${path}:${imagesName} is ${images.dtype} (${images.shape.join(', ')}); expected uint8 N×H×W or N×H×W×3`);
  }
  if ((labels.shape[0] ?? -1) !== n) throw new Error(`medmnistDataset: ${path} has ${n} ${split} images but ${labels.shape[0] ?? 0} labels`);
  const normalClasses = options.normalClasses ?? info?.normalClasses;
  const multiLabel = info?.multiLabel ?? false;
  if (!normalClasses && !multiLabel) {
    throw new Error(
      `medmnistDataset: ${info ? `${name} has no normal class in the MedMNIST docs` : `${name} is not a known MedMNIST dataset`}; pass normalClasses (label values that are normal${info ? `: ${info.labels.map((l, i) => `${i} ${l}`).join(', ')}` : ''})${name === 'dermamnist' ? '; the ISIC 2018 convention is [5], melanocytic nevi' : ''}`,
    );
  }
  const perImage = labels.shape.slice(1).reduce((a, d) => a * d, 1);
  const items: ImageItem[] = [];
  for (let i = 0; i < n; i++) {
    let label: Label;
    let className: string;
    if (multiLabel && !options.normalClasses) {
      const set: string[] = [];
      for (let k = 0; k < perImage; k++) if (labels.data[i * perImage + k]! > 0) set.push(info?.labels[k] ?? String(k));
      label = set.length === 0 ? 0 : 1;
      className = set.length === 0 ? 'no finding' : set.join('|');
    } else {
      const value = Number(labels.data[i * perImage]!);
      label = normalClasses!.includes(value) ? 0 : 1;
      className = info?.labels[value] ?? String(value);
    }
    items.push({ id: `${name}/${split}/${i}`, label, className, source: { kind: 'array', file: path, array: imagesName, index: i } });
  }
  return {
    name: `${name}/${split}`,
    items,
    skipped: [],
    skipInvalid: false,
    load: (item, loadOptions) => Promise.resolve(loadArrayItem(item, images, loadOptions)),
  };
}

function loadArrayItem(item: ImageItem, images: NpyArray, options: Parameters<ImageDataset['load']>[1]): ReturnType<typeof toDecodedImage> {
  const src = item.source;
  if (src.kind !== 'array') throw new InvalidImageError(item.id, `this dataset loads .npz arrays, but the item's source is a ${src.kind}`);
  const [n, h, w] = images.shape as [number, number, number];
  const c = images.shape.length === 4 ? images.shape[3]! : 1;
  if (!Number.isInteger(src.index) || src.index < 0 || src.index >= n) throw new InvalidImageError(`${src.file}:${src.array}`, `index ${src.index} is outside 0..${n - 1}`);
  const per = h * w * c;
  const data = (images.data as Uint8Array).subarray(src.index * per, (src.index + 1) * per);
  return toDecodedImage(item, { width: w, height: h, channels: c === 3 ? 3 : 1, data, scale: 1 / 255 }, options);
}
