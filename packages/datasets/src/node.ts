// `@aeflow/datasets/node`: datasets read from folders and files, decoding with sharp, NIfTI and
// NPZ files, the skip report (Node). Everything browser-safe is in `@aeflow/datasets`.
export { writeSkipReport } from './skip-report.js';
export { decodeImageFile, decodeImageBytes, IMAGE_EXTENSIONS } from './decode.js';
export { readNiftiVolume } from './nifti.js';
export type { Volume } from './nifti.js';
export { readNpz } from './npz-file.js';
export { folderDataset, chestXrayDataset, oct2017Dataset, filesDataset } from './folder.js';
export type { FolderDatasetOptions, FilesDatasetOptions } from './folder.js';
export { isic2018Dataset } from './isic.js';
export type { Isic2018Options } from './isic.js';
export { brats2021Dataset } from './brats.js';
export type { Brats2021Options, BratsModality } from './brats.js';
export { medmnistDataset, medmnistAsset, MEDMNIST_INFO } from './medmnist.js';
export type { MedmnistDatasetOptions, MedmnistInfo, MedmnistSize } from './medmnist.js';

// The dataset kinds the CLIs and scripts open by name (`--dataset`), and the training /
// validation / final split policy of a training run.
export { openData, folderSplits, classFolders, DataError, DATASET_KINDS } from './kinds.js';
export type { OpenDataOptions } from './kinds.js';
export { trainingData } from './training-data.js';
export type { Part, TrainingData, TrainingDataOptions } from './training-data.js';
